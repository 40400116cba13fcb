import CLinux
import Foundation
import Glibc
import Testing

/// The kernel's view of a TCP stream that the node reports to the engine as stalled or flowing
/// (`Node.reportStalls`, Docs/PROTOCOL.md §5.4): `clinux_tcp_progress` reads it with TCP_INFO.
@Suite("TCP progress")
struct TCPProgressTests {
    @Test func aLoopbackStreamIsAcknowledgedAndANonSocketIsRefused() throws {
        // A listening socket on an ephemeral loopback port, a client, and the accepted end.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        try #require(bound == 0 && listen(listener, 1) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) } }
        try #require(connected == 0)
        let server = accept(listener, nil, nil)
        try #require(server >= 0)
        defer { close(server) }

        // Bytes written are acknowledged by the peer's kernel (whether or not it reads them).
        let payload = [UInt8](repeating: 0x5A, count: 10_000)
        #expect(payload.withUnsafeBytes { write(client, $0.baseAddress, $0.count) } == payload.count)
        var unacked: UInt32 = .max
        var sinceAck: UInt32 = .max
        let deadline = Date().addingTimeInterval(5)
        repeat {
            #expect(clinux_tcp_progress(client, &unacked, &sinceAck) == 0)
            if unacked == 0 { break }
            usleep(1_000)
        } while Date() < deadline
        #expect(unacked == 0, "loopback left \(unacked) segments unacknowledged")
        #expect(sinceAck < 5_000, "an acknowledgement arrived \(sinceAck) ms ago")

        // Not a TCP socket: refused, with errno.
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        #expect(clinux_tcp_progress(fds[0], &unacked, &sinceAck) == -1)
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        #expect(clinux_tcp_progress(udp, &unacked, &sinceAck) == -1)
    }
}
