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
    final class Box: @unchecked Sendable {
        var failures: [String: Int] = [:]
    }

    @Test func aConnectionClosedMidHandshakeIsCounted() throws {
        let dir = "/tmp/lattice-abort-\(getpid())"
        _ = mkdir(dir, 0o700)
        defer { _ = system("rm -rf '\(dir)'") }
        let identity = try NodeIdentity.generate()
        let store = try ReplicaStore.open(at: dir + "/a", replicaID: ReplicaID(identity.nodeID.replicaRawValue))
        var options = NodeOptions()
        options.listen = SocketAddress(host: "127.0.0.1", port: 0)
        options.discovery = false
        let node = try Node(identity: identity, keyRing: KeyRing(current: try NetworkKey.generate()), trust: TrustPolicy(), store: store, options: options, log: NodeLog(level: .error))
        let thread = Thread { node.run() }
        thread.start()
        defer {
            node.stop()
            while !thread.isFinished { usleep(1_000) }
            try? store.close()
        }
        let address = try #require(node.listenAddress)
        func failures() -> [String: Int] {
            let box = Box()
            let done = DispatchSemaphore(value: 0)
            node.loop.post {
                box.failures = node.connectionFailures
                done.signal()
            }
            done.wait()
            return box.failures
        }
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
