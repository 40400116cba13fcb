public import LatticeCRDT
public import LatticeSync

/// How simulated nodes are wired.
public enum Topology: String, Sendable, CaseIterable {
    /// Everyone dials everyone.
    case full
    /// Node i dials i+1 (mod N): changes must cross many hops.
    case ring
    /// A ring plus two random chords per node.
    case random
}

/// One simulation's parameters. Times are virtual milliseconds.
public struct SimulationConfig: Sendable {
    public var nodes = 5
    public var seed: UInt64 = 1
    /// Virtual time during which writes and faults happen.
    public var duration: UInt64 = 20_000
    /// Datagram loss probability; on the stream, the chance a message needs a retransmission.
    public var loss = 0.0
    /// Datagram duplication probability.
    public var duplication = 0.0
    /// Random partitions (each isolates a random group of nodes for a while).
    public var partitions = 0
    /// Node crashes (each loses what was not durable, then restarts).
    public var crashes = 0
    public var topology = Topology.full
    /// One-way latency per link: base plus uniform jitter (jitter reorders datagrams).
    public var latency: UInt64 = 5
    public var jitter: UInt64 = 5
    /// Writes per node per virtual second during `duration`.
    public var writesPerSecond = 5.0
    /// Distinct documents per collection (few → many conflicts).
    public var documents = 8
    /// Extra writes made while a node is partitioned away count as offline work.
    public var compactEvery: UInt64 = 0
    /// How long after the faults heal the cluster may take to converge before it is a failure.
    public var settleLimit: UInt64 = 300_000
    /// How often convergence is checked once the faults healed (virtual ms).
    public var checkInterval: UInt64 = 250
    /// Verify causal delivery at every skipped duplicate (O(state) each; for small runs).
    public var checkCausality = true
    /// Engine tunables for every node.
    public var engine = SyncConfig()
    /// A scripted partition: (start, end, nodes cut off from the rest).
    public var scripted: [(start: UInt64, end: UInt64, group: Set<Int>)] = []

    public init() {}
}

/// What a run measured and whether it held its invariants.
public struct SimulationReport: Sendable {
    public var seed: UInt64
    public var nodes: Int
    /// Virtual ms from the end of the faults until every replica was equal (nil: never).
    public var convergeTime: UInt64?
    /// Virtual time at the end.
    public var endTime: UInt64
    /// Virtual time of the last write, and of convergence (absolute).
    public var lastWrite: UInt64 = 0
    public var convergedAt: UInt64?
    public var writes = 0
    public var messages = 0
    public var bytes = 0
    /// Datagrams dropped by the lossy network (0 while the engine sends none: its changes,
    /// pings and anti-entropy all go on streams).
    public var datagramsLost = 0
    /// Stream segments the lossy network made the sender retransmit (each costs a timeout).
    public var retransmissions = 0
    public var crashes = 0
    public var partitions = 0
    public var peakQueue = 0
    public var peakInFlight = 0
    public var catchUpsSent = 0
    public var antiEntropyRounds = 0
    /// Changes that reached a node that already had them.
    public var duplicates = 0
    /// Bytes sent (with transport overhead) by message type byte (Docs/PROTOCOL.md §3).
    public var bytesByType: [UInt8: Int] = [:]
    public var violations: [String] = []
    /// Encoded bytes of every change written (the payload replication carries).
    public var payloadBytes = 0
    /// How sampled changes spread (see ``Spread``).
    public var spread = Spread()
    /// Live sessions of the writing node, summed at every write (mean = this / writes).
    public var sessionsAtWrites = 0

    public var ok: Bool { violations.isEmpty }

    /// Bytes the whole cluster sent per change per node, divided by the change's own bytes.
    public var overhead: Double {
        guard writes > 0, payloadBytes > 0, nodes > 0 else { return 0 }
        return Double(bytes) / Double(nodes) / Double(payloadBytes)
    }

    /// The mean live sessions a node had when it wrote: the fan-out a change starts with.
    public var meanSessions: Double { writes > 0 ? Double(sessionsAtWrites) / Double(writes) : 0 }
}

/// Per-change spread, from sampled writes (probes): the virtual ms and the forwarding hops
/// (gossip rounds) until every node held the change. A node's hop count is its sender's + 1;
/// the writer's is 0. First arrivals only (a crash that loses an undurable copy is not
/// counted again).
public struct Spread: Sendable {
    /// Per probe that reached every node: ms from the write until the last node had it.
    public var milliseconds: [UInt64] = []
    /// Per probe that reached every node: the largest hop count.
    public var hops: [Int] = []
    /// Probes that had not reached every node when the run ended.
    public var incomplete = 0

    /// The q-quantile (0...1) of `values`, nearest rank.
    public static func quantile<T: Comparable>(_ values: [T], _ q: Double) -> T? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}

/// A deterministic cluster: N engines over ``MemoryStorage``, a virtual clock and a virtual
/// network. Every choice comes from one seeded generator and every iteration is in sorted order,
/// so a seed replays a run exactly.
public final class Cluster {
    enum Event {
        case tick(Int)
        case write(Int)
        case deliver(from: Int, to: Int, conn: ConnectionID, bytes: [UInt8], channel: Channel, epoch: Int)
        case resume(Int, epoch: Int, actions: ArraySlice<SyncAction>)
        case streamReady(ConnectionID, towardsB: Bool)
        case stallCheck(ConnectionID, towardsB: Bool)
        case connectAttempt(from: Int, to: Int, epoch: Int)
        case dialFailed(from: Int, to: Int, epoch: Int)
        case closed(node: Int, conn: ConnectionID, reason: String, epoch: Int)
        case crash(Int)
        case restart(Int)
        case partition(Set<Int>)
        case heal
        case compact(Int)
    }

    struct Node {
        var id: ReplicaID
        var storage: MemoryStorage
        var engine: SyncEngine?
        var epoch = 0  // bumps on crash: events for an older incarnation are dropped
        var flushing = false
        var waiting: [ArraySlice<SyncAction>] = []
        var neighbours: [Int] = []
    }

    struct Link {
        var a: (node: Int, conn: ConnectionID)
        var b: (node: Int, conn: ConnectionID)
        var open = true
        /// Stream bytes in flight per direction, in order.
        var toB = Inbox()
        var toA = Inbox()
        /// Whether the sender was told its stream is stalled, per direction, and whether a
        /// check is scheduled (one at a time: a stalled stream's sends schedule none).
        var stalledToB = false
        var stalledToA = false
        var checkingToB = false
        var checkingToA = false
    }

    /// How long sent stream bytes wait undelivered before the sender's driver reports the stream
    /// stalled (as the node does when the oldest unacknowledged byte waits this long; a healthy
    /// link delivers within its latency and jitter).
    static let stallNotice: UInt64 = 50

    public let config: SimulationConfig
    private var rng: SyncRandom
    private var nodes: [Node] = []
    private var queue = EventQueue<Event>()
    private var now: UInt64 = 0
    private var links: [ConnectionID: ConnectionID] = [:]  // conn → link key (the a-side conn)
    private var linkTable: [ConnectionID: Link] = [:]
    private var nextConn: ConnectionID = 1
    private var cut: Set<Int> = []  // nodes currently partitioned from the rest
    private var scriptedCut: Set<Int> = []
    private var acknowledged: [Dot] = []
    private var report: SimulationReport
    private let collections: [Key] = ["knowledge", "memories"]
    private var healed = false
    private var nextCheck: UInt64 = 0
    private var retired: [SyncStats] = []  // stats of engines lost in crashes

    /// A sampled write being followed until every node holds it.
    struct Probe {
        var dot: Dot
        var at: UInt64
        var hops: [UInt8]  // per node; `unreached` until it arrives
        var reached = 1
        var maxHops = 0
    }
    static let unreached = UInt8.max
    private var probes: [Probe] = []
    /// Open probes by the change's dot (removed once it reached every node).
    private var probeOf: [Dot: Int] = [:]
    private var probeStride = 1
    /// The node whose message is being delivered (the sender of what is integrated now).
    private var deliveringFrom: Int?

    /// Builds the cluster (nodes, topology, fault schedule).
    public init(_ config: SimulationConfig) {
        self.config = config
        rng = SyncRandom(seed: config.seed)
        report = SimulationReport(seed: config.seed, nodes: config.nodes, endTime: 0)
        let n = max(config.nodes, 1)
        for i in 0..<n {
            let id = ReplicaID(0x1000 + UInt64(i) &* 0x9E37_79B9)
            nodes.append(Node(id: id, storage: MemoryStorage(replicaID: id)))
        }
        for i in 0..<n {
            var peers: Set<Int> = []
            switch config.topology {
            case .full:
                for j in 0..<n where j != i { peers.insert(j) }
            case .ring:
                if n > 1 {
                    peers.insert((i + 1) % n)
                    peers.insert((i + n - 1) % n)
                }
            case .random:
                if n > 1 {
                    peers.insert((i + 1) % n)
                    peers.insert((i + n - 1) % n)
                }
            }
            nodes[i].neighbours = peers.sorted()
        }
        if config.topology == .random && n > 3 {
            for i in 0..<n {
                for _ in 0..<2 {
                    let j = Int(rng.next() % UInt64(n))
                    if j != i && !nodes[i].neighbours.contains(j) {
                        nodes[i].neighbours.append(j)
                        nodes[j].neighbours.append(i)
                    }
                }
            }
            for i in 0..<n { nodes[i].neighbours.sort() }
        }
        // About 256 probes per run, spread over its writes.
        let expected = Double(n) * config.writesPerSecond * Double(config.duration) / 1_000
        probeStride = max(1, Int(expected / 256))
        for i in 0..<n {
            nodes[i].storage.onIntegrate = { [unowned self] remote, catchUp in self.integrated(at: i, remote, catchUp) }
        }
        for i in 0..<n {
            start(i)
            schedule(UInt64(rng.next() % 100), .tick(i))
            if config.writesPerSecond > 0 { schedule(nextWriteDelay(), .write(i)) }
            if config.compactEvery > 0 { schedule(config.compactEvery, .compact(i)) }
        }
        // Faults, spread over the duration.
        for _ in 0..<config.partitions {
            let start = rng.next() % max(config.duration, 1)
            let length = 1_000 + rng.next() % max(config.duration / 4, 1)
            var group: Set<Int> = []
            let size = 1 + Int(rng.next() % UInt64(max(n / 2, 1)))
            while group.count < min(size, n - 1) { group.insert(Int(rng.next() % UInt64(n))) }
            schedule(start, .partition(group))
            schedule(min(start + length, config.duration), .heal)
        }
        for (start, end, group) in config.scripted {
            schedule(start, .partition(group))
            schedule(end, .heal)
        }
        // Crash windows never overlap on one node (a crash of a node that is down would be
        // lost, and the earlier window's restart would end the later one early): a window that
        // would is moved after that node's last one, or to another node when that is too late;
        // a crash that fits nowhere before the end is not made (the report counts those made).
        var down: [Int: [(start: UInt64, end: UInt64)]] = [:]
        for _ in 0..<config.crashes {
            let drawn = rng.next() % max(config.duration, 1)
            let first = Int(rng.next() % UInt64(n))
            let length = 500 + rng.next() % 5_000
            var placed: (node: Int, at: UInt64)?
            for attempt in 0..<n {
                let candidate = (first + attempt) % n
                let windows = down[candidate] ?? []
                var start = drawn
                if windows.contains(where: { start <= $0.end && $0.start <= start + length }) {
                    start = (windows.map(\.end).max() ?? 0) + 1
                }
                if start < config.duration {
                    placed = (candidate, start)
                    break
                }
            }
            guard let (node, at) = placed else { continue }
            let end = min(at + length, config.duration)
            down[node, default: []].append((at, end))
            schedule(at, .crash(node))
            schedule(end, .restart(node))
        }
    }

    private func nextWriteDelay() -> UInt64 {
        let mean = 1_000 / max(config.writesPerSecond, 0.001)
        return 1 + rng.next() % UInt64(max(2 * mean, 2))
    }

    private func schedule(_ delay: UInt64, _ e: Event) { queue.push(now + delay, e) }

    private func start(_ i: Int) {
        do {
            let engine = try SyncEngine(node: nodes[i].id, storage: nodes[i].storage, config: config.engine, seed: config.seed, now: now)
            nodes[i].engine = engine
            engine.checkDuplicates = config.checkCausality
            for j in nodes[i].neighbours { run(i, engine.addPeer(nodes[j].id, now: now)) }
        } catch {
            report.violations.append("node \(i) could not start its engine: \(error)")
        }
    }

    private func index(of id: ReplicaID) -> Int? { nodes.firstIndex { $0.id == id } }

    private func reachable(_ a: Int, _ b: Int) -> Bool {
        let blocked = cut.union(scriptedCut)
        return blocked.contains(a) == blocked.contains(b)
    }

    // MARK: Running

    /// Runs to the end: writes and faults for `duration`, then heals everything and waits for
    /// convergence; checks the invariants.
    public func run() -> SimulationReport {
        while let (t, e) = queue.pop() {
            now = t
            if now >= config.duration && !healed {
                healAll()
            }
            handle(e)
            if healed, now >= nextCheck {
                nextCheck = now + config.checkInterval
                if converged() {
                    report.convergeTime = now - config.duration
                    report.convergedAt = now
                    break
                }
            }
            if now > config.duration + config.settleLimit { break }
        }
        report.endTime = now
        report.spread.incomplete = probeOf.count
        check()
        return report
    }

    private func healAll() {
        healed = true
        cut = []
        scriptedCut = []
        for i in nodes.indices where nodes[i].engine == nil { start(i) }
    }

    private func handle(_ e: Event) {
        switch e {
        case .tick(let i):
            if let engine = nodes[i].engine { run(i, engine.tick(now: now)) }
            schedule(100, .tick(i))
        case .write(let i):
            if now < config.duration {
                write(i)
                schedule(nextWriteDelay(), .write(i))
            }
        case .deliver(let from, let to, let conn, let bytes, let channel, let epoch):
            guard nodes[to].epoch == epoch, let engine = nodes[to].engine else { return }
            deliveringFrom = from
            run(to, engine.receive(bytes, on: conn, channel: channel, now: now))
            deliveringFrom = nil
        case .stallCheck(let key, let towardsB):
            if towardsB { linkTable[key]?.checkingToB = false } else { linkTable[key]?.checkingToA = false }
            checkStall(key, towardsB: towardsB)
        case .streamReady(let key, let towardsB):
            defer {
                // Delivered what was due: a stalled stream may flow again.
                if let link = linkTable[key], towardsB ? link.stalledToB : link.stalledToA { checkStall(key, towardsB: towardsB) }
            }
            // TCP: deliver in order whatever is due; across a partition it keeps retransmitting,
            // so the head (and everything behind it) waits.
            while let open = linkTable[key]?.open, open {
                guard let head = towardsB ? linkTable[key]?.toB.first : linkTable[key]?.toA.first, head.at <= now,
                    let ends = linkTable[key].map({ ($0.a, $0.b) })
                else { return }
                let from = towardsB ? ends.0 : ends.1
                let to = towardsB ? ends.1 : ends.0
                guard reachable(from.node, to.node) else {
                    queue.push(now + 500, .streamReady(key, towardsB: towardsB))
                    return
                }
                if towardsB { linkTable[key]?.toB.removeFirst() } else { linkTable[key]?.toA.removeFirst() }
                guard nodes[to.node].epoch == head.epoch, let engine = nodes[to.node].engine else { continue }
                deliveringFrom = from.node
                run(to.node, engine.receive(head.bytes, on: to.conn, channel: .stream, now: now))
                deliveringFrom = nil
            }
        case .resume(let i, let epoch, let actions):
            guard nodes[i].epoch == epoch else { return }
            resume(i, actions)
        case .connectAttempt(let from, let to, let epoch):
            guard nodes[from].epoch == epoch, let engine = nodes[from].engine else { return }
            guard let target = nodes[to].engine, reachable(from, to) else {
                engine.dialFailed(nodes[to].id, now: now, reason: "unreachable")
                return
            }
            let ca = nextConn, cb = nextConn + 1
            nextConn += 2
            linkTable[ca] = Link(a: (from, ca), b: (to, cb))
            links[ca] = ca
            links[cb] = ca
            run(from, engine.connected(ca, peer: nodes[to].id, outbound: true, now: now))
            run(to, target.connected(cb, peer: nodes[from].id, outbound: false, now: now))
        case .dialFailed(let from, let to, let epoch):
            guard nodes[from].epoch == epoch, let engine = nodes[from].engine else { return }
            engine.dialFailed(nodes[to].id, now: now, reason: "unreachable")
        case .closed(let node, let conn, let reason, let epoch):
            guard nodes[node].epoch == epoch, let engine = nodes[node].engine else { return }
            run(node, engine.disconnected(conn, now: now, reason: reason))
        case .crash(let i):
            guard nodes[i].engine != nil else { return }
            report.crashes += 1
            if let e = nodes[i].engine { retired.append(e.stats) }
            nodes[i].engine = nil
            nodes[i].epoch += 1
            nodes[i].flushing = false
            nodes[i].waiting = []
            nodes[i].storage.crash()
            // The kernel resets its connections: the other ends notice after a latency.
            for (key, link) in linkTable.sorted(by: { $0.key < $1.key }) where link.open && (link.a.node == i || link.b.node == i) {
                linkTable[key]?.open = false
                let other = link.a.node == i ? link.b : link.a
                queue.push(now + config.latency, .closed(node: other.node, conn: other.conn, reason: "connection reset", epoch: nodes[other.node].epoch))
            }
        case .restart(let i):
            if nodes[i].engine == nil && !healed { start(i) }
        case .partition(let group):
            report.partitions += 1
            cut = group
        case .heal:
            if !healed { cut = [] }
        case .compact(let i):
            if let engine = nodes[i].engine {
                // Peers not connected right now are treated as expired (what a node does with a
                // peer gone too long): when they come back they are behind the log and get a
                // catch-up from state.
                let peers = engine.liveSessions.map(\.peer)
                let through = nodes[i].storage.stableSequence(peers: peers)
                let dropped = nodes[i].storage.compact(through: through)
                if dropped > 0 { engine.compacted(through: dropped) }
            }
            if now < config.duration { schedule(config.compactEvery, .compact(i)) }
        }
    }

    private func write(_ i: Int) {
        guard let engine = nodes[i].engine else { return }
        let collection = collections[Int(rng.next() % 2)]
        let doc = Key("d\(rng.next() % UInt64(max(config.documents, 1)))")
        let op = rng.next() % 12
        let n = rng.next() % 1_000
        let wall = 1_700_000_000_000 + now
        let result = try? nodes[i].storage.commit(now: wall) { r, d in
            switch op {
            case 0...3: try r.set(FieldPath(collection, doc, "title"), .string("v\(n)"), now: wall, into: &d)
            case 4...5: try r.add(FieldPath(collection, doc, "tags"), [.string("t\(n % 5)")], now: wall, into: &d)
            case 6: try r.remove(FieldPath(collection, doc, "tags"), [.string("t\(n % 5)")], now: wall, into: &d)
            case 7...8: try r.increment(FieldPath(collection, doc, "uses"), by: Int64(n % 7) - 3, now: wall, into: &d)
            case 9...10: try Self.editText(&r, FieldPath(collection, doc, "body"), n, now: wall, into: &d)
            default: r.deleteDocument(collection, doc, now: wall, into: &d)
            }
        }
        guard let (seq, delta) = result ?? nil else { return }
        report.writes += 1
        report.lastWrite = now
        report.payloadBytes += delta.encoded().count
        report.sessionsAtWrites += engine.sessionCount
        // Acknowledged to the writer: the change is durable here.
        for author in delta.context.replicas {
            let top = delta.context.maxCounter(of: author)
            guard author == nodes[i].id.scoped(to: collection) else { continue }
            acknowledged.append(Dot(author, top))
            if report.writes % probeStride == 0, nodes.count > 1 {
                var hops = [UInt8](repeating: Self.unreached, count: nodes.count)
                hops[i] = 0
                probeOf[Dot(author, top)] = probes.count
                probes.append(Probe(dot: Dot(author, top), at: now, hops: hops))
            }
        }
        run(i, engine.localChange(sequence: seq, delta: delta, now: now))
    }

    /// Node `i` integrated a remote change or a catch-up: follow the probes it brought.
    private func integrated(at i: Int, _ remote: Delta?, _ catchUp: StateDelta?) {
        guard !probeOf.isEmpty else { return }
        if let remote {
            let context = remote.context
            for author in context.replicas {
                if let p = probeOf[Dot(author, context.maxCounter(of: author))] { arrive(p, at: i) }
            }
        } else if catchUp != nil {
            let context = nodes[i].storage.state.context
            for p in probeOf.values.sorted() where context.contains(probes[p].dot) { arrive(p, at: i) }
        }
    }

    private func arrive(_ p: Int, at i: Int) {
        guard probes[p].hops[i] == Self.unreached else { return }
        let before = deliveringFrom.map { probes[p].hops[$0] } ?? Self.unreached
        let hops = before == Self.unreached ? 1 : Int(before) + 1
        probes[p].hops[i] = UInt8(min(hops, Int(Self.unreached) - 1))
        probes[p].reached += 1
        probes[p].maxHops = max(probes[p].maxHops, hops)
        if probes[p].reached == nodes.count {
            probeOf[probes[p].dot] = nil
            report.spread.milliseconds.append(now - probes[p].at)
            report.spread.hops.append(probes[p].maxHops)
        }
    }

    /// A text edit chosen by `n`: an insertion at a position, or (for odd `n` on a non-empty
    /// text) a deletion of one or two characters.
    static func editText(_ r: inout Replica, _ path: FieldPath, _ n: UInt64, now: UInt64, into d: inout Delta) throws {
        var length = 0
        if case .text(let s)? = r.state.value(path) { length = s.unicodeScalars.count }
        let at = Int(n % UInt64(length + 1))
        if n % 2 == 1 && length > 0 {
            let from = min(at, length - 1)
            try r.deleteText(path, at: from, count: min(1 + Int(n % 3 == 0 ? 1 : 0), length - from), now: now, into: &d)
        } else {
            try r.insertText(path, at: at, "w\(n % 10) ", now: now, into: &d)
        }
    }

    /// Executes a node's actions: the network and storage side of the engine.
    /// Executes actions in order. An fsync takes time: at a flush, the rest of the list and every
    /// later list wait until it completes (a crash meanwhile loses the appends and those actions).
    private func run(_ i: Int, _ actions: [SyncAction]) {
        if nodes[i].flushing {
            nodes[i].waiting.append(actions[...])
            return
        }
        execute(i, actions[...])
    }

    private func resume(_ i: Int, _ rest: ArraySlice<SyncAction>) {
        nodes[i].storage.flush()
        nodes[i].flushing = false
        execute(i, rest)
        while !nodes[i].flushing, !nodes[i].waiting.isEmpty {
            execute(i, nodes[i].waiting.removeFirst())
        }
    }

    private func execute(_ i: Int, _ actions: ArraySlice<SyncAction>) {
        for (k, a) in zip(actions.indices, actions) {
            switch a {
            case .flush:
                nodes[i].flushing = true
                queue.push(now + 1 + rng.next() % 3, .resume(i, epoch: nodes[i].epoch, actions: actions[(k + 1)...]))
                return
            case .send(let conn, let bytes, let channel):
                send(from: i, conn, bytes, channel)
            case .dial(let peer):
                guard let j = index(of: peer) else { continue }
                let connectDelay = 2 * config.latency
                if reachable(i, j) && nodes[j].engine != nil {
                    queue.push(now + connectDelay, .connectAttempt(from: i, to: j, epoch: nodes[i].epoch))
                } else {
                    queue.push(now + 1_000, .dialFailed(from: i, to: j, epoch: nodes[i].epoch))
                }
            case .close(let conn, let reason):
                guard let key = links[conn], let link = linkTable[key], link.open else { continue }
                linkTable[key]?.open = false
                let other = link.a.conn == conn ? link.b : link.a
                queue.push(now + config.latency + 1, .closed(node: other.node, conn: other.conn, reason: "peer closed: \(reason)", epoch: nodes[other.node].epoch))
            case .event:
                break
            }
        }
        if let e = nodes[i].engine {
            report.peakQueue = max(report.peakQueue, e.stats.peakQueue)
            report.peakInFlight = max(report.peakInFlight, e.stats.peakInFlight)
        }
    }

    private func send(from i: Int, _ conn: ConnectionID, _ bytes: [UInt8], _ channel: Channel) {
        guard let key = links[conn], let ends = linkTable[key].map({ ($0.a, $0.b, $0.open) }), ends.2 else { return }
        let aToB = ends.0.conn == conn
        let to = aToB ? ends.1 : ends.0
        report.messages += 1
        // Transport overhead: a 2-byte length and 16-byte tag per stream frame, an 8-byte
        // counter + 16-byte tag + 14-byte header per datagram.
        let wire = bytes.count + (channel == .stream ? 18 * (1 + bytes.count / 65_519) : 38)
        report.bytes += wire
        report.bytesByType[bytes.first ?? 0, default: 0] += wire
        let delay = config.latency + (config.jitter > 0 ? rng.next() % (config.jitter + 1) : 0)
        let epoch = nodes[to.node].epoch
        switch channel {
        case .datagram:
            guard reachable(i, to.node) else {
                report.datagramsLost += 1
                return
            }
            if chance(config.loss) {
                report.datagramsLost += 1
                return
            }
            queue.push(now + delay, .deliver(from: i, to: to.node, conn: to.conn, bytes: bytes, channel: .datagram, epoch: epoch))
            if chance(config.duplication) {
                queue.push(now + delay + rng.next() % 20, .deliver(from: i, to: to.node, conn: to.conn, bytes: bytes, channel: .datagram, epoch: epoch))
            }
        case .stream:
            // TCP: never lost, duplicated or reordered; a loss costs a retransmission timeout,
            // and a partition holds the bytes until it heals (or a timeout closes the session).
            var at = now + delay
            var retries: UInt64 = 0
            while chance(config.loss) && retries < 5 {
                retries += 1
                at += 200 << (retries - 1)
            }
            report.retransmissions += Int(retries)
            at = max(at, (aToB ? linkTable[key]?.toB.lastAt : linkTable[key]?.toA.lastAt) ?? 0)
            let item = Inbox.Item(at: at, sent: now, bytes: bytes, epoch: epoch)
            if aToB { linkTable[key]?.toB.append(item) } else { linkTable[key]?.toA.append(item) }
            queue.push(at, .streamReady(key, towardsB: aToB))
            if at >= now + Self.stallNotice || !reachable(i, to.node), let link = linkTable[key],
                !(aToB ? link.checkingToB || link.stalledToB : link.checkingToA || link.stalledToA)
            {
                if aToB { linkTable[key]?.checkingToB = true } else { linkTable[key]?.checkingToA = true }
                queue.push(now + Self.stallNotice, .stallCheck(key, towardsB: aToB))
            }
        }
    }

    /// Tells the sending engine whether its stream in this direction is stalled: its oldest
    /// undelivered bytes were sent ``stallNotice`` ago or more. Every send that will wait that
    /// long schedules a check; while stalled, the next check is when the head is due (or,
    /// across a partition, a notice later), and each delivery checks too.
    private func checkStall(_ key: ConnectionID, towardsB: Bool) {
        guard let link = linkTable[key], link.open else { return }
        let head = towardsB ? link.toB.first : link.toA.first
        let stalled = head.map { $0.sent + Self.stallNotice <= now } ?? false
        let sender = towardsB ? link.a : link.b
        if stalled != (towardsB ? link.stalledToB : link.stalledToA) {
            if towardsB { linkTable[key]?.stalledToB = stalled } else { linkTable[key]?.stalledToA = stalled }
            nodes[sender.node].engine?.transportStalled(sender.conn, stalled)
        }
        // Stalled: look again when the head is due. Not yet, but the head will wait long
        // enough (a send made while another check was pending): look when it has.
        guard let head, !(towardsB ? link.checkingToB : link.checkingToA) else { return }
        let next = stalled ? max(head.at, now + Self.stallNotice) : head.at >= head.sent + Self.stallNotice ? head.sent + Self.stallNotice : nil
        if let next {
            if towardsB { linkTable[key]?.checkingToB = true } else { linkTable[key]?.checkingToA = true }
            queue.push(next, .stallCheck(key, towardsB: towardsB))
        }
    }

    private func chance(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        return Double(rng.next() >> 11) / Double(1 << 53) < p
    }

    // MARK: Checks

    private func converged() -> Bool {
        guard nodes.allSatisfy({ $0.engine != nil }) else { return false }
        let first = nodes[0].storage.state
        for n in nodes.dropFirst() where n.storage.state.versionVector != first.versionVector { return false }
        for n in nodes.dropFirst() where n.storage.state != first { return false }
        return true
    }

    private func check() {
        let seed = config.seed
        if report.convergeTime == nil {
            let vectors = nodes.map { $0.storage.state.versionVector.total }
            report.violations.append("seed \(seed): replicas did not converge within \(config.settleLimit) ms after the faults healed (dots per node: \(vectors))")
            let a = nodes[0].storage.state
            for (i, n) in nodes.enumerated().dropFirst() where n.storage.state != a {
                let b = n.storage.state
                var where_ = "contexts differ: \(a.context == b.context ? "no" : "yes")"
                outer: for c in Set(a.collections + b.collections).sorted() {
                    for d in Set(a.documentIDs(in: c) + b.documentIDs(in: c)).sorted() where a.document(c, d) != b.document(c, d) {
                        where_ += "; first differing document \(c)/\(d): node 0 \(String(describing: a.document(c, d))) vs node \(i) \(String(describing: b.document(c, d)))"
                        break outer
                    }
                }
                report.violations.append("seed \(seed): node \(i) differs from node 0: \(where_)")
                break
            }
        }
        for (i, n) in nodes.enumerated() {
            for dot in acknowledged where !n.storage.state.context.contains(dot) {
                report.violations.append("seed \(seed): acknowledged change \(dot) is missing on node \(i)")
                break
            }
        }
        let e = config.engine
        if report.peakQueue > e.maxQueue {
            report.violations.append("seed \(seed): a send queue reached \(report.peakQueue) > bound \(e.maxQueue)")
        }
        let inFlightBound = e.window + max(e.batchBytes * 2, largestCatchUpBound())
        if report.peakInFlight > inFlightBound {
            report.violations.append("seed \(seed): \(report.peakInFlight) bytes in flight to one peer > bound \(inFlightBound)")
        }
        for s in retired + nodes.compactMap({ $0.engine?.stats }) {
            do {
                report.catchUpsSent += s.catchUpsSent
                report.antiEntropyRounds += s.antiEntropyRounds
                report.duplicates += s.duplicates
                if s.causalityViolations > 0 {
                    report.violations.append("seed \(seed): \(s.causalityViolations) change(s) arrived after a change that depends on them (causal delivery broken)")
                }
            }
        }
    }

    /// A catch-up from state is one message of up to the whole state.
    private func largestCatchUpBound() -> Int {
        nodes.map { $0.storage.state.encoded().count + 64 }.max() ?? 0
    }

    /// The final states (for tests).
    public var states: [ReplicaState] { nodes.map { $0.storage.state } }
}

/// Stream bytes in flight one way on a link, in order (a queue with a moving head: O(1) per
/// message, where `removeFirst` was O(bytes in flight)).
struct Inbox {
    struct Item {
        var at: UInt64
        /// When it was sent.
        var sent: UInt64
        var bytes: [UInt8]
        var epoch: Int
    }
    private var items: [Item] = []
    private var head = 0

    var first: Item? { head < items.count ? items[head] : nil }
    var lastAt: UInt64 { items.last?.at ?? 0 }

    mutating func append(_ item: Item) { items.append(item) }

    mutating func removeFirst() {
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1_024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}

/// A binary min-heap of events by (time, insertion order): ties replay in insertion order.
struct EventQueue<Element> {
    private var heap: [(time: UInt64, order: UInt64, element: Element)] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ time: UInt64, _ e: Element) {
        counter += 1
        heap.append((time, counter, e))
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if less(i, p) {
                heap.swapAt(i, p)
                i = p
            } else {
                break
            }
        }
    }

    mutating func pop() -> (UInt64, Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(l, m) { m = l }
            if r < heap.count && less(r, m) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.element)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].time < heap[b].time || (heap[a].time == heap[b].time && heap[a].order < heap[b].order)
    }
}
