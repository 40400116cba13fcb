#if canImport(Glibc)
    import Glibc
#endif
import CLinux

/// The local control channel: a Unix socket (mode 0600) in the data directory through which
/// the CLI runs commands inside the running node. One request per connection: the client
/// writes its request and shuts down writing; the node answers and closes. The bytes are
/// opaque here (the CLI defines them); a request is capped at 16 MiB.
final class ControlServer {
    static let maxRequest = 16 << 20
    let path: String
    private let fd: Int32
    private unowned let loop: EventLoop
    private let handler: ([UInt8]) -> [UInt8]
    private var clients: [Int32: [UInt8]] = [:]

    init(path: String, loop: EventLoop, handler: @escaping ([UInt8]) -> [UInt8]) throws {
        self.path = path
        self.loop = loop
        self.handler = handler
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw SystemError("control socket path too long: \(path)", ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let old = umask(0o177)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let e = SystemError("bind(\(path))")
            Glibc.close(fd)
            throw e
        }
        chmod(path, 0o600)
        try loop.register(fd, events: UInt32(EPOLLIN.rawValue)) { [unowned self] _ in self.acceptAll() }
    }

    func close() {
        loop.unregister(fd)
        Glibc.close(fd)
        for c in clients.keys {
            loop.unregister(c)
            Glibc.close(c)
        }
        clients = [:]
        unlink(path)
    }

    private func acceptAll() {
        while true {
            let c = clinux_accept_nonblocking(fd, nil, nil)
            guard c >= 0 else { return }
            clients[c] = []
            do {
                try loop.register(c, events: UInt32(EPOLLIN.rawValue)) { [unowned self] _ in self.readable(c) }
            } catch {
                Glibc.close(c)
                clients[c] = nil
            }
        }
    }

    private func readable(_ c: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(c, $0.baseAddress, $0.count) }
            if n > 0 {
                clients[c, default: []] += buffer[0..<n]
                if clients[c, default: []].count > Self.maxRequest { return finish(c, nil) }
                continue
            }
            if n == 0 { return finish(c, clients[c] ?? []) }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }
            if errno == EINTR { continue }
            return finish(c, nil)
        }
    }

    private func finish(_ c: Int32, _ request: [UInt8]?) {
        loop.unregister(c)
        clients[c] = nil
        if let request {
            let reply = handler(request)
            // Blocking write of the reply: the client is local and waiting for it.
            let flags = fcntl(c, F_GETFL)
            _ = fcntl(c, F_SETFL, flags & ~O_NONBLOCK)
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            _ = setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var offset = 0
            while offset < reply.count {
                let n = reply.withUnsafeBytes { send(c, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                offset += n
            }
        }
        Glibc.close(c)
    }
}
