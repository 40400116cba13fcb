#if canImport(Glibc)
    import Glibc
#endif
import CLinux

/// The local HTTP/1.1 server, on the node's event loop: keep-alive, pipelining, bearer-token
/// authentication compared in constant time, and limits on everything a client controls —
/// request size (``HTTPLimits``), concurrent connections, idle time, time to finish a started
/// request, and response bytes queued for a client that does not read.
public final class HTTPServer: @unchecked Sendable {  // confined to its loop thread; close() via loop.post
    /// How the server runs.
    public struct Options: Sendable {
        /// Where to listen (loopback unless the operator asked otherwise).
        public var address = SocketAddress(host: "127.0.0.1", port: 7947)
        /// The bearer token every request must carry (`Authorization: Bearer TOKEN`).
        public var token: String
        /// Paths served without a token (the status page's HTML shell, for example).
        public var publicPaths: Set<String> = []
        public var limits = HTTPLimits()
        /// Connections served at once; one more is answered 503 and closed.
        public var maxConnections = 64
        /// Of those, at most this many streamed responses (server-sent events): the rest stay
        /// free for ordinary requests (the status page, the CLI's tools).
        public var maxStreams = 32
        /// A keep-alive connection with nothing to do is closed after this many ms.
        public var idleTimeout: UInt64 = 60_000
        /// A request that has started arriving must be complete within this many ms (else 408).
        public var requestTimeout: UInt64 = 10_000
        /// Reading from a client pauses while this many response bytes wait for it.
        public var maxQueuedResponse = 4 << 20
        /// Reading from a client also pauses while this many of its answers wait for their
        /// turn (deferred answers — writes waiting to be durable — and those pipelined after).
        public var maxPendingAnswers = 1_024

        public init(token: String) { self.token = token }
    }

    /// Answers one authenticated request (on the loop thread).
    public typealias Handler = (HTTPRequest) -> HTTPResponse

    final class Connection {
        let fd: Int32
        var parser: HTTPRequestParser
        var output: [UInt8] = []
        var written = 0
        var closeAfterWrite = false
        /// The last read, or write that made progress: a connection with no progress for the
        /// idle timeout is closed (a client reading a large answer slowly is not idle).
        var lastActivity: UInt64
        var requestStarted: UInt64?
        var reading = true
        /// Set once a streamed response started: the connection serves nothing else.
        var stream: HTTPStream?
        /// Answers waiting behind a deferred one, in request order (empty: answers go straight
        /// to `output`).
        var pending: [PendingAnswer] = []
        /// A request asked to close (or failed to parse): no further request is read.
        var closing = false
        init(fd: Int32, limits: HTTPLimits, now: UInt64) {
            self.fd = fd
            parser = HTTPRequestParser(limits: limits)
            lastActivity = now
        }
    }

    /// An answer queued behind a deferred one.
    enum PendingAnswer {
        case ready([UInt8], close: Bool)
        case deferred(HTTPDeferredResponse, keepAlive: Bool, head: Bool)
    }

    public let options: Options
    /// The bound address (port 0 resolved).
    public private(set) var address: SocketAddress?
    private let loop: EventLoop
    private let handler: Handler
    private let log: NodeLog
    private var listener: Int32 = -1
    private var connections: [Int32: Connection] = [:]
    private let expected: [UInt8]
    private var closed = false
    /// Requests refused, by status (for metrics and tests).
    public private(set) var refusals: [Int: Int] = [:]

    /// Binds the listener and starts serving on `loop`.
    public init(options: Options, loop: EventLoop, log: NodeLog, handler: @escaping Handler) throws {
        self.options = options
        self.loop = loop
        self.log = log
        self.handler = handler
        expected = Array("Bearer \(options.token)".utf8)
        listener = try Socket.listen(options.address)
        address = Socket.localAddress(listener)
        try loop.register(listener, events: UInt32(EPOLLIN.rawValue)) { [unowned self] _ in self.acceptAll() }
        scheduleSweep()
    }

    /// Stops listening and closes every connection.
    public func close() {
        guard !closed else { return }
        closed = true
        loop.unregister(listener)
        Glibc.close(listener)
        for fd in Array(connections.keys) { drop(fd) }
    }

    /// Open connections.
    public var connectionCount: Int { connections.count }

    /// Connections serving a streamed response.
    public var streamCount: Int { connections.values.reduce(0) { $0 + ($1.stream == nil ? 0 : 1) } }

    // MARK: Connections

    private func acceptAll() {
        while !closed {
            let accepted: (Int32, SocketAddress?)?
            do { accepted = try Socket.accept(listener) } catch {
                log.warn("http-accept", ["error": .string("\(error)")])
                return
            }
            guard let (fd, _) = accepted else { return }
            let now = EventLoop.now()
            if connections.count >= options.maxConnections {
                count(503)
                let bytes = HTTPResponse.error(503, code: "busy", message: "too many connections; retry later").serialized(keepAlive: false)
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                Glibc.close(fd)
                continue
            }
            let c = Connection(fd: fd, limits: options.limits, now: now)
            connections[fd] = c
            do {
                try loop.register(fd, events: UInt32(EPOLLIN.rawValue)) { [unowned self] bits in self.ready(fd, bits) }
            } catch {
                connections[fd] = nil
                Glibc.close(fd)
            }
        }
    }

    private func ready(_ fd: Int32, _ bits: UInt32) {
        guard let c = connections[fd] else { return }
        if bits & UInt32(EPOLLOUT.rawValue) != 0 {
            flush(c)
            // Reading resumed after backpressure: answer what was already buffered.
            if connections[fd] != nil, c.reading, c.parser.buffered > 0 { serve(c) }
        }
        guard connections[fd] != nil else { return }
        if bits & (UInt32(EPOLLIN.rawValue) | UInt32(EPOLLHUP.rawValue) | UInt32(EPOLLERR.rawValue)) != 0, c.reading { readAll(c) }
    }

    private func readAll(_ c: Connection) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while connections[c.fd] != nil, c.reading, !c.closeAfterWrite {
            let n = buffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 {
                drop(c.fd)
                return
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
                drop(c.fd)
                return
            }
            let now = EventLoop.now()
            c.lastActivity = now
            if c.requestStarted == nil { c.requestStarted = now }
            if c.stream != nil { continue }  // a streaming client has nothing more to say
            c.parser.feed(buffer[0..<n])
            serve(c)
        }
    }

    /// Answers every complete request buffered, in order (pipelining).
    private func serve(_ c: Connection) {
        while !c.closeAfterWrite, !c.closing, c.reading, c.stream == nil, connections[c.fd] != nil {
            let request: HTTPRequest
            do {
                guard let r = try c.parser.next() else { break }
                request = r
            } catch {
                count(error.status)
                respond(c, HTTPResponse.error(error.status, code: "bad_request", message: error.message), keepAlive: false)
                break
            }
            c.requestStarted = c.parser.buffered > 0 ? EventLoop.now() : nil
            let response: HTTPResponse
            if options.publicPaths.contains(String(request.path)) || authorized(request) {
                response = handler(request)
            } else {
                count(401)
                var r = HTTPResponse.error(401, code: "unauthorized", message: "missing or wrong bearer token (Authorization: Bearer TOKEN; the token is in DATA/api.token)")
                r.headers.append(("WWW-Authenticate", "Bearer realm=\"lattice\""))
                response = r
            }
            if let deferred = response.deferred, response.stream == nil {
                c.pending.append(.deferred(deferred, keepAlive: request.keepAlive, head: request.method == "HEAD"))
                if !request.keepAlive { c.closing = true }
                deferred.onResolve = { [weak self, weak c] in
                    guard let self, let c, self.connections[c.fd] === c else { return }
                    self.drainPending(c)
                }
                if deferred.response != nil { drainPending(c) } else { flush(c) }
            } else if request.method == "HEAD" {
                respond(c, HTTPResponse(status: response.status, headers: response.headers), keepAlive: request.keepAlive)
            } else if response.stream != nil, streamCount >= options.maxStreams {
                count(503)
                respond(c, HTTPResponse.error(503, code: "busy", message: "too many event streams open (\(options.maxStreams)); retry later"), keepAlive: false)
            } else if let start = response.stream {
                let stream = HTTPStream(server: self, fd: c.fd)
                c.stream = stream
                c.requestStarted = nil
                respond(c, response, keepAlive: true)
                if stream.isOpen { start(stream) }
            } else {
                respond(c, response, keepAlive: request.keepAlive)
            }
        }
    }

    /// Constant-time comparison of the Authorization header with the expected value.
    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let value = request.header("authorization") else { return false }
        let given = Array(value.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    private func respond(_ c: Connection, _ response: HTTPResponse, keepAlive: Bool) {
        if !c.pending.isEmpty {
            // Behind a deferred answer: in request order.
            c.pending.append(.ready(response.serialized(keepAlive: keepAlive), close: !keepAlive))
            if !keepAlive { c.closing = true }
            flush(c)
            return
        }
        c.output += response.serialized(keepAlive: keepAlive)
        if !keepAlive { c.closeAfterWrite = true }
        flush(c)
    }

    /// Moves the answers now ready at the head of the pending queue to the output, then
    /// serves requests that waited while the queue was full.
    private func drainPending(_ c: Connection) {
        drain: while let first = c.pending.first, !c.closeAfterWrite {
            switch first {
            case .ready(let bytes, let close):
                c.output += bytes
                if close { c.closeAfterWrite = true }
            case .deferred(let d, let keepAlive, let head):
                guard var r = d.response else { break drain }
                if head { r = HTTPResponse(status: r.status, headers: r.headers) }
                c.output += r.serialized(keepAlive: keepAlive)
                if !keepAlive { c.closeAfterWrite = true }
            }
            c.pending.removeFirst()
        }
        if c.closeAfterWrite { c.pending.removeAll() }
        flush(c)
        if connections[c.fd] === c, c.reading, c.parser.buffered > 0 { serve(c) }
    }

    private func flush(_ c: Connection) {
        guard connections[c.fd] != nil else { return }
        while c.written < c.output.count {
            let n = c.output.withUnsafeBytes { p in send(c.fd, p.baseAddress! + c.written, p.count - c.written, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                drop(c.fd)
                return
            }
            c.written += n
            if n > 0 { c.lastActivity = EventLoop.now() }
        }
        if c.written == c.output.count {
            let drained = c.output.count > 0
            c.output.removeAll(keepingCapacity: true)
            c.written = 0
            if c.closeAfterWrite {
                drop(c.fd)
                return
            }
            if drained, let stream = c.stream { stream.drained() }
        }
        // Backpressure: stop reading while too much waits for this client.
        let pending = c.output.count - c.written
        c.reading = !c.closing && pending < options.maxQueuedResponse && c.pending.count < options.maxPendingAnswers
        var events = UInt32(0)
        if c.reading { events |= UInt32(EPOLLIN.rawValue) }
        if pending > 0 { events |= UInt32(EPOLLOUT.rawValue) }
        try? loop.modify(c.fd, events: events)
    }

    private func drop(_ fd: Int32) {
        guard let c = connections.removeValue(forKey: fd) else { return }
        loop.unregister(fd)
        Glibc.close(fd)
        c.stream?.ended()
    }

    // MARK: Streams

    /// Bytes queued for a streaming connection (0 once it is closed).
    func queued(_ fd: Int32) -> Int {
        guard let c = connections[fd] else { return 0 }
        return c.output.count - c.written
    }

    /// Queues bytes on a streaming connection; a client that lets more than
    /// 4 × `maxQueuedResponse` pile up is disconnected.
    func streamSend(_ fd: Int32, _ bytes: [UInt8]) {
        guard let c = connections[fd], !c.closeAfterWrite else { return }
        // Judged on what was already waiting: one large batch to a client that reads is fine.
        let waiting = c.output.count - c.written
        if waiting > 4 * options.maxQueuedResponse {
            log.warn("http-stream-dropped", ["reason": .string("client does not read"), "queued": .int(Int64(waiting))])
            drop(fd)
            return
        }
        if waiting == 0 { c.lastActivity = EventLoop.now() }  // the idle clock runs only while output waits
        c.output += bytes
        flush(c)
    }

    /// Ends a streaming response once what is queued has been written.
    func streamClose(_ fd: Int32) {
        guard let c = connections[fd] else { return }
        c.closeAfterWrite = true
        flush(c)
    }

    private func count(_ status: Int) { refusals[status, default: 0] += 1 }

    /// Once a second: a started request that is not complete within `requestTimeout` gets 408;
    /// an idle keep-alive connection is closed after `idleTimeout`.
    private func scheduleSweep() {
        loop.schedule(after: 1_000) { [weak self] in
            guard let self, !self.closed else { return }
            let now = EventLoop.now()
            for c in Array(self.connections.values) {
                if c.stream != nil {
                    // A stream is idle only while output waits unread (a client that stopped
                    // reading); otherwise its producer keeps it alive with heartbeats.
                    if c.output.count > c.written, now >= c.lastActivity + self.options.idleTimeout { self.drop(c.fd) }
                    continue
                } else if let started = c.requestStarted, now >= started + self.options.requestTimeout, !c.closeAfterWrite {
                    self.count(408)
                    self.respond(c, HTTPResponse.error(408, code: "timeout", message: "request not completed within \(self.options.requestTimeout) ms"), keepAlive: false)
                } else if now >= c.lastActivity + self.options.idleTimeout {
                    self.drop(c.fd)
                }
            }
            self.scheduleSweep()
        }
    }
}

/// The open end of a streamed response (server-sent events): confined to the server's loop.
public final class HTTPStream: @unchecked Sendable {
    private weak var server: HTTPServer?
    private let fd: Int32
    /// False once the client went away or ``close()`` finished.
    public private(set) var isOpen = true
    /// Called once (on the loop) when the connection ends, whichever side ended it.
    public var onClose: (() -> Void)?
    /// Called (on the loop) each time everything queued has been written: a paused producer
    /// resumes.
    public var onDrain: (() -> Void)?

    init(server: HTTPServer, fd: Int32) {
        self.server = server
        self.fd = fd
    }

    /// Response bytes waiting for the client: a producer pauses while this is large.
    public var queuedBytes: Int { isOpen ? server?.queued(fd) ?? 0 : 0 }

    /// Queues bytes for the client (dropped after the stream closed).
    public func send(_ bytes: [UInt8]) {
        guard isOpen else { return }
        server?.streamSend(fd, bytes)
    }

    /// Ends the response after what is queued is written.
    public func close() {
        guard isOpen else { return }
        server?.streamClose(fd)
    }

    func drained() { onDrain?() }

    func ended() {
        guard isOpen else { return }
        isOpen = false
        onDrain = nil
        let body = onClose
        onClose = nil
        body?()
    }
}
