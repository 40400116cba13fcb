#if canImport(Glibc)
    import Glibc
#endif
import CLinux

/// An IPv4 or IPv6 socket address with a port.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// The host as text ("127.0.0.1", "::1").
    public var host: String
    /// The port.
    public var port: UInt16

    /// Creates an address.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[V6HOST]:PORT`.
    public init?(parsing text: String) {
        var hostPart: Substring
        var portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = UInt16(portPart) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    var isIPv6: Bool { host.contains(":") }

    /// Calls `body` with a `sockaddr` for this address.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        if isIPv6 {
            var a = sockaddr_in6()
            guard clinux_scoped_sockaddr6(host, port, &a) == 0 else { throw SystemError("inet_pton(\(host))", EINVAL) }
            return try withUnsafePointer(to: &a) { try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { throw SystemError("inet_pton(\(host))", EINVAL) }
        return try withUnsafePointer(to: &a) { try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }

    /// The address in a `sockaddr_storage`.
    static func from(_ storage: sockaddr_storage) -> SocketAddress? {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                    var addr = p.pointee.sin_addr
                    var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    guard inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
                    return SocketAddress(host: cText(buf), port: UInt16(bigEndian: p.pointee.sin_port))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    var addr = p.pointee.sin6_addr
                    var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                    guard inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
                    return SocketAddress(host: cText(buf), port: UInt16(bigEndian: p.pointee.sin6_port))
                }
            }
        default: return nil
        }
    }
}

/// Thin non-blocking socket calls.
public enum Socket {
    static func setNonBlocking(_ fd: Int32) throws {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SystemError("fcntl(O_NONBLOCK)") }
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening TCP socket (SO_REUSEADDR, non-blocking).
    static func listen(_ address: SocketAddress, backlog: Int32 = 128) throws -> Int32 {
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        do {
            try address.withSockaddr { sa, len in
                guard bind(fd, sa, len) == 0 else { throw SystemError("bind(\(address))") }
            }
            guard Glibc.listen(fd, backlog) == 0 else { throw SystemError("listen") }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The local address of a bound socket.
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return ok == 0 ? SocketAddress.from(storage) : nil
    }

    /// Accepts one connection, or nil when none is pending.
    static func accept(_ fd: Int32) throws -> (Int32, SocketAddress?)? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let c = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { clinux_accept_nonblocking(fd, $0, &len) }
        }
        if c < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED { return nil }
            throw SystemError("accept4")
        }
        setOption(c, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        return (c, SocketAddress.from(storage))
    }

    /// Starts a non-blocking connect; completion is signalled by EPOLLOUT (check ``pendingError``).
    static func connect(_ address: SocketAddress) throws -> Int32 {
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        do {
            try address.withSockaddr { sa, len in
                if Glibc.connect(fd, sa, len) != 0 && errno != EINPROGRESS { throw SystemError("connect(\(address))") }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// A blocking TCP connection (for command-line clients such as `lattice watch`).
    public static func connectBlocking(_ address: SocketAddress) throws -> Int32 {
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        do {
            try address.withSockaddr { sa, len in
                if Glibc.connect(fd, sa, len) != 0 { throw SystemError("connect(\(address))") }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The socket's pending error (SO_ERROR), 0 when connected.
    static func pendingError(_ fd: Int32) -> Int32 {
        var e: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len)
        return e
    }
}

/// A NUL-terminated C buffer as a String.
func cText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
