import LatticeCRDT
import LatticeSync

/// The `cluster` fuzz harness (`Fuzz/Sources/cluster/`): the input bytes are a schedule for 3–5
/// ``SyncEngine``s over ``MemoryStorage``, driven step by step by a small driver in this file —
/// local writes, stream deliveries, ticks at later times, partitions, crashes and restarts,
/// compactions, connections opened and dropped, slow fsyncs. When the bytes run out everything
/// heals and the cluster runs to quiescence; then every replica must be equal and hold every
/// change any node committed (no loss), and no engine may have seen a change arrive after one
/// that depends on it.
///
/// The driver is deterministic and never traps; the test suite replays the harness's saved
/// inputs (`Fuzz/FailCases/cluster/`) through ``run(_:)``.
///
/// Schedule format: byte 0 picks the node count (`3 + b % 3`) and who dials whom (`b / 3 % 2`:
/// everyone, or a ring); byte 1 picks engine tunables (small windows, batches and queues push
/// the engine onto its rarer paths; bits 5–6 the lazy-push fan-out: 1, 2, 0 = flooding, 3). Then each step is an opcode byte and its operands; a
/// missing operand reads as 0. At most ``maxSteps`` steps and ``maxWrites`` writes are run.
///
/// | op % 16 | step | operands |
/// |---|---|---|
/// | 0–3 | local write (set, add, remove, increment, delete document) | node, what, value |
/// | 4–6 | deliver 1–4 stream messages (or a pending close) on a picked link end | pick |
/// | 7 | time advances, one node (or all) ticks | node and advance |
/// | 8 | a node's pending fsync completes (its held actions run) | pick |
/// | 9 | a pending dial completes (connects if both up and reachable) or fails | pick |
/// | 10 | a node is partitioned away / rejoins | node |
/// | 11 | a node crashes (power loss: unflushed appends and held actions lost) / restarts | node |
/// | 12 | a node compacts its log (peers: all, or the live sessions' only) | node |
/// | 13 / 14 | the network opens / drops a connection between two nodes | pair |
/// | 15 | time advances, every node ticks | advance |
///
/// Transport model: one TCP-like stream per connection, FIFO per direction, held across a
/// partition; before every step each sender is told whether its stream is stalled (two or more
/// messages waiting in its direction). An engine's `close` lets the other end receive what was sent before it, then the
/// close; a crash or a network drop discards the bytes in flight (a crash's other end learns of it
/// as a delivery; a drop tells both at once). `flush` holds the rest of the node's actions until
/// an fsync-completes step (all fsyncs complete at once while settling).
public enum ClusterFuzz {
    /// Steps taken from one input at most.
    public static let maxSteps = 200
    /// Local writes taken from one input at most.
    public static let maxWrites = 60

    /// Runs one schedule.
    /// - Parameter bytes: the schedule (any bytes).
    /// - Returns: nil when every invariant held, else a description of the violation.
    public static func run(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return nil }
        return FuzzDriver(bytes).run()
    }

    /// One schedule's full step log (message contents included), ending with the violation if
    /// any: for reading a failing input.
    /// - Parameter bytes: the schedule.
    /// - Returns: one line per step.
    public static func trace(_ bytes: [UInt8]) -> [String] {
        guard !bytes.isEmpty else { return [] }
        let driver = FuzzDriver(bytes)
        driver.tracing = true
        let violation = driver.run()
        return driver.log + (violation.map { ["VIOLATION: \($0)"] } ?? [])
    }

    /// What one schedule did (for tests and for reading a saved input): the counts of each kind
    /// of event and the final state's size.
    public struct Summary: Sendable, Equatable {
        public var nodes = 0, steps = 0, writes = 0, committedDots = 0, deliveries = 0, connections = 0
        public var crashes = 0, compactions = 0, flushesHeld = 0, settleRounds = 0, finalDots: UInt64 = 0
        public var violation: String?

        /// All zero.
        public init() {}
    }

    /// Runs one schedule and reports what happened.
    /// - Parameter bytes: the schedule.
    /// - Returns: the counts and the violation, if any.
    public static func summary(_ bytes: [UInt8]) -> Summary {
        guard !bytes.isEmpty else { return Summary() }
        let driver = FuzzDriver(bytes)
        var s = Summary()
        s.violation = driver.run()
        s.nodes = driver.nodes.count
        s.steps = driver.steps
        s.writes = driver.writes
        s.committedDots = driver.minted.count
        s.deliveries = driver.deliveries
        s.connections = Int(driver.nextConn / 2)
        s.crashes = driver.retired.count
        s.compactions = driver.compactions
        s.flushesHeld = driver.flushesHeld
        s.settleRounds = driver.settleRounds
        s.finalDots = driver.nodes.first?.storage.state.versionVector.total ?? 0
        return s
    }
}

/// Reads schedule bytes; past the end, `next` is nil and `byte` is 0.
private struct ByteScript {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func next() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func byte() -> Int { Int(next() ?? 0) }
}

private final class FuzzDriver {
    struct Node {
        let id: ReplicaID
        let storage: MemoryStorage
        var engine: SyncEngine?
        /// Bumps at every crash: dials of an older incarnation are void.
        var epoch = 0
        /// An fsync is under way: the rest of the action list that asked for it, and every later
        /// list, wait for it (a crash meanwhile loses them and the appends).
        var flushing = false
        var held: [ArraySlice<SyncAction>] = []
        /// Peers the node dials (`addPeer`).
        var wanted: [Int] = []
    }

    /// A stream connection (TCP): two ends, a FIFO per direction. `open[d]` is end d's socket;
    /// `queue[d]` holds the bytes travelling towards end d. When one end closes, the other still
    /// receives what was sent before, then the close; a reset (crash, network cut) drops the
    /// bytes.
    struct Link {
        var node: [Int]
        var conn: [ConnectionID]
        var open = [true, true]
        var queue: [[[UInt8]]] = [[], []]
    }

    struct Dial {
        var from: Int
        var to: Int
        var epoch: Int
    }

    var input: ByteScript
    var nodes: [Node] = []
    var now: UInt64 = 1_000
    var links: [ConnectionID: Link] = [:]  // keyed by the a-side conn
    var owner: [ConnectionID: (key: ConnectionID, end: Int)] = [:]
    var nextConn: ConnectionID = 1
    var dials: [Dial] = []
    var cut: Set<Int> = []
    var minted: [(node: Int, dot: Dot)] = []
    var retired: [SyncStats] = []
    var config = SyncConfig()
    var seed: UInt64 = 0
    /// In the settling phase fsyncs complete at once.
    var immediateFlush = false
    var failure: String?
    var log: [String] = []  // the last steps, for the failure message
    var tracing = false  // keep every step, with message contents
    var steps = 0, writes = 0, deliveries = 0, compactions = 0, flushesHeld = 0, settleRounds = 0

    static let collections: [Key] = ["knowledge", "memories"]
    static let advances: [UInt64] = [1, 10, 100, 250, 1_000, 2_100, 5_500, 8_100]

    init(_ bytes: [UInt8]) {
        input = ByteScript(bytes)
    }

    func fail(_ message: String) {
        if failure == nil { failure = message }
    }

    func note(_ s: @autoclosure () -> String) {
        log.append(s())
        if !tracing && log.count > 40 { log.removeFirst(log.count - 40) }
    }

    /// A message for the trace.
    func describe(_ bytes: [UInt8]) -> String {
        guard tracing else { return "" }
        guard let m = try? Message(decoding: bytes) else { return " <undecodable>" }
        switch m {
        case .hello(let h): return " hello \(h.vector)"
        case .deltas(let batch, let changes):
            let contexts = changes.map { (try? Delta(decoding: $0)).map { "\($0.context.vector)+\($0.context.cloud.sorted())" } ?? "?" }
            return " deltas #\(batch) \(contexts)"
        case .catchUp(let batch, let bytes):
            return " catch-up #\(batch) \((try? StateDelta(decoding: bytes)).map { "\($0.context.vector)+\($0.context.cloud.sorted())" } ?? "?")"
        case .ack(let batch, let v): return " ack #\(batch) \(v)"
        case .synced(let v): return " synced \(v)"
        case .syncRequest(let v): return " sync-request \(v)"
        default: return " \(m.name)"
        }
    }

    // MARK: Setup

    func run() -> String? {
        let header = input.byte()
        let n = 3 + header % 3
        let ring = (header / 3) % 2 == 1
        let tunables = input.byte()
        if tunables & 1 != 0 { config.window = 300 }
        if tunables & 2 != 0 { config.batchBytes = 80 }
        if tunables & 4 != 0 { config.maxQueue = 3 }
        switch (tunables >> 3) % 4 {
        case 1: config.recentChanges = 0
        case 2: config.recentChanges = 2
        default: break
        }
        // Lazy push: with 3–5 nodes a fan-out of 3 reaches every other session, so most inputs
        // forward whole to one session and announce to the rest.
        switch (tunables >> 5) % 4 {
        case 1: config.eagerFanout = 2
        case 2: config.eagerFanout = 0
        case 3: config.eagerFanout = 3
        default: config.eagerFanout = 1
        }
        seed = UInt64(tunables) << 8 | UInt64(header)
        for i in 0..<n {
            let id = ReplicaID(0x1000 + UInt64(i) &* 0x9E37_79B9)
            var node = Node(id: id, storage: MemoryStorage(replicaID: id))
            node.wanted = ring ? [(i + 1) % n, (i + n - 1) % n].filter { $0 != i } : (0..<n).filter { $0 != i }
            nodes.append(node)
        }
        for i in 0..<n { start(i) }

        while failure == nil, steps < ClusterFuzz.maxSteps, let op = input.next() {
            steps += 1
            step(op)
        }
        if failure == nil { settle() }
        guard let failure else { return nil }
        return "\(failure) [N=\(n) ring=\(ring) tunables=\(tunables) steps=\(steps) writes=\(writes) t=\(now); last steps: \(log.joined(separator: "; "))]"
    }

    func start(_ i: Int) {
        guard nodes[i].engine == nil else { return }
        do {
            let engine = try SyncEngine(node: nodes[i].id, storage: nodes[i].storage, config: config, seed: seed, now: now)
            engine.checkDuplicates = true
            nodes[i].engine = engine
            for j in nodes[i].wanted { run(i, engine.addPeer(nodes[j].id, now: now)) }
        } catch {
            fail("node \(i) could not start its engine: \(error)")
        }
    }

    func index(of id: ReplicaID) -> Int? { nodes.firstIndex { $0.id == id } }

    func reachable(_ a: Int, _ b: Int) -> Bool { cut.contains(a) == cut.contains(b) }

    func up(_ i: Int) -> Bool { nodes[i].engine != nil }

    // MARK: Steps

    /// Reports stalls as a node's driver does (`SyncEngine.transportStalled`): here, a stream
    /// with two or more messages waiting towards the other end is stalled, one with fewer flows.
    func reportStalls() {
        for key in links.keys.sorted() {
            guard let link = links[key] else { continue }
            for e in 0..<2 where link.open[e] {
                nodes[link.node[e]].engine?.transportStalled(link.conn[e], link.queue[1 - e].count >= 2)
            }
        }
    }

    func step(_ op: UInt8) {
        let n = nodes.count
        reportStalls()
        switch op % 16 {
        case 0...3:
            let k = input.byte() % n
            let what = input.byte()
            let value = input.byte()
            guard writes < ClusterFuzz.maxWrites else { return }
            writes += 1
            write(k, kind: what % 7, collection: (what / 5) % 2, document: (what / 10) % 4, value: value)
        case 4...6:
            let pick = input.byte()
            let count = 1 + Int(op >> 4) % 4
            for _ in 0..<count {
                let items = deliverable()
                guard !items.isEmpty else { break }
                let (key, end) = items[pick % items.count]
                deliver(key, end)
            }
        case 7:
            let b = input.byte()
            now += Self.advances[(b / 8) % Self.advances.count]
            let k = b % 8
            note("tick \(k < n ? String(k) : "all") at \(now)")
            if k < n {
                tick(k)
            } else {
                for i in 0..<n { tick(i) }
            }
        case 8:
            let flushing = (0..<n).filter { nodes[$0].flushing }
            let b = input.byte()
            guard !flushing.isEmpty else { return }
            completeFlush(flushing[b % flushing.count])
        case 9:
            let b = input.byte()
            guard !dials.isEmpty else { return }
            resolveDial(at: (b >> 1) % dials.count, forceFail: b & 1 == 1 && b & 2 == 2)
        case 10:
            let k = input.byte() % n
            if cut.contains(k) { cut.remove(k) } else { cut.insert(k) }
            note("partition \(cut.sorted())")
        case 11:
            let k = input.byte() % n
            if up(k) {
                crash(k)
            } else {
                note("restart \(k)")
                start(k)
            }
        case 12:
            let b = input.byte()
            compact(b % n, expireAbsent: (b / n) % 2 == 1)
        case 13:
            let b = input.byte()
            let (i, j) = pair(b)
            connect(i, j)
        case 14:
            let b = input.byte()
            let (i, j) = pair(b)
            disconnect(i, j)
        default:
            // Time passes for everyone.
            let b = input.byte()
            now += Self.advances[b % Self.advances.count]
            note("tick all at \(now)")
            for i in 0..<n { tick(i) }
        }
    }

    func pair(_ b: Int) -> (Int, Int) {
        let n = nodes.count
        let i = b % n
        let j = (i + 1 + (b / n) % (n - 1)) % n
        return (i, j)
    }

    func write(_ i: Int, kind: Int, collection c: Int, document d: Int, value: Int) {
        guard let engine = nodes[i].engine else { return }
        let storage = nodes[i].storage
        let collection = Self.collections[c]
        let doc = Key("d\(d)")
        let wall = 1_700_000_000_000 + now
        let before = storage.state.context
        let result = try? storage.commit(now: wall) { r, delta in
            switch kind {
            case 0: try r.set(FieldPath(collection, doc, "title"), .string("v\(value)"), now: wall, into: &delta)
            case 1: try r.add(FieldPath(collection, doc, "tags"), [.string("t\(value % 4)")], now: wall, into: &delta)
            case 2: try r.remove(FieldPath(collection, doc, "tags"), [.string("t\(value % 4)")], now: wall, into: &delta)
            case 3: try r.increment(FieldPath(collection, doc, "uses"), by: Int64(value % 7) - 3, now: wall, into: &delta)
            case 4, 5: try Cluster.editText(&r, FieldPath(collection, doc, "body"), UInt64(value.magnitude), now: wall, into: &delta)
            default: r.deleteDocument(collection, doc, now: wall, into: &delta)
            }
        }
        note("write \(i) kind \(kind) \(collection)/\(doc)")
        guard let (sequence, delta) = result ?? nil else { return }
        // The dots this commit minted (committed durably: they must never be lost).
        let after = storage.state.context
        for author in after.replicas {
            var c = before.vector[author] + 1
            let top = after.maxCounter(of: author)
            var budget = 1_000
            while c <= top && budget > 0 {
                let dot = Dot(author, c)
                if after.contains(dot) && !before.contains(dot) { minted.append((i, dot)) }
                c += 1
                budget -= 1
            }
        }
        note("  committed at seq \(sequence): \(delta.context.vector)+\(delta.context.cloud.sorted())")
        run(i, engine.localChange(sequence: sequence, delta: delta, now: now))
    }

    func tick(_ i: Int) {
        guard let engine = nodes[i].engine else { return }
        run(i, engine.tick(now: now))
    }

    func crash(_ i: Int) {
        note("crash \(i)")
        if let e = nodes[i].engine { retired.append(e.stats) }
        nodes[i].engine = nil
        nodes[i].epoch += 1
        nodes[i].flushing = false
        nodes[i].held = []
        nodes[i].storage.crash()
        // Power loss: the connections die with their bytes; the other ends learn of it later.
        for key in links.keys.sorted() {
            guard var link = links[key] else { continue }
            for end in 0..<2 where link.node[end] == i && link.open[end] {
                link.open[end] = false
                link.queue = [[], []]
            }
            store(key, link)
        }
    }

    func compact(_ i: Int, expireAbsent: Bool) {
        let storage = nodes[i].storage
        let peers: [ReplicaID]
        if expireAbsent, let engine = nodes[i].engine {
            // Peers not connected now count as expired: they get a catch-up from state later.
            peers = engine.liveSessions.map(\.peer)
        } else {
            peers = nodes.indices.filter { $0 != i }.map { nodes[$0].id }
        }
        let through = storage.stableSequence(peers: peers)
        let dropped = storage.compact(through: through)
        note("compact \(i) through \(dropped) (\(expireAbsent ? "live peers" : "all peers"))")
        if dropped > 0 {
            compactions += 1
            nodes[i].engine?.compacted(through: dropped)
        }
    }

    // MARK: Connections

    /// Opens a connection from `i` (outbound) to `j`, if both are up and can reach each other.
    @discardableResult
    func connect(_ i: Int, _ j: Int) -> Bool {
        guard i != j, let a = nodes[i].engine, let b = nodes[j].engine, reachable(i, j) else { return false }
        let ca = nextConn, cb = nextConn + 1
        nextConn += 2
        links[ca] = Link(node: [i, j], conn: [ca, cb])
        owner[ca] = (ca, 0)
        owner[cb] = (ca, 1)
        note("connect \(i)→\(j) conns \(ca)/\(cb)")
        run(i, a.connected(ca, peer: nodes[j].id, outbound: true, now: now))
        // The first call's actions may have closed the link already; the engine copes either way.
        run(j, b.connected(cb, peer: nodes[i].id, outbound: false, now: now))
        return true
    }

    /// The network drops every connection between `i` and `j`: both ends learn of it at once.
    func disconnect(_ i: Int, _ j: Int) {
        note("disconnect \(i)-\(j)")
        for key in links.keys.sorted() {
            guard var link = links[key], Set(link.node) == Set([i, j]) else { continue }
            link.queue = [[], []]
            let wasOpen = link.open
            link.open = [false, false]
            store(key, link)
            for end in 0..<2 where wasOpen[end] {
                let node = link.node[end]
                if let engine = nodes[node].engine {
                    run(node, engine.disconnected(link.conn[end], now: now, reason: "connection reset"))
                }
            }
        }
    }

    func store(_ key: ConnectionID, _ link: Link) {
        if !link.open[0] && !link.open[1] {
            links[key] = nil
            owner[link.conn[0]] = nil
            owner[link.conn[1]] = nil
        } else {
            links[key] = link
        }
    }

    /// What can be delivered now: (link, end to deliver to). An end receives the next queued
    /// message, or, once its queue is empty and the other end closed, the close.
    func deliverable() -> [(ConnectionID, Int)] {
        var out: [(ConnectionID, Int)] = []
        for key in links.keys.sorted() {
            guard let link = links[key], reachable(link.node[0], link.node[1]) else { continue }
            for end in 0..<2 where link.open[end] {
                if !link.queue[end].isEmpty || !link.open[1 - end] { out.append((key, end)) }
            }
        }
        return out
    }

    func deliver(_ key: ConnectionID, _ end: Int) {
        guard var link = links[key], link.open[end] else { return }
        let node = link.node[end]
        let conn = link.conn[end]
        if !link.queue[end].isEmpty {
            let bytes = link.queue[end].removeFirst()
            links[key] = link
            deliveries += 1
            note("deliver \(link.node[1 - end])→\(node) on \(conn)\(describe(bytes))")
            if let engine = nodes[node].engine {
                let before = engine.stats
                run(node, engine.receive(bytes, on: conn, channel: .stream, now: now))
                if tracing && engine.stats != before {
                    let s = engine.stats
                    note("  node \(node): integrated \(s.integrated), duplicates \(s.duplicates), causality violations \(s.causalityViolations), state \(nodes[node].storage.state.context.vector)")
                }
            }
        } else if !link.open[1 - end] {
            link.open[end] = false
            store(key, link)
            note("close reaches \(node) on \(conn)")
            if let engine = nodes[node].engine {
                run(node, engine.disconnected(conn, now: now, reason: "closed by the peer"))
            }
        }
    }

    func resolveDial(at index: Int, forceFail: Bool) {
        let d = dials.remove(at: index)
        guard nodes[d.from].epoch == d.epoch, let engine = nodes[d.from].engine else { return }
        if forceFail || !connect(d.from, d.to) {
            note("dial \(d.from)→\(d.to) failed")
            engine.dialFailed(nodes[d.to].id, now: now, reason: "unreachable")
        }
    }

    // MARK: Actions

    /// Executes a node's actions in order (after any fsync under way).
    func run(_ i: Int, _ actions: [SyncAction]) {
        if let stats = nodes[i].engine?.stats {
            if stats.causalityViolations > 0 {
                fail("node \(i) saw a change arrive after a change that depends on it (causal delivery broken)")
            } else if stats.violations > 0 {
                fail("node \(i) counted a protocol violation in engine-made traffic")
            }
        }
        guard !actions.isEmpty else { return }
        if nodes[i].flushing {
            nodes[i].held.append(actions[...])
        } else {
            execute(i, actions[...])
        }
    }

    func completeFlush(_ i: Int) {
        note("fsync done on \(i)")
        nodes[i].storage.flush()
        nodes[i].flushing = false
        while !nodes[i].flushing, !nodes[i].held.isEmpty {
            execute(i, nodes[i].held.removeFirst())
        }
    }

    /// Executes actions; never calls an engine (so never re-enters).
    func execute(_ i: Int, _ actions: ArraySlice<SyncAction>) {
        for k in actions.indices {
            switch actions[k] {
            case .flush:
                if immediateFlush {
                    nodes[i].storage.flush()
                } else {
                    nodes[i].flushing = true
                    flushesHeld += 1
                    let rest = actions[(k + 1)...]
                    if !rest.isEmpty { nodes[i].held.insert(rest, at: 0) }
                    return
                }
            case .send(let conn, let bytes, let channel):
                guard channel == .stream else { continue }  // datagrams: presence only, may be lost
                guard let (key, end) = owner[conn], var link = links[key], link.node[end] == i else { continue }
                guard link.open[end], link.open[1 - end] else { continue }
                link.queue[1 - end].append(bytes)
                links[key] = link
            case .dial(let peer):
                guard let j = index(of: peer) else { continue }
                dials.append(Dial(from: i, to: j, epoch: nodes[i].epoch))
            case .close(let conn, _):
                guard let (key, end) = owner[conn], var link = links[key], link.node[end] == i, link.open[end] else { continue }
                link.open[end] = false
                link.queue[end] = []
                store(key, link)
            case .event:
                break
            }
        }
    }

    // MARK: Settling and checks

    /// Heals everything, restarts every node, connects every pair and runs ticks (every 100 ms)
    /// and deliveries until the cluster is quiet and equal, for up to 200 virtual seconds.
    func settle() {
        note("settle")
        cut = []
        immediateFlush = true
        for i in nodes.indices where nodes[i].flushing { completeFlush(i) }
        for i in nodes.indices where !up(i) { start(i) }
        while !dials.isEmpty { resolveDial(at: 0, forceFail: false) }
        for i in nodes.indices {
            for j in nodes.indices where i < j {
                let linked = nodes[i].engine?.liveSessions.contains { $0.peer == nodes[j].id } ?? false
                if !linked { connect(i, j) }
            }
        }
        guard failure == nil else { return }
        var quiet = false
        for _ in 0..<2_000 {
            settleRounds += 1
            now += 100
            for i in nodes.indices { tick(i) }
            var budget = 50_000
            while budget > 0 {
                while !dials.isEmpty { resolveDial(at: 0, forceFail: false) }
                let items = deliverable()
                if items.isEmpty { break }
                for (key, end) in items where budget > 0 {
                    budget -= 1
                    deliver(key, end)
                }
            }
            if budget == 0 {
                fail("deliveries never quiesce within a round (a message storm)")
                return
            }
            if failure != nil { return }
            if converged() {
                quiet = true
                break
            }
        }
        check(quiet: quiet)
    }

    func converged() -> Bool {
        guard nodes.allSatisfy({ $0.engine?.isQuiet ?? false }) else { return false }
        let first = nodes[0].storage.state
        for n in nodes.dropFirst() where n.storage.state.versionVector != first.versionVector { return false }
        for n in nodes.dropFirst() where n.storage.state != first { return false }
        return minted.allSatisfy { m in nodes.allSatisfy { $0.storage.state.context.contains(m.dot) } }
    }

    func check(quiet: Bool) {
        for s in retired + nodes.compactMap({ $0.engine?.stats }) {
            if s.causalityViolations > 0 {
                return fail("\(s.causalityViolations) change(s) arrived after a change that depends on them (causal delivery broken)")
            }
            if s.violations > 0 {
                return fail("an engine counted \(s.violations) protocol violation(s) from engine-made traffic")
            }
        }
        for m in minted {
            for (i, n) in nodes.enumerated() where !n.storage.state.context.contains(m.dot) {
                return fail("change \(m.dot) committed on node \(m.node) is missing on node \(i)")
            }
        }
        let a = nodes[0].storage.state
        for (i, n) in nodes.enumerated().dropFirst() where n.storage.state != a {
            let b = n.storage.state
            var detail = "version vectors \(a.versionVector == b.versionVector ? "equal" : "differ: \(a.versionVector) vs \(b.versionVector)")"
            outer: for c in Set(a.collections + b.collections).sorted() {
                for d in Set(a.documentIDs(in: c) + b.documentIDs(in: c)).sorted() where a.document(c, d) != b.document(c, d) {
                    detail += "; first differing document \(c)/\(d): node 0 \(String(describing: a.document(c, d))) vs node \(i) \(String(describing: b.document(c, d)))"
                    break outer
                }
            }
            return fail("replicas did not converge within 200 s after healing: node \(i) differs from node 0 (\(detail))")
        }
        if !quiet {
            let busy = nodes.indices.filter { !(nodes[$0].engine?.isQuiet ?? false) }
            fail("replicas are equal but engines \(busy) never went quiet within 200 s (queued or unacknowledged sends)")
        }
    }
}
