import Foundation
import Glibc
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import Testing

/// A connection that closes part-way through its handshake, before the deadline, is counted as
/// `aborted` (`handshake_failures_total{reason="aborted"}`), not lost from the metrics.
@Suite("Node handshake aborts", .serialized)
struct HandshakeAbortTests {
    @Test func aConnectionClosedMidHandshakeIsCounted() throws {
        let nodes = try TestNodes("abort")
        defer { nodes.stop() }
        let node = try nodes.make("a")
        nodes.start()
        let address = try #require(node.listenAddress)
        func failures() -> [String: Int] { TestNodes.onLoop(node) { node.connectionFailures } }
        // Three clients: one sends part of a message 1 (a 48-byte frame) and leaves, one connects
        // and leaves at once, one sends nothing and stays (timed out later, not aborted).
        let partial = [UInt8(0), UInt8(LatticeHandshake.messageLengths[0])] + [UInt8](repeating: 7, count: 20)
        for bytes in [partial, []] {
            let fd = try Socket.connectBlocking(address)
            if !bytes.isEmpty { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            close(fd)
        }
        let idle = try Socket.connectBlocking(address)
        defer { close(idle) }
        let deadline = Date().addingTimeInterval(10)
        while failures()["aborted", default: 0] < 2 && Date() < deadline { usleep(10_000) }
        let seen = failures()
        #expect(seen["aborted"] == 2 && seen["malformedMessage"] == nil, "\(seen)")
    }
}
