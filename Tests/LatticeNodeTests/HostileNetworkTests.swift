import Foundation
import Glibc
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import Testing

/// A running node under a hostile network while it serves an honest peer: forged, tampered,
/// replayed and mis-sized beacons on its discovery port, and TCP connections with a wrong network
/// key, garbage, truncated handshakes and instant closes. Every hostile packet is refused and
/// counted (the counters `/metrics` shows), none is accepted, and every change written on the
/// node during the attack reaches the peer.
///
/// `LATTICE_HOSTILE_SCALE=K` multiplies the attack (CI: 1; the campaign in Docs/RELIABILITY.md: 50).
@Suite("Node under a hostile network", .serialized)
struct HostileNetworkTests {
    final class Box: @unchecked Sendable {
        var failures: [String: Int] = [:]
        var beacons: [String: Int] = [:]
        var changes: UInt64 = 0
    }

    @Test func hostilePacketsAreRefusedCountedAndTheHonestPeerIsServed() throws {
        let scale = ProcessInfo.processInfo.environment["LATTICE_HOSTILE_SCALE"].flatMap { Int($0) } ?? 1
        let nodes = try TestNodes("hostile")
        defer { nodes.stop() }
        let ring = nodes.ring
        let discoveryPort = UInt16(20_000 + Int(getpid()) % 20_000)
        let a = try nodes.make("a") { o in
            o.discovery = true
            o.discoveryPort = discoveryPort
            o.beaconInterval = 3_600_000
            o.handshakeTimeout = 2_000
        }
        let listen = try #require(a.listenAddress)
        let b = try nodes.make("b", peers: [StaticPeer(node: a.identity.nodeID, address: listen)])
        nodes.start()
        func read(_ node: Node) -> Box {
            TestNodes.onLoop(node) {
                let box = Box()
                box.failures = node.connectionFailures
                box.beacons = node.beaconCounts
                box.changes = node.store.replica.state.versionVector.total
                return box
            }
        }

        // The honest writer: one change every few ms on A for the whole attack.
        let writing = DispatchSemaphore(value: 0)
        let stop = ManagedAtomicFlag()
        let writer = Thread {
            var i = 0
            while !stop.isSet {
                let n = i
                a.loop.post {
                    _ = try? a.submit({ r, d in
                        try r.set(FieldPath("notes", Key("n\(n)"), "v"), .int(Int64(n)), now: ReplicaStore.wallMilliseconds(), into: &d)
                    }, done: { _ in })
                }
                i += 1
                usleep(2_000)
            }
            writing.signal()
        }
        writer.start()

        // UDP: forged (random, beacon-sized), mis-sized, tampered (one bit of a real beacon) and
        // replayed (one real beacon sent many times) beacons to A's discovery port.
        let sealer = try BeaconSealer(keyRing: ring)
        let stranger = try NodeIdentity.generate()
        let genuine = try sealer.seal(Beacon(nodeID: stranger.nodeID, tcpPort: 1, udpPort: discoveryPort, instance: 7, timestamp: ReplicaStore.wallMilliseconds()))
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = discoveryPort.bigEndian
        to.sin_addr.s_addr = inet_addr("127.0.0.1")
        var sent: [String: Int] = [:]
        func send(_ bytes: [UInt8], _ kind: String) {
            let n = withUnsafePointer(to: &to) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    bytes.withUnsafeBytes { b in sendto(udp, b.baseAddress, b.count, 0, address, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            if n == bytes.count { sent[kind, default: 0] += 1 }
            usleep(50)  // at rate, but within what the loopback socket buffer holds
        }
        send(genuine, "genuine")
        var rng = SystemRandomNumberGenerator()
        for k in 0..<(200 * scale) {
            switch k % 4 {
            case 0: send((0..<BeaconSealer.sealedLength).map { _ in UInt8.random(in: 0...255, using: &rng) }, "forged")
            case 1: send(Array(genuine.prefix(Int.random(in: 1..<BeaconSealer.sealedLength, using: &rng))), "missized")
            case 2:
                var t = genuine
                t[Int.random(in: 0..<t.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                send(t, "tampered")
            default: send(genuine, "replayed")
            }
        }

        // TCP: a wrong network key, garbage, a truncated message 1 and instant closes.
        let wrongKey = try NetworkKey.generate()
        var tcpSent: [String: Int] = [:]
        for k in 0..<(40 * scale) {
            let fd = try Socket.connectBlocking(listen)
            var bytes: [UInt8] = []
            let kind: String
            switch k % 4 {
            case 0:
                let d = HandshakeDriver(initiator: stranger, networkKey: wrongKey, trust: TrustPolicy(), deadline: UInt64.max)
                bytes = try d.start()
                kind = "wrongKey"
            case 1:
                bytes = [0, UInt8(LatticeHandshake.messageLengths[0])] + (0..<LatticeHandshake.messageLengths[0]).map { _ in UInt8.random(in: 0...255, using: &rng) }
                kind = "garbage"
            case 2:
                let d = HandshakeDriver(initiator: stranger, networkKey: ring.current, trust: TrustPolicy(), deadline: UInt64.max)
                bytes = Array(try d.start().prefix(20))
                kind = "truncated"
            default:
                kind = "closed"
            }
            if !bytes.isEmpty { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            if kind != "closed" { usleep(2_000) }  // let the node answer (or refuse) first
            close(fd)
            tcpSent[kind, default: 0] += 1
        }
        usleep(300_000)
        stop.set()
        writing.wait()

        // Every change A wrote during the attack reaches B.
        var aChanges: UInt64 = 0
        var bChanges: UInt64 = 0
        for _ in 0..<500 {
            aChanges = read(a).changes
            bChanges = read(b).changes
            if bChanges >= aChanges && aChanges > 0 { break }
            usleep(20_000)
        }
        #expect(aChanges > 50 && bChanges >= aChanges, "B has \(bChanges) of A's \(aChanges) changes")

        // Every hostile beacon refused and counted; only the genuine one accepted, once.
        let beacons = read(a).beacons
        let hostileUDP = sent.filter { $0.key != "genuine" }.values.reduce(0, +)
        #expect(beacons["accepted"] == 1, "\(beacons)")
        #expect(beacons["unauthenticated", default: 0] == sent["forged", default: 0] + sent["tampered", default: 0], "\(beacons) \(sent)")
        #expect(beacons["malformed", default: 0] == sent["missized", default: 0], "\(beacons) \(sent)")
        #expect(beacons["replayed", default: 0] == sent["replayed", default: 0], "\(beacons) \(sent)")
        #expect(hostileUDP >= 190 * scale)

        // Every hostile connection refused and counted by its reason.
        let failures = read(a).failures
        // A message 1 of random bytes fails its AEAD tag exactly as one under a wrong key does.
        #expect(failures["wrongNetworkKey", default: 0] == tcpSent["wrongKey", default: 0] + tcpSent["garbage", default: 0], "\(failures) \(tcpSent)")
        #expect(failures["aborted", default: 0] == tcpSent["truncated", default: 0] + tcpSent["closed", default: 0], "\(failures) \(tcpSent)")
        #expect(failures.keys.allSatisfy { ["wrongNetworkKey", "aborted"].contains($0) }, "\(failures)")
        print("hostile network: \(hostileUDP) hostile beacons (\(sent)), \(tcpSent.values.reduce(0, +)) hostile connections (\(tcpSent)); refused and counted: beacons \(beacons), connections \(failures); honest peer got \(bChanges) of \(aChanges) changes")
    }
}

/// A flag set by one thread and read by another.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
