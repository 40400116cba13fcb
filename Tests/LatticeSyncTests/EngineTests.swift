import LatticeCRDT
import LatticeSimulation
import LatticeSync
import Testing

/// Unit tests of the session state machine: a few `SyncEngine`s over `MemoryStorage`, driven by
/// hand through ``EngineTests/Net``.
@Suite("Sync engine")
struct EngineTests {
    static let a = ReplicaID(1)
    static let b = ReplicaID(2)
    static let c = ReplicaID(3)

    /// A tiny driver: routes `.send`s between engines in FIFO order (one reliable, ordered stream
    /// per connection), performs `.flush` at once, records everything, and reports `.close` to
    /// both ends.
    final class Net {
        struct Node {
            let id: ReplicaID
            let storage: MemoryStorage
            let engine: SyncEngine
        }

        enum Item {
            case bytes([UInt8])
            case closed(String)
        }

        struct Sent {
            let from: Int
            let to: Int
            let conn: ConnectionID
            let message: Message
            let size: Int
            let channel: Channel
            var at: UInt64 = 0
        }

        var nodes: [Node] = []
        var now: UInt64 = 0
        /// Each connection end: its node and the other end.
        var ends: [ConnectionID: (node: Int, remote: ConnectionID)] = [:]
        var closedEnds: Set<ConnectionID> = []
        var nextConn: ConnectionID = 100
        var transit: [(to: ConnectionID, item: Item)] = []
        var transitHead = 0
        /// When set, nothing is delivered until ``deliver()`` is called with `hold` off.
        var hold = false
        private var delivering = false
        var sent: [Sent] = []
        /// Messages in delivery order, as received (`to` is the receiving node).
        var received: [Sent] = []
        var events: [(node: Int, event: SyncEvent)] = []
        var dials: [(node: Int, peer: ReplicaID)] = []
        /// Every action list an engine returned, in order.
        var traces: [(node: Int, actions: [SyncAction])] = []
        var lastReceived: [Int: UInt64] = [:]
        /// Runs after every delivered item.
        var afterStep: (() -> Void)?

        init(_ ids: [ReplicaID], config: SyncConfig = SyncConfig(), policies: [SyncPolicy]? = nil) throws {
            for (i, id) in ids.enumerated() {
                let storage = MemoryStorage(replicaID: id)
                let engine = try SyncEngine(
                    node: id, storage: storage, config: Self.unit(config), policy: policies?[i] ?? SyncPolicy(), seed: 7, now: 0)
                nodes.append(Node(id: id, storage: storage, engine: engine))
            }
        }

        /// Replaces node `i`'s engine (after its storage was prepared); `wrap` puts a layer
        /// between the engine and the storage (flushes still go to the `MemoryStorage`).
        func restart(
            _ i: Int, config: SyncConfig = SyncConfig(), policy: SyncPolicy = SyncPolicy(),
            wrap: (MemoryStorage) -> any SyncStorage = { $0 }
        ) throws {
            let n = nodes[i]
            let engine = try SyncEngine(node: n.id, storage: wrap(n.storage), config: Self.unit(config), policy: policy, seed: 7, now: now)
            nodes[i] = Node(id: n.id, storage: n.storage, engine: engine)
        }

        /// These tests follow the protocol message by message at one instant: one
        /// acknowledgement per batch (coalescing has its own test).
        static func unit(_ config: SyncConfig) -> SyncConfig {
            var c = config
            c.ackDelay = 0
            c.vectorInterval = 0
            return c
        }

        func engine(_ i: Int) -> SyncEngine { nodes[i].engine }
        func storage(_ i: Int) -> MemoryStorage { nodes[i].storage }

        /// Executes node `i`'s actions in order.
        func run(_ i: Int, _ actions: [SyncAction]) {
            traces.append((i, actions))
            for action in actions {
                switch action {
                case .send(let conn, let bytes, let channel):
                    guard let end = ends[conn] else { continue }
                    let to = ends[end.remote]!.node
                    let m = try! Message(decoding: bytes)
                    sent.append(Sent(from: i, to: to, conn: conn, message: m, size: bytes.count, channel: channel, at: now))
                    if !closedEnds.contains(conn) { transit.append((end.remote, .bytes(bytes))) }
                case .flush:
                    nodes[i].storage.flush()
                case .dial(let peer):
                    dials.append((i, peer))
                case .close(let conn, let reason):
                    guard !closedEnds.contains(conn) else { continue }
                    closedEnds.insert(conn)
                    if let end = ends[conn] { transit.append((end.remote, .closed(reason))) }
                    run(i, nodes[i].engine.disconnected(conn, now: now, reason: reason))
                case .event(let e):
                    events.append((i, e))
                }
            }
            if !hold { deliver() }
        }

        /// Delivers everything in transit (and what it causes), in order.
        func deliver() {
            guard !hold, !delivering else { return }
            delivering = true
            defer { delivering = false }
            while transitHead < transit.count {
                let (to, item) = transit[transitHead]
                transitHead += 1
                step(to, item)
            }
            transit = []
            transitHead = 0
        }

        /// Delivers only the first `n` items in transit (nothing they cause).
        func deliver(first n: Int) {
            let items = Array(transit[transitHead..<min(transit.count, transitHead + n)])
            transitHead += items.count
            let wasHolding = hold
            hold = true
            for (to, item) in items { step(to, item) }
            hold = wasHolding
        }

        var inTransit: Int { transit.count - transitHead }

        private func step(_ to: ConnectionID, _ item: Item) {
            guard let end = ends[to], !closedEnds.contains(to) else { return }
            let i = end.node
            switch item {
            case .bytes(let bytes):
                received.append(
                    Sent(from: ends[end.remote]!.node, to: i, conn: to, message: try! Message(decoding: bytes), size: bytes.count, channel: .stream))
                lastReceived[i] = now
                run(i, nodes[i].engine.receive(bytes, on: to, channel: .stream, now: now))
            case .closed(let reason):
                closedEnds.insert(to)
                run(i, nodes[i].engine.disconnected(to, now: now, reason: reason))
            }
            afterStep?()
        }

        /// A physical connection from `i` (dialer) to `j`, not yet reported to either engine.
        func link(_ i: Int, _ j: Int) -> (ConnectionID, ConnectionID) {
            let ci = nextConn
            let cj = nextConn + 1
            nextConn += 2
            ends[ci] = (i, cj)
            ends[cj] = (j, ci)
            return (ci, cj)
        }

        /// `i` dials `j`: both engines learn of the connection, then the network runs.
        @discardableResult
        func connect(_ i: Int, _ j: Int) -> (ConnectionID, ConnectionID) {
            let (ci, cj) = link(i, j)
            let wasHolding = hold
            hold = true
            run(i, nodes[i].engine.connected(ci, peer: nodes[j].id, outbound: true, now: now))
            run(j, nodes[j].engine.connected(cj, peer: nodes[i].id, outbound: false, now: now))
            hold = wasHolding
            deliver()
            return (ci, cj)
        }

        /// A local change on node `i` (durable at once), reported to its engine.
        @discardableResult
        func write(_ i: Int, _ path: FieldPath, _ value: Value) throws -> Delta {
            let t = now
            let (seq, delta) = try nodes[i].storage.commit(now: t) { r, d in try r.set(path, value, now: t, into: &d) }!
            run(i, nodes[i].engine.localChange(sequence: seq, delta: delta, now: t))
            return delta
        }

        func tick(_ i: Int) { run(i, nodes[i].engine.tick(now: now)) }

        /// Messages `from` sent to `to` on the stream, in order.
        func messages(from: Int, to: Int) -> [Message] {
            sent.filter { $0.from == from && $0.to == to }.map(\.message)
        }

        /// The changes of every `deltas` message `from` sent to `to`, in order.
        func changes(from: Int, to: Int) -> [[UInt8]] {
            messages(from: from, to: to).flatMap { m -> [[UInt8]] in
                if case .deltas(_, let changes) = m { return changes }
                return []
            }
        }

        func events(_ i: Int) -> [SyncEvent] { events.filter { $0.node == i }.map(\.event) }
    }

    /// A storage whose next `failures` integrations throw (disk full).
    final class FlakyStorage: SyncStorage {
        struct DiskFull: Error {}
        let inner: MemoryStorage
        var failures = 0
        init(_ inner: MemoryStorage) { self.inner = inner }
        var state: ReplicaState { inner.state }
        var firstSequence: UInt64 { inner.firstSequence }
        var snapshotContext: CausalContext { inner.snapshotContext }
        func integrate(remote: Delta, encoded: [UInt8], now: UInt64) throws -> UInt64 {
            if failures > 0 {
                failures -= 1
                throw DiskFull()
            }
            return try inner.integrate(remote: remote, encoded: encoded, now: now)
        }
        func integrate(catchUp: StateDelta, now: UInt64) throws -> UInt64 {
            if failures > 0 {
                failures -= 1
                throw DiskFull()
            }
            return try inner.integrate(catchUp: catchUp, now: now)
        }
        func forEachRecord(from sequence: UInt64, _ body: (UInt64, UInt8, [UInt8]) throws -> Bool) throws {
            try inner.forEachRecord(from: sequence, body)
        }
        func acknowledge(peer: ReplicaID, vector: VersionVector) throws { try inner.acknowledge(peer: peer, vector: vector) }
        func watermark(of peer: ReplicaID) -> VersionVector { inner.watermark(of: peer) }
    }

    static func path(_ i: Int, _ collection: Key = "notes") -> FieldPath { FieldPath(collection, Key("d\(i)"), "title") }

    /// The messages a list of actions sends.
    static func sends(_ actions: [SyncAction]) -> [(conn: ConnectionID, message: Message)] {
        actions.compactMap { a in
            if case .send(let conn, let bytes, _) = a { return (conn, try! Message(decoding: bytes)) }
            return nil
        }
    }

    static func errors(_ actions: [SyncAction]) -> [ProtocolErrorCode] {
        sends(actions).compactMap { s in
            if case .error(let code, _) = s.message { return code }
            return nil
        }
    }

    static func quarantinedUntil(_ actions: [SyncAction]) -> UInt64? {
        for a in actions {
            if case .event(.quarantined(_, _, let until)) = a { return until }
        }
        return nil
    }

    static func closes(_ actions: [SyncAction]) -> [ConnectionID] {
        actions.compactMap { a in
            if case .close(let conn, _) = a { return conn }
            return nil
        }
    }

    static func isDial(_ a: SyncAction, _ peer: ReplicaID) -> Bool {
        if case .dial(let p) = a { return p == peer }
        return false
    }

    // MARK: Hello, catch-up, synced

    @Test func helloThenExactlyTheMissingChangesThenSynced() throws {
        let net = try Net([Self.a, Self.b])
        // A has five changes; B holds the first three of them and one of its own.
        var deltas: [Delta] = []
        for i in 0..<5 {
            let (_, d) = try net.storage(0).commit(now: UInt64(i)) { r, d in try r.set(Self.path(i), .int(Int64(i)), now: UInt64(i), into: &d) }!
            deltas.append(d)
        }
        for d in deltas.prefix(3) { _ = try net.storage(1).integrate(remote: d, now: 10) }
        net.storage(1).flush()
        let own = try net.storage(1).commit(now: 20) { r, d in try r.set(Self.path(9, "tasks"), .bool(true), now: 20, into: &d) }!.delta
        try net.restart(0)
        try net.restart(1)

        net.connect(0, 1)

        // Each side starts with its hello, naming itself and its vector.
        let aToB = net.messages(from: 0, to: 1)
        let bToA = net.messages(from: 1, to: 0)
        guard case .hello(let helloA) = aToB.first, case .hello(let helloB) = bToA.first else {
            Issue.record("the first messages are not hellos: \(aToB.first?.name ?? "-"), \(bToA.first?.name ?? "-")")
            return
        }
        #expect(helloA.node == Self.a && helloB.node == Self.b)
        #expect(helloB.vector == VersionVector([Self.a.scoped(to: "notes"): 3, Self.b.scoped(to: "tasks"): 1]))
        // Exactly what each lacked, in log order, and nothing from state.
        #expect(net.changes(from: 0, to: 1) == deltas.suffix(2).map { $0.encoded() })
        #expect(net.changes(from: 1, to: 0) == [own.encoded()])
        #expect(!net.sent.contains { if case .catchUp = $0.message { true } else { false } })
        // `synced` once each way, after the last change.
        for (from, to) in [(0, 1), (1, 0)] {
            let ms = net.messages(from: from, to: to)
            let synced = ms.indices.filter { if case .synced = ms[$0] { true } else { false } }
            let lastDeltas = ms.indices.last { if case .deltas = ms[$0] { true } else { false } }
            #expect(synced.count == 1)
            if let s = synced.first, let d = lastDeltas { #expect(s > d) }
            if let s = synced.first, case .synced(let v) = ms[s], case .hello(let h) = ms.first {
                // Only the entries above what the sender told before (its hello): never more
                // than it holds.
                #expect(v.entries.allSatisfy { $0.counter > h.vector[$0.replica] })
                #expect(h.vector.union(v).isDominated(by: net.storage(from).state.versionVector))
            }
        }
        #expect(net.events(0).contains(.synced(Self.b)) && net.events(1).contains(.synced(Self.a)))
        #expect(net.engine(0).peers[Self.b]?.synced == true && net.engine(1).peers[Self.a]?.synced == true)
        #expect(net.storage(0).state == net.storage(1).state)
        #expect(net.engine(0).isQuiet && net.engine(1).isQuiet)
        #expect(net.engine(1).stats.integrated == 2 && net.engine(0).stats.integrated == 1)
    }

    /// A restarted node whose snapshot holds a compacted change sends a peer behind it a
    /// catch-up from state, even though a later change names that change's dot (as the entry it
    /// replaced): streaming only the later change would leave the peer holding what the
    /// compacted one had replaced (the cluster fuzzer's `restart-floor-observed-dot`).
    @Test func aRestartedNodeSendsACatchUpBelowItsSnapshotThoughALaterChangeNamesTheDot() throws {
        let net = try Net([Self.a, Self.b])
        let uses = FieldPath("notes", "d", "uses")
        // Each increment replaces A's own counter entry, naming the replaced entry's dot.
        func bump(_ t: UInt64) throws -> Delta {
            try net.storage(0).commit(now: t) { r, d in try r.increment(uses, by: 1, now: t, into: &d) }!.delta
        }
        _ = try net.storage(1).integrate(remote: try bump(1), now: 1)  // B holds the first
        net.storage(1).flush()
        _ = try bump(2)  // B never gets this one: compacted away below
        #expect(net.storage(0).compact(through: UInt64.max) == 2)
        let third = try bump(3)
        #expect(third.context.contains(Dot(Self.a.scoped(to: "notes"), 2)), "the third names the second's dot")
        try net.restart(0)
        try net.restart(1)

        net.connect(0, 1)

        #expect(net.sent.contains { if case .catchUp = $0.message, $0.from == 0 { true } else { false } })
        #expect(net.storage(1).state.document("notes", "d")?["uses"] == .counter(3))
        #expect(net.storage(0).state == net.storage(1).state)
    }

    @Test func aLocalChangeIsPushedAtOnceAndAcknowledgedAfterTheFlush() throws {
        let net = try Net([Self.a, Self.b])
        let (ca, cb) = net.connect(0, 1)
        net.hold = true
        let delta = try net.write(0, Self.path(1), .string("x"))
        // Pushed by `localChange` itself, on the stream of the session.
        let pushed = Self.sends(net.traces.last!.actions)
        #expect(pushed.count == 1)
        #expect(pushed.first?.conn == ca)
        if case .deltas(_, let changes) = pushed.first?.message {
            #expect(changes == [delta.encoded()])
        } else {
            Issue.record("not a deltas message: \(pushed.first?.message.name ?? "nothing")")
        }
        net.hold = false
        net.deliver()

        // B flushed before it acknowledged.
        let reply = net.traces.first { t in t.node == 1 && Self.sends(t.actions).contains { if case .ackCompact = $0.message { true } else { false } } }
        let actions = reply?.actions ?? []
        let flush = actions.firstIndex(of: .flush)
        let ack = actions.firstIndex { if case .send(cb, let bytes, _) = $0, bytes.first == 14 { true } else { false } }
        #expect(flush != nil && ack != nil)
        if let flush, let ack { #expect(flush < ack) }
        #expect(net.storage(1).pendingRecords == 0)
        // A recorded B's acknowledgement in memory and in storage.
        let vector = net.storage(1).state.versionVector
        #expect(vector[Self.a.scoped(to: "notes")] == 1)
        #expect(net.engine(0).peers[Self.b]?.acknowledged == vector)
        #expect(net.storage(0).watermark(of: Self.b) == vector)
        #expect(net.storage(1).state.value(Self.path(1)) != nil)
        #expect(net.engine(0).isQuiet)
    }

    @Test func receivedChangesAreForwardedToOtherSessionsAfterTheFlush() throws {
        // A — B — C in a line: A's change reaches C through B.
        let net = try Net([Self.a, Self.b, Self.c])
        net.connect(0, 1)
        net.connect(1, 2)
        try net.write(0, Self.path(1), .int(1))
        #expect(net.storage(2).state.value(Self.path(1)) != nil)
        #expect(net.changes(from: 1, to: 2).count == 1)
        // Not sent back to where it came from.
        #expect(net.changes(from: 1, to: 0).isEmpty)
        // B's forward comes after B's flush, in the same action list.
        let forward = net.traces.first { t in t.node == 1 && Self.sends(t.actions).contains { if case .deltas = $0.message { true } else { false } } }
        let actions = forward?.actions ?? []
        let flush = actions.firstIndex(of: .flush)
        let send = actions.firstIndex { if case .send(_, let bytes, _) = $0, bytes.first == 2 { true } else { false } }
        #expect(flush != nil && send != nil)
        if let flush, let send { #expect(flush < send) }
        #expect(net.storage(0).state == net.storage(2).state)
    }

    @Test func aTriangleDeliversEachChangeOnceAndConverges() throws {
        let net = try Net([Self.a, Self.b, Self.c])
        net.connect(0, 1)
        net.connect(1, 2)
        net.connect(0, 2)
        for i in 0..<5 { try net.write(i % 3, Self.path(i), .int(Int64(i))) }
        #expect(net.storage(0).state == net.storage(1).state && net.storage(1).state == net.storage(2).state)
        // Each node integrated exactly the changes it did not write; extra copies were skipped.
        #expect(net.engine(0).stats.integrated == 3)
        #expect(net.engine(1).stats.integrated == 3)
        #expect(net.engine(2).stats.integrated == 4)
        for i in 0..<3 { #expect(net.engine(i).isQuiet) }
    }

    @Test func aHelloWatermarkAboveThisNodesVectorReportsARegression() throws {
        let net = try Net([Self.a, Self.b])
        // B remembers that A once acknowledged a change A no longer has (A lost its disk).
        let lost = VersionVector([Self.a.scoped(to: "notes"): 4])
        try net.storage(1).acknowledge(peer: Self.a, vector: lost)
        net.connect(0, 1)
        guard case .hello(let hello) = net.messages(from: 1, to: 0).first else {
            Issue.record("no hello")
            return
        }
        #expect(hello.watermark == lost)
        #expect(net.events(0).contains(.regressed(Self.b)))
        #expect(!net.events(1).contains(.regressed(Self.a)))
    }

    /// A change the receiver could not store is not acknowledged; its `storage` error makes the
    /// sender forget what it assumed and send again from the last acknowledgement.
    @Test
    func aChangeThatFailedToStoreIsSentAgain() throws {
        let net = try Net([Self.a, Self.b])
        var flaky: FlakyStorage?
        try net.restart(1, wrap: { let f = FlakyStorage($0); flaky = f; return f })
        net.connect(0, 1)
        flaky?.failures = 1
        try net.write(0, Self.path(1), .int(1))
        #expect(net.messages(from: 1, to: 0).contains { if case .error(.storage, _) = $0 { true } else { false } })
        #expect(flaky?.failures == 0)
        net.now = 100
        net.run(1, net.engine(1).syncNow(now: net.now))
        #expect(net.messages(from: 1, to: 0).contains { if case .syncRequest = $0 { true } else { false } })
        #expect(net.storage(1).state.value(Self.path(1)) != nil)
        #expect(net.storage(1).state == net.storage(0).state)
    }

    // MARK: Circuit breaker

    @Test func aMessageBeforeHelloQuarantinesAndRefusesReconnects() throws {
        var config = SyncConfig()
        config.quarantine = 1_000
        config.quarantineCap = 3_000
        let storage = MemoryStorage(replicaID: Self.a)
        let engine = try SyncEngine(node: Self.a, storage: storage, config: config, seed: 1, now: 0)
        _ = engine.addPeer(Self.b, now: 0)
        engine.dialFailed(Self.b, now: 0, reason: "test")
        let hello = Self.sends(engine.connected(1, peer: Self.b, outbound: false, now: 0))
        #expect(hello.count == 1)
        if case .hello = hello.first?.message {} else { Issue.record("no hello") }

        let actions = engine.receive(Message.ping(nonce: 9).encoded(), on: 1, now: 10)
        #expect(Self.errors(actions) == [.unexpected])
        #expect(Self.quarantinedUntil(actions) == 10 + 1_000)
        #expect(Self.sends(actions).map(\.message).contains(.goodbye(reason: .quarantined)))
        #expect(Self.closes(actions) == [1])
        #expect(engine.liveSessions.isEmpty)
        #expect(engine.stats.violations == 1)

        // During the quarantine: an inbound connection is closed at once, without a hello, and
        // the peer is not dialed.
        let refused = engine.connected(2, peer: Self.b, outbound: false, now: 500)
        #expect(Self.sends(refused).isEmpty)
        #expect(Self.closes(refused) == [2])
        #expect(engine.liveSessions.isEmpty)
        #expect(!engine.tick(now: 1_009).contains { Self.isDial($0, Self.b) })
        #expect(engine.tick(now: 1_010).contains { Self.isDial($0, Self.b) })

        // Afterwards the session works again; a second offence doubles the period, a third hits the cap.
        _ = engine.connected(3, peer: Self.b, outbound: true, now: 1_010)
        #expect(engine.liveSessions.count == 1)
        let second = engine.receive([0x05, 0x00], on: 3, now: 1_020)  // synced before hello
        #expect(Self.quarantinedUntil(second) == 1_020 + 2_000)
        _ = engine.connected(4, peer: Self.b, outbound: true, now: 3_020)
        let third = engine.receive([0x05, 0x00], on: 4, now: 3_030)
        #expect(Self.quarantinedUntil(third) == 3_030 + 3_000)
        #expect(engine.peers[Self.b]?.offences == 3)
    }

    @Test(arguments: [
        ("truncated", [UInt8]([0x07, 0x01])),
        ("unknown type", [0x42]),
        ("empty", []),
        ("change that does not decode", [0x02, 0x01, 0x01, 0x02, 0xAA, 0xBB]),
        ("catch-up that does not decode", [0x03, 0x01, 0x01, 0xAA]),
    ])
    func malformedBytesQuarantine(name: String, bytes: [UInt8]) throws {
        let net = try Net([Self.a, Self.b])
        let (ca, _) = net.connect(0, 1)
        let actions = net.engine(0).receive(bytes, on: ca, now: 5)
        #expect(Self.errors(actions) == [.malformed], "\(name)")
        #expect(Self.quarantinedUntil(actions) == 5 + SyncConfig().quarantine, "\(name)")
        #expect(Self.closes(actions) == [ca], "\(name)")
        #expect(net.engine(0).liveSessions.isEmpty)
        #expect(net.engine(0).peers[Self.b]?.quarantinedUntil == 5 + SyncConfig().quarantine)
    }

    @Test func datagramsCarryOnlyPresence() throws {
        let net = try Net([Self.a, Self.b])
        let (ca, _) = net.connect(0, 1)
        let ping = net.engine(0).receive(Message.ping(nonce: 3).encoded(), on: ca, channel: .datagram, now: 1)
        #expect(Self.sends(ping).map(\.message) == [.pong(nonce: 3)])
        var r = Replica(id: Self.b)
        let d = try r.set(Self.path(1), .int(1), now: 1)
        let actions = net.engine(0).receive(Message.deltas(batch: 1, changes: [d.encoded()]).encoded(), on: ca, channel: .datagram, now: 2)
        #expect(Self.errors(actions) == [.unexpected])
        #expect(Self.quarantinedUntil(actions) != nil)
        #expect(net.storage(0).state.value(Self.path(1)) == nil)
    }

    @Test func aHelloNamingAnotherNodeIsRefused() throws {
        let storage = MemoryStorage(replicaID: Self.a)
        let engine = try SyncEngine(node: Self.a, storage: storage, seed: 1, now: 0)
        _ = engine.connected(1, peer: Self.c, outbound: true, now: 0)
        let hello = Message.hello(Hello(node: Self.b, vector: VersionVector(), watermark: VersionVector()))
        let actions = engine.receive(hello.encoded(), on: 1, now: 1)
        #expect(Self.errors(actions) == [.wrongNode])
        #expect(Self.quarantinedUntil(actions) != nil)
        #expect(engine.peers[Self.c]?.quarantinedUntil ?? 0 > 1)
        #expect(engine.liveSessions.isEmpty)
    }

    @Test func aSecondHelloIsAViolation() throws {
        let net = try Net([Self.a, Self.b])
        let (ca, _) = net.connect(0, 1)
        let hello = Message.hello(Hello(node: Self.b, vector: VersionVector(), watermark: VersionVector()))
        let actions = net.engine(0).receive(hello.encoded(), on: ca, now: 1)
        #expect(Self.errors(actions) == [.unexpected])
        #expect(Self.quarantinedUntil(actions) != nil)
    }

    @Test func aHelloOfAnotherVersionClosesWithoutQuarantine() throws {
        let storage = MemoryStorage(replicaID: Self.a)
        let engine = try SyncEngine(node: Self.a, storage: storage, seed: 1, now: 0)
        _ = engine.connected(1, peer: Self.b, outbound: true, now: 0)
        var bytes = Message.hello(Hello(node: Self.b, vector: VersionVector(), watermark: VersionVector())).encoded()
        bytes[1] = 2
        let actions = engine.receive(bytes, on: 1, now: 1)
        #expect(Self.errors(actions) == [.unsupportedVersion])
        #expect(Self.closes(actions) == [1])
        #expect(Self.quarantinedUntil(actions) == nil)
        #expect(engine.peers[Self.b]?.quarantinedUntil == 0)
        #expect(engine.stats.violations == 0)
    }

    // MARK: Selective sync

    @Test func aChangeOfAForbiddenCollectionIsRefusedAndNotApplied() throws {
        var policy = SyncPolicy()
        policy.accept["private"] = .peers([Self.c])  // B accepts `private` from C only
        let net = try Net([Self.a, Self.b], policies: [SyncPolicy(), policy])
        try net.write(0, Self.path(1, "private"), .int(1))
        try net.write(0, Self.path(2, "notes"), .int(2))
        net.connect(0, 1)
        #expect(net.changes(from: 0, to: 1).count == 2)  // A's policy sends it
        #expect(net.storage(1).state.value(Self.path(1, "private")) == nil)
        #expect(net.storage(1).state.value(Self.path(2, "notes")) != nil)
        #expect(net.engine(1).stats.forbidden == 1)
        #expect(net.events(1).contains(.forbidden(Self.a, collection: "private")))
        let errors = net.messages(from: 1, to: 0).compactMap { m -> ProtocolErrorCode? in
            if case .error(let code, _) = m { return code }
            return nil
        }
        #expect(errors == [.forbidden])
        // Not a protocol violation: the session stays, and a push after sync is refused the same way.
        #expect(net.engine(1).liveSessions.count == 1)
        try net.write(0, Self.path(3, "private"), .int(3))
        #expect(net.engine(1).stats.forbidden == 2)
        #expect(net.storage(1).state.value(Self.path(3, "private")) == nil)
        #expect(net.engine(1).liveSessions.count == 1)
        // Flow control still moves: every batch was acknowledged.
        #expect(net.engine(0).isQuiet)
    }

    @Test func aKeepLocalCollectionIsNeverSent() throws {
        var policy = SyncPolicy()
        policy.keepLocal("local")
        let net = try Net([Self.a, Self.b, Self.c], policies: [policy, SyncPolicy(), SyncPolicy()])
        for i in 0..<4 { try net.write(0, Self.path(i, i % 2 == 0 ? "local" : "notes"), .int(Int64(i))) }
        net.connect(0, 1)
        try net.write(0, Self.path(10, "local"), .int(10))
        try net.write(0, Self.path(11, "notes"), .int(11))
        let sent = try net.changes(from: 0, to: 1).map { try Delta(decoding: $0) }
        #expect(sent.count == 3)
        #expect(sent.allSatisfy { $0.collections == ["notes"] })
        #expect(net.storage(1).state.collections == ["notes"])
        // A local change in it alone sends nothing at all.
        let before = net.sent.count
        try net.write(0, Self.path(12, "local"), .int(12))
        #expect(net.sent.count == before)

        // A catch-up from state (log compacted) leaves it out too.
        let dropped = net.storage(0).compact(through: UInt64.max)
        net.engine(0).compacted(through: dropped)
        net.connect(0, 2)
        let catchUps = net.messages(from: 0, to: 2).compactMap { m -> StateDelta? in
            if case .catchUp(_, let bytes) = m { return try? StateDelta(decoding: bytes) }
            return nil
        }
        #expect(catchUps.count == 1)
        #expect(catchUps.allSatisfy { $0.inspectionDelta.collections == ["notes"] })
        #expect(net.storage(2).state.collections == ["notes"])
        #expect(net.storage(2).state.value(Self.path(11, "notes")) != nil)
    }

    // MARK: Flow control

    @Test func noMoreThanTheWindowPlusOneBatchIsInFlight() throws {
        var config = SyncConfig()
        config.window = 1_000
        config.batchBytes = 300
        let net = try Net([Self.a, Self.b], config: config)
        net.connect(0, 1)
        // Outstanding deltas bytes A → B, measured from the wire: sent minus acknowledged.
        var maxOutstanding = 0
        var largestBatch = 0
        func measure() {
            var acked: UInt64 = 0
            for r in net.received where r.from == 1 && r.to == 0 {
                if case .ackCompact(let batch, _) = r.message { acked = max(acked, batch) }
            }
            var outstanding = 0
            for s in net.sent where s.from == 0 && s.to == 1 {
                if case .deltas(let batch, _) = s.message {
                    largestBatch = max(largestBatch, s.size)
                    if batch > acked { outstanding += s.size }
                }
            }
            maxOutstanding = max(maxOutstanding, outstanding)
        }
        net.afterStep = measure
        net.hold = true
        for i in 0..<200 {
            try net.write(0, Self.path(i), .string(String(repeating: "x", count: 20)))
            measure()
        }
        // Before any acknowledgement: the window stopped the pushes, the rest is queued.
        #expect(maxOutstanding > 0)
        #expect(maxOutstanding <= config.window + largestBatch)
        #expect(net.engine(0).liveSessions.first?.queued ?? 0 > 0)
        #expect(net.changes(from: 0, to: 1).count < 200)
        #expect(largestBatch <= config.batchBytes + 200)

        net.hold = false
        net.deliver()
        #expect(maxOutstanding <= config.window + largestBatch)
        #expect(net.changes(from: 0, to: 1).count == 200)
        #expect(net.storage(1).state == net.storage(0).state)
        #expect(net.engine(0).isQuiet)
        #expect(net.engine(0).stats.peakInFlight <= config.window + largestBatch)
    }

    // MARK: Duplicate sessions

    @Test(arguments: [[0, 1, 2, 3], [0, 2, 1, 3], [2, 3, 0, 1], [3, 1, 2, 0], [1, 3, 0, 2], [2, 0, 3, 1]])
    func bothDialingEndsWithOneSessionEachSide(order: [Int]) throws {
        let net = try Net([Self.a, Self.b])
        let (x0, x1) = net.link(0, 1)  // dialed by A (the lower ID): this one must win
        let (y1, y0) = net.link(1, 0)  // dialed by B
        let calls: [() -> Void] = [
            { net.run(0, net.engine(0).connected(x0, peer: Self.b, outbound: true, now: 0)) },
            { net.run(1, net.engine(1).connected(x1, peer: Self.a, outbound: false, now: 0)) },
            { net.run(1, net.engine(1).connected(y1, peer: Self.a, outbound: true, now: 0)) },
            { net.run(0, net.engine(0).connected(y0, peer: Self.b, outbound: false, now: 0)) },
        ]
        net.hold = true
        for i in order { calls[i]() }
        net.hold = false
        net.deliver()
        #expect(net.engine(0).liveSessions.map(\.connection) == [x0], "order \(order)")
        #expect(net.engine(1).liveSessions.map(\.connection) == [x1], "order \(order)")
        #expect(net.sent.contains { $0.message == .goodbye(reason: .duplicate) })
        // The survivor works.
        try net.write(1, Self.path(1), .int(1))
        #expect(net.storage(0).state.value(Self.path(1)) != nil)
        #expect(net.engine(0).peers[Self.b]?.connection == x0)
    }

    // MARK: Reconnecting

    @Test func dialsBackOffWithGrowingJitteredDelays() throws {
        var config = SyncConfig()
        config.backoffBase = 100
        config.backoffCap = 1_600
        let storage = MemoryStorage(replicaID: Self.a)
        let engine = try SyncEngine(node: Self.a, storage: storage, config: config, seed: 3, now: 0)
        #expect(engine.addPeer(Self.b, now: 0) == [.dial(Self.b)])
        #expect(engine.addPeer(Self.b, now: 0).isEmpty)  // a dial is outstanding
        var now: UInt64 = 0
        var delays: [UInt64] = []
        for attempt in 1...8 {
            engine.dialFailed(Self.b, now: now, reason: "refused")
            let failedAt = now
            var dialedAt: UInt64?
            while dialedAt == nil && now < failedAt + 10_000 {
                now += 1
                if engine.tick(now: now).contains(where: { Self.isDial($0, Self.b) }) { dialedAt = now }
            }
            let delay = (dialedAt ?? now) - failedAt
            let d = min(config.backoffCap, config.backoffBase << UInt64(attempt - 1))
            #expect(delay >= d / 2 && delay <= d, "attempt \(attempt): \(delay) ms, expected [\(d / 2), \(d)]")
            delays.append(delay)
        }
        for k in 0..<4 { #expect(delays[k + 2] > delays[k], "\(delays)") }
        #expect(delays.allSatisfy { $0 <= config.backoffCap })
        // A successful connection resets the count.
        _ = engine.connected(1, peer: Self.b, outbound: true, now: now)
        #expect(engine.peers[Self.b]?.attempts == 0)
    }

    @Test func isolationClosesSessionsAndStopsDials() throws {
        let net = try Net([Self.a, Self.b])
        net.run(0, net.engine(0).addPeer(Self.b, now: 0))
        #expect(net.dials.count == 1)
        let (ca, _) = net.connect(0, 1)
        #expect(net.engine(0).liveSessions.count == 1 && net.engine(1).liveSessions.count == 1)

        net.run(0, net.engine(0).setIsolated(true, now: 0))
        #expect(net.engine(0).isolated)
        #expect(net.messages(from: 0, to: 1).contains(.goodbye(reason: .isolated)))
        #expect(net.engine(0).liveSessions.isEmpty && net.engine(1).liveSessions.isEmpty)
        #expect(net.events(1).contains { if case .disconnected(Self.a, _) = $0 { true } else { false } })
        #expect(net.closedEnds.contains(ca))

        net.now = 120_000
        net.tick(0)
        #expect(net.dials.count == 1)
        let refused = net.engine(0).connected(999, peer: Self.b, outbound: false, now: net.now)
        #expect(Self.closes(refused) == [999] && Self.sends(refused).isEmpty)
        #expect(net.engine(0).liveSessions.isEmpty)

        let resumed = net.engine(0).setIsolated(false, now: net.now)
        #expect(resumed == [.dial(Self.b)])
    }

    @Test func shutdownSaysGoodbyeOnEverySession() throws {
        let net = try Net([Self.a, Self.b, Self.c])
        net.connect(0, 1)
        net.connect(2, 0)
        net.run(0, net.engine(0).shutdown(now: 0))
        #expect(net.messages(from: 0, to: 1).last == .goodbye(reason: .shutdown))
        #expect(net.messages(from: 0, to: 2).last == .goodbye(reason: .shutdown))
        #expect((0..<3).allSatisfy { net.engine($0).liveSessions.isEmpty })
    }

    // MARK: Catch-up from state

    @Test func aPeerBehindTheCompactionFloorGetsACatchUp() throws {
        let net = try Net([Self.a, Self.b])
        var deltas: [Delta] = []
        for i in 0..<10 {
            let t = UInt64(i)
            deltas.append(try net.storage(0).commit(now: t) { r, d in try r.set(Self.path(i), .int(Int64(i)), now: t, into: &d) }!.delta)
        }
        _ = net.storage(0).commit(now: 20) { r, d in r.deleteDocument("notes", "d0", now: 20, into: &d) }
        for d in deltas.prefix(3) { _ = try net.storage(1).integrate(remote: d, now: 10) }
        net.storage(1).flush()
        try net.restart(0)
        try net.restart(1)
        let dropped = net.storage(0).compact(through: 6)
        #expect(dropped == 6)
        net.engine(0).compacted(through: dropped)

        net.connect(0, 1)
        let catchUps = net.messages(from: 0, to: 1).filter { if case .catchUp = $0 { true } else { false } }
        #expect(catchUps.count == 1)
        #expect(net.engine(0).stats.catchUpsSent == 1 && net.engine(1).stats.catchUpsReceived == 1)
        #expect(net.storage(1).state == net.storage(0).state)
        #expect(net.storage(1).state.value(Self.path(0)) == nil)  // the deletion reached B
        #expect(net.events(1).contains(.synced(Self.a)))
        #expect(net.engine(0).isQuiet)
        // Later changes stream as deltas again, and B can pass on what it got.
        try net.write(0, Self.path(20), .int(20))
        #expect(net.storage(1).state.value(Self.path(20)) != nil)
        #expect(net.changes(from: 0, to: 1).count == 1)
    }

    // MARK: Time

    @Test func aSilentSessionTimesOutAndALiveOneDoesNot() throws {
        let config = SyncConfig()
        let net = try Net([Self.a, Self.b], config: config)
        net.connect(0, 1)
        // Both tick and answer: pings keep the session alive well past the timeout.
        while net.now < 3 * config.sessionTimeout {
            net.now += 250
            net.tick(0)
            net.tick(1)
        }
        #expect(net.engine(0).liveSessions.count == 1 && net.engine(1).liveSessions.count == 1)
        #expect(net.messages(from: 0, to: 1).contains { if case .ping = $0 { true } else { false } })
        #expect(net.messages(from: 1, to: 0).contains { if case .pong = $0 { true } else { false } })
        #expect(net.engine(0).peers[Self.b]?.rtt != nil)

        // B goes silent: nothing reaches A any more.
        net.hold = true
        let heard = net.lastReceived[0] ?? 0
        net.now = heard + config.sessionTimeout - 1
        net.tick(0)
        #expect(net.engine(0).liveSessions.count == 1)
        net.now = heard + config.sessionTimeout
        net.tick(0)
        #expect(net.engine(0).liveSessions.isEmpty)
        #expect(net.messages(from: 0, to: 1).last == .goodbye(reason: .timeout))
        #expect(net.events(0).contains { if case .disconnected(Self.b, _) = $0 { true } else { false } })
    }

    @Test func aBusySessionSendsNoKeepAlivesOnlyRoundTripProbes() throws {
        let config = SyncConfig()
        let net = try Net([Self.a, Self.b], config: config)
        net.connect(0, 1)
        func pings(from i: Int, since start: Int) -> [UInt64] {
            var at: [UInt64] = []
            for s in net.sent[start...] where s.from == i {
                if case .ping = s.message { at.append(s.at) }
            }
            return at
        }
        // A writes every 500 ms for a minute: the traffic keeps the session alive, so the only
        // pings are the round-trip probes (one soon after the hello, then one per probe interval).
        let start = net.sent.count
        let end = net.now + 60_000
        var n = 0
        while net.now < end {
            net.now += 250
            if net.now % 500 == 0 {
                n += 1
                try net.write(0, Self.path(n), .int(Int64(n)))
            }
            net.tick(0)
            net.tick(1)
        }
        let busy = pings(from: 0, since: start)
        #expect(busy.count == Int(60_000 / SyncEngine.rttProbeInterval), "pings at \(busy)")
        #expect(net.engine(0).peers[Self.b]?.rtt != nil)
        #expect(net.engine(0).liveSessions.count == 1 && net.engine(1).liveSessions.count == 1)
        // Now both fall quiet: each still sends something (a ping, or a pong to the other's
        // ping) at least every ping interval (plus a tick), well within the peer's timeout.
        let quiet = net.sent.count
        let from = net.now
        while net.now < from + 10 * config.sessionTimeout {
            net.now += 250
            net.tick(0)
            net.tick(1)
        }
        for i in 0..<2 {
            var last = from
            var longest: UInt64 = 0
            for m in net.sent[quiet...] where m.from == i {
                longest = max(longest, m.at - last)
                last = m.at
            }
            longest = max(longest, net.now - last)
            #expect(longest <= config.pingInterval + 250, "node \(i): \(longest) ms without a message")
        }
        #expect(!pings(from: 0, since: quiet).isEmpty)
        #expect(net.engine(0).liveSessions.count == 1 && net.engine(1).liveSessions.count == 1)
    }

    @Test func antiEntropyAsksARandomPeerEveryIntervalWithJitter() throws {
        let config = SyncConfig()
        let net = try Net([Self.a, Self.b, Self.c], config: config)
        net.connect(0, 1)
        net.connect(0, 2)
        var rounds: [(at: UInt64, to: Int)] = []
        while net.now < 20 * config.antiEntropyInterval {
            net.now += 10
            let before = net.sent.count
            net.tick(0)
            for s in net.sent[before...] where s.from == 0 {
                if case .digest = s.message { rounds.append((net.now, s.to)) }
            }
            net.tick(1)
            net.tick(2)
        }
        let lo = config.antiEntropyInterval * 3 / 4
        let hi = config.antiEntropyInterval * 5 / 4 + 10
        var last: UInt64 = 0
        for r in rounds {
            #expect(r.at - last >= lo && r.at - last <= hi, "round at \(r.at) after \(last)")
            last = r.at
        }
        #expect(rounds.count >= 16 && rounds.count <= 27)
        #expect(Set(rounds.map(\.to)) == [1, 2])  // both peers get picked
        #expect(net.engine(0).stats.antiEntropyRounds == rounds.count)
        // In sync, a round is one 9-byte digest: nobody answers it with a vector.
        #expect(!net.sent.contains { s in s.to == 0 && { if case .syncRequest = s.message { true } else { false } }() })
        #expect(net.sent.allSatisfy { s in { if case .digest = s.message { s.size == 9 } else { true } }() })
    }

    /// A digest that differs (here: a change still in flight towards its sender) is answered
    /// with what the sender is known to lack (nothing: it is on its way) and a `sync-request`
    /// carrying only the entries not told yet; nothing is sent twice.
    @Test func aDifferentDigestIsAnsweredWithASyncRequestOfTheNewEntries() throws {
        let net = try Net([Self.a, Self.b])
        net.connect(0, 1)
        net.hold = true
        let before = net.sent.count
        try net.write(0, Self.path(1), .int(1))
        var rounds = 0
        while net.engine(1).stats.antiEntropyRounds == 0 && rounds < 1_000 {
            net.now += 10
            net.tick(1)
            rounds += 1
        }
        net.hold = false
        net.deliver()
        let fromA = net.sent[before...].filter { $0.from == 0 }.map(\.message)
        let request = fromA.compactMap { m -> VersionVector? in if case .syncRequest(let v) = m { v } else { nil } }
        #expect(request == [VersionVector([Self.a.scoped(to: "notes"): 1])], "A answered the digest with \(fromA)")
        #expect(net.changes(from: 0, to: 1).count == 1)
        #expect(net.storage(0).state == net.storage(1).state ? true : false)
    }
}
