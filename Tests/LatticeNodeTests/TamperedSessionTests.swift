import Foundation
import Glibc
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import Testing

/// A man in the middle of a live, authenticated session: B dials A through a proxy that passes
/// the handshake untouched, then, in each of the first sessions, attacks A's frames to B once: a
/// flipped bit, a replayed earlier chunk of frames, or a few bytes cut out. Every attack is
/// refused before anything in the frame is used (a frame cut short and never completed counts
/// as `truncated` when its session ends), counted (`packets_dropped_total` in /metrics,
/// `Node.droppedFrames`), and ends the session; B dials again, and once the proxy stops
/// attacking, B holds every change A wrote, unaltered.
///
/// `LATTICE_HOSTILE_SCALE=K` multiplies the attacks (CI: 1, 6 attacked sessions).
@Suite("Tampered frames inside a live session", .serialized)
struct TamperedSessionTests {
    /// A loopback TCP proxy to `upstream` that attacks the first `attacks` sessions.
    final class Proxy: @unchecked Sendable {
        let listener: Int32
        let port: UInt16
        let upstream: SocketAddress
        let attacks: Int
        private let lock = NSLock()
        private var sessions = 0
        private var applied: [String: Int] = [:]
        private var stopped = false

        /// After the responder's handshake message (2-byte length + 197 bytes), the attack waits
        /// for this many bytes of frames, so that it hits the live session.
        static let handshakeBytes = 2 + LatticeHandshake.messageLengths[1]
        static let cleanFrameBytes = 64

        init(upstream: SocketAddress, attacks: Int) throws {
            self.upstream = upstream
            self.attacks = attacks
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard fd >= 0, bound == 0, Glibc.listen(fd, 16) == 0 else { throw ProxyError("cannot listen on loopback") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            listener = fd
            port = UInt16(bigEndian: address.sin_port)
        }

        var attacksApplied: [String: Int] { lock.withLock { applied } }

        func start() {
            Thread { self.acceptLoop() }.start()
        }

        func stop() {
            lock.withLock { stopped = true }
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }

        private func acceptLoop() {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                let (k, done) = lock.withLock { () -> (Int, Bool) in
                    sessions += 1
                    return (sessions - 1, stopped)
                }
                guard !done, let server = try? Socket.connectBlocking(upstream) else {
                    close(client)
                    continue
                }
                let attack = k < attacks ? ["tampered", "replayed", "truncated"][k % 3] : nil
                let closer = Closer(client, server)
                Thread { self.pump(from: client, to: server, attack: nil, closer) }.start()
                Thread { self.pump(from: server, to: client, attack: attack, closer) }.start()
            }
        }

        private func pump(from: Int32, to: Int32, attack: String?, _ closer: Closer) {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var seen = 0
            var earlier: [UInt8] = []  // a chunk of frames already delivered (for the replay)
            var attacked = attack == nil
            var rng = SystemRandomNumberGenerator()
            while true {
                let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                var chunk = Array(buffer[0..<n])
                let start = seen
                seen += n
                if !attacked, let kind = attack, start >= Self.handshakeBytes + Self.cleanFrameBytes {
                    switch kind {
                    case "tampered":
                        chunk[Int.random(in: 0..<chunk.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                    case "replayed":
                        chunk = earlier + chunk
                    default:
                        let cut = Int.random(in: 0..<chunk.count, using: &rng)
                        chunk.removeSubrange(cut..<min(chunk.count, cut + 3))
                    }
                    attacked = true
                    lock.withLock { applied[kind, default: 0] += 1 }
                } else if start >= Self.handshakeBytes, earlier.isEmpty {
                    earlier = chunk
                }
                if !chunk.isEmpty, !Self.writeAll(to, chunk) { break }
            }
            closer.close()
        }

        static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Closes both ends of a proxied connection once.
    final class Closer: @unchecked Sendable {
        private let lock = NSLock()
        private var fds: [Int32]
        init(_ a: Int32, _ b: Int32) { fds = [a, b] }
        func close() {
            let taken = lock.withLock { () -> [Int32] in
                defer { fds = [] }
                return fds
            }
            for fd in taken {
                shutdown(fd, Int32(SHUT_RDWR))
                Glibc.close(fd)
            }
        }
    }

    struct ProxyError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    final class Counts: @unchecked Sendable {
        var dropped: [String: Int] = [:]
        var changes: UInt64 = 0
    }

    @Test func framesAttackedInsideASessionAreRefusedCountedAndNothingIsLost() throws {
        let scale = ProcessInfo.processInfo.environment["LATTICE_HOSTILE_SCALE"].flatMap { Int($0) } ?? 1
        let attacks = 6 * scale
        let nodes = try TestNodes("tamper")
        defer { nodes.stop() }
        let a = try nodes.make("a")
        let listen = try #require(a.listenAddress)
        let proxy = try Proxy(upstream: listen, attacks: attacks)
        defer { proxy.stop() }
        proxy.start()
        let b = try nodes.make("b", peers: [StaticPeer(node: a.identity.nodeID, address: SocketAddress(host: "127.0.0.1", port: proxy.port))])
        nodes.start()
        func read(_ node: Node) -> Counts {
            TestNodes.onLoop(node) {
                let c = Counts()
                c.dropped = node.droppedFrames
                c.changes = node.store.replica.state.versionVector.total
                return c
            }
        }
        // A writes a change every 2 ms until every attack was made (and a little longer).
        var written = 0
        let deadline = Date().addingTimeInterval(30 + Double(attacks))
        while Date() < deadline {
            let n = written
            a.loop.post {
                _ = try? a.submit({ r, d in
                    try r.set(FieldPath("notes", Key("n\(n)"), "v"), .int(Int64(n)), now: ReplicaStore.wallMilliseconds(), into: &d)
                }, done: { _ in })
            }
            written += 1
            usleep(2_000)
            if proxy.attacksApplied.values.reduce(0, +) >= attacks && written > 200 { break }
        }
        let applied = proxy.attacksApplied
        #expect(applied.values.reduce(0, +) == attacks, "attacks made: \(applied)")

        // Once the proxy stops attacking, B catches up with every change. The last attack may
        // wait for the next bytes on its stream (a grown length prefix, a cut frame): pings
        // bring them within `pingInterval`.
        var aChanges: UInt64 = 0
        var counts = Counts()
        for _ in 0..<1_000 {
            aChanges = read(a).changes
            counts = read(b)
            if counts.changes == aChanges && aChanges >= UInt64(written) && counts.dropped.values.reduce(0, +) >= attacks { break }
            usleep(20_000)
        }
        #expect(aChanges == UInt64(written), "A holds \(aChanges) of its \(written) changes")
        #expect(counts.changes == aChanges, "B holds \(counts.changes) of A's \(aChanges) changes")
        let same = TestNodes.onLoop(a) { a.store.replica.state } == TestNodes.onLoop(b) { b.store.replica.state }
        #expect(same, "B's state differs from A's")

        // Every attack refused and counted by B as a dropped frame (none accepted: the states
        // agree), and nothing else dropped.
        let dropped = counts.dropped.values.reduce(0, +)
        #expect(dropped == attacks && proxy.attacksApplied == applied, "B dropped \(counts.dropped) for \(proxy.attacksApplied)")
        #expect(counts.dropped.keys.allSatisfy { ["auth", "malformed", "replay", "truncated"].contains($0) }, "\(counts.dropped)")
        print("tampered sessions: \(applied) → B dropped \(counts.dropped); B holds \(counts.changes) of \(aChanges) changes")
    }
}
