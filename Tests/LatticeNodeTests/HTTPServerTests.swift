import Foundation
import Glibc
import LatticeNode
import Testing

/// The local HTTP server over real loopback sockets: authentication, keep-alive, pipelining,
/// and hostile clients (oversized headers, half-sent requests left idle, too many connections).
@Suite("HTTP server", .serialized)
struct HTTPServerTests {
    final class Running: @unchecked Sendable {
        let loop: EventLoop
        var server: HTTPServer!
        var thread: Thread!
        init(_ configure: (inout HTTPServer.Options) -> Void, handler: HTTPServer.Handler? = nil) throws {
            loop = try EventLoop()
            var options = HTTPServer.Options(token: "s3cret-token")
            options.address = SocketAddress(host: "127.0.0.1", port: 0)
            configure(&options)
            server = try HTTPServer(options: options, loop: loop, log: NodeLog(level: .error)) { request in
                if let handler { return handler(request) }
                return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("you asked for \(request.target) with \(request.body.count) bytes".utf8))
            }
            let loop = self.loop
            thread = Thread { loop.run() }
            thread.start()
        }
        var port: UInt16 { server.address?.port ?? 0 }
        func stop() {
            let loop = self.loop
            let server = self.server!
            loop.post { server.close() }
            loop.stop()
            while !thread.isFinished { usleep(1_000) }
        }
    }

    /// A blocking client socket with a 5 s receive timeout.
    struct Client {
        let fd: Int32
        init(port: UInt16) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { throw POSIXError(.ECONNREFUSED) }
        }
        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        /// Everything until the server closes (or 5 s pass).
        func readToEnd() -> String {
            var out: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                out += buffer[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
        /// Reads `count` responses (head + Content-Length body).
        func responses(_ count: Int) -> [(status: Int, head: String, body: String)] {
            var data: [UInt8] = []
            var out: [(Int, String, String)] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while out.count < count {
                if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                    let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    if data.count - end.upperBound >= length {
                        let body = String(decoding: data[end.upperBound..<(end.upperBound + length)], as: UTF8.self)
                        let status = Int(head.split(separator: " ")[1]) ?? 0
                        out.append((status, head, body))
                        data.removeFirst(end.upperBound + length)
                        continue
                    }
                }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                data += buffer[0..<n]
            }
            return out
        }
        func close() { Glibc.close(fd) }
    }

    @Test func authenticatedKeepAliveAndPipelinedRequests() throws {
        let s = try Running { _ in }
        defer { s.stop() }
        let c = try Client(port: s.port)
        defer { c.close() }
        c.send("GET /v1/status HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n")
        let first = c.responses(1)
        #expect(first.first?.status == 200 && first.first?.body == "you asked for /v1/status with 0 bytes")
        // The same connection, three pipelined requests in one write, answered in order.
        c.send("POST /a HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /b HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n"
            + "GET /c HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\r\n")
        let rest = c.responses(3)
        #expect(rest.map(\.status) == [200, 401, 200])
        #expect(rest.first?.body == "you asked for /a with 3 bytes")
        #expect(rest[1].body.contains("\"error\": \"unauthorized\"") && rest[1].head.contains("WWW-Authenticate"))
        #expect(rest.last?.head.contains("Connection: close") == true)
        #expect(c.readToEnd().isEmpty)  // closed after the Connection: close response
    }

    /// Deferred answers (a write answered once durable): later pipelined requests are served at
    /// once but answered after it, in request order; HEAD and Connection: close still hold;
    /// reading pauses while too many answers wait.
    @Test func deferredAnswersKeepThePipelinesOrder() throws {
        final class Held: @unchecked Sendable {  // the loop thread writes; the test reads after a semaphore
            var list: [(String, HTTPDeferredResponse)] = []
            var seen: [String] = []
        }
        let held = Held()
        let s = try Running({ $0.maxPendingAnswers = 4 }) { request in
            guard request.path.hasPrefix("/later") else { return HTTPResponse(status: 200, body: Array("now \(request.path)".utf8)) }
            let d = HTTPDeferredResponse()
            held.list.append((String(request.path), d))
            var r = HTTPResponse(status: 202)
            r.deferred = d
            return r
        }
        defer { s.stop() }
        let loop = s.loop
        let c = try Client(port: s.port)
        defer { c.close() }
        let auth = "Authorization: Bearer s3cret-token\r\n"
        c.send("POST /later1 HTTP/1.1\r\n\(auth)\r\nGET /now2 HTTP/1.1\r\n\(auth)\r\nHEAD /later3 HTTP/1.1\r\n\(auth)\r\nGET /now4 HTTP/1.1\r\n\(auth)\r\n")
        usleep(100_000)
        // Nothing is answered while the first answer waits, yet every request was handled.
        let sem = DispatchSemaphore(value: 0)
        loop.post {
            held.seen = held.list.map(\.0)
            sem.signal()
        }
        sem.wait()
        #expect(held.seen == ["/later1", "/later3"])
        // The second deferred answer first: still nothing may leave before the first.
        loop.post {
            held.list[1].1.resolve(HTTPResponse(status: 200, body: Array("done /later3".utf8)))
            held.list[0].1.resolve(HTTPResponse(status: 201, body: Array("done /later1".utf8)))
        }
        let answers = c.responses(4)
        #expect(answers.map(\.status) == [201, 200, 200, 200])
        #expect(answers.map(\.body) == ["done /later1", "now /now2", "", "now /now4"])
        #expect(answers[2].head.hasPrefix("HTTP/1.1 200"))  // HEAD: the status and headers, no body

        // A pipeline longer than maxPendingAnswers behind a waiting answer: reading pauses at
        // the limit and resumes as answers leave; Connection: close ends it in order.
        c.send("POST /later5 HTTP/1.1\r\n\(auth)\r\n" + (6..<12).map { "GET /now\($0) HTTP/1.1\r\n\(auth)\r\n" }.joined()
            + "GET /now12 HTTP/1.1\r\n\(auth)Connection: close\r\n\r\n")
        usleep(100_000)
        loop.post { held.list[2].1.resolve(HTTPResponse(status: 200, body: Array("done /later5".utf8))) }
        let rest = c.responses(8)
        #expect(rest.map(\.body) == ["done /later5"] + (6...12).map { "now /now\($0)" })
        #expect(rest.last?.head.contains("Connection: close") == true)
        #expect(c.readToEnd().isEmpty)
    }

    @Test func missingTokenIsRefusedUnlessThePathIsPublic() throws {
        let s = try Running { $0.publicPaths = ["/"] }
        defer { s.stop() }
        let c = try Client(port: s.port)
        defer { c.close() }
        c.send("GET /v1/docs HTTP/1.1\r\n\r\nGET /?x=1 HTTP/1.1\r\n\r\n")
        #expect(c.responses(2).map(\.status) == [401, 200])
    }

    @Test func malformedAndOversizedRequestsGetAStatusAndAClose() throws {
        let s = try Running { $0.limits.headerBytes = 256 }
        defer { s.stop() }
        for (text, status) in [
            ("GET / HTTP/1.1\r\nX: " + String(repeating: "y", count: 400) + "\r\n\r\n", "431"),
            ("NOT HTTP AT ALL\r\n\r\n", "400"),
            ("GET / HTTP/3\r\n\r\n", "505"),
        ] {
            let c = try Client(port: s.port)
            c.send(text)
            let reply = c.readToEnd()  // the server answers, then closes
            #expect(reply.hasPrefix("HTTP/1.1 \(status) "), "\(reply.prefix(80))")
            #expect(reply.contains("Connection: close"))
            c.close()
        }
    }

    @Test func aHalfSentRequestIsTimedOut() throws {
        let s = try Running { $0.requestTimeout = 300 }
        defer { s.stop() }
        let c = try Client(port: s.port)
        defer { c.close() }
        c.send("GET /slow HTTP/1.1\r\nAuthorization: Bearer s3")
        let reply = c.readToEnd()
        #expect(reply.hasPrefix("HTTP/1.1 408 "), "\(reply.prefix(80))")
    }

    @Test func connectionsBeyondTheLimitAreTurnedAway() throws {
        let s = try Running { $0.maxConnections = 2 }
        defer { s.stop() }
        let a = try Client(port: s.port)
        let b = try Client(port: s.port)
        defer {
            a.close()
            b.close()
        }
        // Make sure both were accepted before the third arrives.
        a.send("GET /1 HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n")
        b.send("GET /2 HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n")
        #expect(a.responses(1).first?.status == 200 && b.responses(1).first?.status == 200)
        let third = try Client(port: s.port)
        defer { third.close() }
        #expect(third.readToEnd().hasPrefix("HTTP/1.1 503 "))
    }

    /// The open end of a streamed response, handed from the loop to the test.
    final class StreamBox: @unchecked Sendable {
        var stream: HTTPStream?
        var closed = false
    }

    /// A streamed response (server-sent events): head without Content-Length, data pushed
    /// later from the loop, the end when the server closes it; the connection serves nothing
    /// else and is not closed as idle.
    @Test func streamedResponsesPushDataUntilClosed() throws {
        let box = StreamBox()
        let running = try Running({ $0.idleTimeout = 1_000 }) { _ in
            var r = HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")], body: Array("first\n".utf8))
            r.stream = { stream in
                box.stream = stream
                stream.onClose = { box.closed = true }
            }
            return r
        }
        defer { running.stop() }
        let client = try Client(port: running.port)
        defer { close(client.fd) }
        client.send("GET /events HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\nGET /again HTTP/1.1\r\n\r\n")
        // Longer than the idle timeout: a stream is kept.
        usleep(2_500_000)
        running.loop.post {
            box.stream?.send(Array("second\n".utf8))
            box.stream?.close()
        }
        let all = client.readToEnd()
        #expect(all.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(!all.contains("Content-Length"))
        #expect(all.contains("Connection: close"))
        #expect(all.hasSuffix("\r\n\r\nfirst\nsecond\n"))
        #expect(!all.contains("/again"))  // the pipelined request was not served
        usleep(100_000)
        #expect(box.closed)
    }

    @Test func aClientThatLeavesEndsItsStream() throws {
        let box = StreamBox()
        let running = try Running({ _ in }) { _ in
            var r = HTTPResponse(status: 200)
            r.stream = { stream in
                box.stream = stream
                stream.onClose = { box.closed = true }
            }
            return r
        }
        defer { running.stop() }
        let client = try Client(port: running.port)
        client.send("GET /events HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n")
        usleep(200_000)
        #expect(box.stream?.isOpen == true)
        close(client.fd)
        var waited = 0
        while !box.closed && waited < 50 {
            usleep(100_000)
            waited += 1
        }
        #expect(box.closed)
        #expect(box.stream?.isOpen == false)
        #expect(running.server.connectionCount == 0)
    }

    /// A client reading a large answer slowly is not idle: it gets every byte, even when the
    /// transfer outlasts the idle timeout.
    @Test func aSlowReaderOfALargeAnswerIsNotCutOff() throws {
        let big = [UInt8](repeating: 0x61, count: 8 << 20)
        let running = try Running({ $0.idleTimeout = 1_000 }) { _ in HTTPResponse(status: 200, body: big) }
        defer { running.stop() }
        let client = try Client(port: running.port)
        defer { close(client.fd) }
        var size: Int32 = 16_384
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        client.send("GET /big HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\r\n")
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        let start = Date()
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            total += n
            usleep(20_000)  // ~12 MB/s at most: the 8 MiB take longer than the 1 s idle timeout
        }
        #expect(Date().timeIntervalSince(start) > 1.2)
        #expect(total > 8 << 20, "got \(total) bytes")
    }

    /// Streams may take only `maxStreams` connections: the next stream is turned away, an
    /// ordinary request is still served.
    @Test func streamsCannotTakeEveryConnection() throws {
        let running = try Running({ $0.maxStreams = 2 }) { request in
            guard request.path == "/events" else { return HTTPResponse(status: 200, body: Array("plain".utf8)) }
            var r = HTTPResponse(status: 200)
            r.stream = { _ in }
            return r
        }
        defer { running.stop() }
        let streams = try (0..<2).map { _ in try Client(port: running.port) }
        defer { for c in streams { close(c.fd) } }
        for c in streams { c.send("GET /events HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n") }
        usleep(200_000)
        let third = try Client(port: running.port)
        defer { close(third.fd) }
        third.send("GET /events HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n")
        #expect(third.readToEnd().hasPrefix("HTTP/1.1 503 "))
        let plain = try Client(port: running.port)
        defer { close(plain.fd) }
        plain.send("GET /x HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\r\n")
        #expect(plain.readToEnd().hasSuffix("plain"))
        #expect(running.server.streamCount == 2)
    }
}
