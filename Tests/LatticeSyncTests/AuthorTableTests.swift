import LatticeCRDT
import LatticeSimulation
import LatticeSync
import Testing

/// Compact vectors (Docs/PROTOCOL.md §3, `ack-compact` and `ihave-compact`): each direction of a
/// session names replicas through a table both ends build the same way, a peer without the
/// capability gets the plain forms, and a name outside the table is refused.
@Suite("Sync engine: author tables")
struct AuthorTableTests {
    typealias Net = EngineTests.Net
    static let me = ReplicaID(1)
    static let peer = ReplicaID(2)
    static let conn: ConnectionID = 9

    /// One engine and a hand-driven peer that said hello with `capabilities` and `vector`.
    static func engineWithPeer(capabilities: UInt64 = Capabilities.all, vector: VersionVector = VersionVector()) throws -> SyncEngine {
        var config = SyncConfig()
        config.ackDelay = 0
        config.vectorInterval = 0
        let engine = try SyncEngine(node: me, storage: MemoryStorage(replicaID: me), config: config, seed: 1, now: 0)
        _ = engine.connected(conn, peer: peer, outbound: false, now: 0)
        let hello = Hello(node: peer, capabilities: capabilities, vector: vector, watermark: VersionVector())
        _ = engine.receive(Message.hello(hello).encoded(), on: conn, now: 0)
        return engine
    }

    /// A change written by the peer (its own replica), as `deltas` carry it.
    static func change(_ i: Int, into replica: inout Replica) throws -> [UInt8] {
        try replica.set(EngineTests.path(i), .int(Int64(i)), now: UInt64(i)).encoded()
    }

    @Test func aReplicaIsNamedInFullOnceThenByItsIndex() throws {
        let net = try Net([Self.me, Self.peer])
        net.connect(0, 1)
        // Both vectors were empty at hello: both tables start empty.
        for i in 1...3 { _ = try net.write(0, EngineTests.path(i), .int(Int64(i))) }
        let acks = net.received.filter { $0.from == 1 && $0.to == 0 }.compactMap { r -> [AuthorEntry]? in
            if case .ackCompact(_, let v) = r.message { return v } else { return nil }
        }.filter { !$0.isEmpty }
        #expect(acks.count == 3, "acks with vector news: \(acks)")
        let named = acks.flatMap { $0 }.map(\.author)
        let full = named.filter { if case .new = $0 { true } else { false } }
        #expect(full.count == 1, "named in full: \(full)")
        #expect(named.first.map { if case .new = $0 { true } else { false } } == true)
        #expect(named.dropFirst().allSatisfy { $0 == .index(0) }, "\(named)")
        // Resolved, they meant the whole vector: A knows exactly what B acknowledged.
        #expect(net.engine(0).peers[Self.peer]?.acknowledged == net.storage(1).state.versionVector)
        #expect(net.sent.allSatisfy { if case .ack = $0.message { false } else { true } }, "no plain ack between two current engines")
    }

    @Test func theTableStartsFromTheSendersHelloVector() throws {
        let net = try Net([Self.me, Self.peer])
        _ = try net.write(1, EngineTests.path(1), .int(1))  // before the session: in B's hello vector
        let known = net.storage(1).state.versionVector
        net.connect(0, 1)
        _ = try net.write(0, EngineTests.path(2), .int(2))
        // B's acknowledgement names A's author, new to its table (A wrote after the hello) …
        var acks = net.received.filter { $0.from == 1 }.compactMap { r -> [AuthorEntry]? in
            if case .ackCompact(_, let v) = r.message, !v.isEmpty { return v } else { return nil }
        }
        #expect(acks.last?.contains { if case .new = $0.author { true } else { false } } == true, "\(acks)")
        // … and when B writes again, its own author is index 0 of its hello vector's replicas.
        let before = net.received.count
        _ = try net.write(1, EngineTests.path(3), .int(3))
        _ = try net.write(0, EngineTests.path(4), .int(4))
        acks = net.received[before...].filter { $0.from == 1 }.compactMap { r -> [AuthorEntry]? in
            if case .ackCompact(_, let v) = r.message, !v.isEmpty { return v } else { return nil }
        }
        let own = known.entries.map(\.replica)
        #expect(own.count == 1)
        #expect(acks.flatMap { $0 }.allSatisfy { if case .index = $0.author { true } else { false } }, "\(acks)")
        #expect(net.engine(0).peers[Self.peer]?.acknowledged == net.storage(1).state.versionVector)
        #expect(net.storage(0).state == net.storage(1).state)
    }

    @Test func aPeerWithoutTheCapabilityGetsThePlainAck() throws {
        var writer = Replica(id: Self.peer)
        for caps in [Capabilities.all, Capabilities.all & ~Capabilities.authorTables] {
            let engine = try Self.engineWithPeer(capabilities: caps)
            let out = engine.receive(Message.deltas(batch: 1, changes: [try Self.change(1, into: &writer)]).encoded(), on: Self.conn, now: 1)
            let types = EngineTests.sends(out).map(\.message.type)
            #expect(types.contains(caps == Capabilities.all ? 14 : 4), "caps \(caps): sent \(types)")
            #expect(!types.contains(caps == Capabilities.all ? 4 : 14), "caps \(caps): sent \(types)")
        }
    }

    /// An index beyond the peer's table, or replicas out of order once resolved, is malformed:
    /// the session ends in quarantine (and a valid one is accepted, as the control).
    @Test func aNameOutsideTheTableIsRefused() throws {
        let hello = VersionVector([ReplicaID(3): 1])  // the peer's table: [3]
        let cases: [([AuthorEntry], Bool)] = [
            ([AuthorEntry(.index(0), 1)], true),
            ([AuthorEntry(.index(0), 1), AuthorEntry(.new(ReplicaID(5)), 1)], true),
            ([AuthorEntry(.index(1), 1)], false),  // the table has one replica
            ([AuthorEntry(.new(ReplicaID(5)), 1), AuthorEntry(.index(0), 1)], false),  // 5 then 3: descending
            ([AuthorEntry(.index(0), 1), AuthorEntry(.index(0), 2)], false),  // 3 twice
        ]
        for (entries, valid) in cases {
            let engine = try Self.engineWithPeer(vector: hello)
            let out = engine.receive(Message.ackCompact(batch: 0, vector: entries).encoded(), on: Self.conn, now: 1)
            let closed = out.contains { if case .close = $0 { true } else { false } }
            #expect(closed == !valid, "\(entries)")
            #expect(engine.stats.violations == (valid ? 0 : 1), "\(entries)")
        }
        // An announcement naming a replica outside the table is refused the same way.
        let engine = try Self.engineWithPeer(vector: hello)
        let bad = Message.ihaveCompact([CompactAnnouncement(sequence: 1, vector: [], cloud: [AuthorEntry(.index(4), 3)])])
        _ = engine.receive(bad.encoded(), on: Self.conn, now: 1)
        #expect(engine.stats.violations == 1)
    }
}
