import LatticeCRDT
import LatticeSync

/// The simulator benchmarks of `lattice bench --only sim` (virtual time: deterministic figures).
public enum SimulationBench {
    /// One scaling point: N nodes on a topology, one change per node in the first second, no
    /// faults; how long until every replica holds every change, and what it cost.
    public struct Scaling: Sendable {
        public var nodes: Int
        public var topology: Topology
        public var convergeMs: UInt64?
        public var messages: Int
        public var bytes: Int
        /// Virtual ms from the last write until every replica was equal (5 ms resolution).
        /// Bytes per node per change (everything on the wire, including hellos and pings).
        public var bytesPerNodePerChange: Double
    }

    /// Runs one scaling point.
    public static func scaling(nodes: Int, topology: Topology, seed: UInt64 = 1) -> Scaling {
        var c = SimulationConfig()
        c.nodes = nodes
        c.topology = topology
        c.seed = seed
        c.duration = 1_000
        c.writesPerSecond = 1
        c.checkCausality = false
        c.settleLimit = 600_000
        c.checkInterval = 5
        let r = Cluster(c).run()
        let perNodeChange = r.writes > 0 ? Double(r.bytes) / Double(nodes) / Double(r.writes) : 0
        return Scaling(nodes: nodes, topology: topology, convergeMs: r.convergedAt.map { $0 - r.lastWrite }, messages: r.messages, bytes: r.bytes, bytesPerNodePerChange: perNodeChange)
    }

    /// Reconciling a divergence: node A made `changes` changes while apart from B; B has its own
    /// `changes / 10`. Returns the bytes both sides sent from connect to quiet, and the floor:
    /// the encoded changes each side lacked plus one version vector each way.
    public static func divergence(changes: Int) throws -> (wire: Int, floor: Int, messages: Int) {
        let a = MemoryStorage(replicaID: ReplicaID(0xA))
        let b = MemoryStorage(replicaID: ReplicaID(0xB))
        var floor = 0
        func write(_ s: MemoryStorage, _ n: Int, _ tag: String) {
            for i in 0..<n {
                let wall: UInt64 = 1_700_000_000_000 + UInt64(i)
                let r = try? s.commit(now: wall) { r, d in
                    let doc = Key("\(tag)\(i % 1_000)")
                    switch i % 4 {
                    case 0, 1: try r.set(FieldPath("knowledge", doc, "title"), .string("title \(i)"), now: wall, into: &d)
                    case 2: try r.add(FieldPath("knowledge", doc, "tags"), [.string("t\(i % 7)")], now: wall, into: &d)
                    default: try r.increment(FieldPath("knowledge", doc, "successes"), by: 1, now: wall, into: &d)
                    }
                }
                if let r = r ?? nil { floor += r.delta.encoded().count }
            }
        }
        write(a, changes, "a")
        write(b, changes / 10, "b")
        let ea = try SyncEngine(node: a.replicaID, storage: a, seed: 1, now: 0)
        let eb = try SyncEngine(node: b.replicaID, storage: b, seed: 2, now: 0)
        floor += Message.hello(Hello(node: a.replicaID, vector: a.state.versionVector, watermark: VersionVector())).encoded().count
        floor += Message.hello(Hello(node: b.replicaID, vector: b.state.versionVector, watermark: VersionVector())).encoded().count
        var wire = 0
        var messages = 0
        var inbox: [(to: Int, bytes: [UInt8])] = []
        func route(_ from: Int, _ actions: [SyncAction]) {
            for act in actions {
                switch act {
                case .send(_, let bytes, _):
                    wire += bytes.count + 18 * (1 + bytes.count / 65_519)  // Noise frame: 2-byte length + 16-byte tag
                    messages += 1
                    inbox.append((1 - from, bytes))
                case .flush: (from == 0 ? a : b).flush()
                default: break
                }
            }
        }
        route(0, ea.connected(1, peer: b.replicaID, outbound: true, now: 1))
        route(1, eb.connected(2, peer: a.replicaID, outbound: false, now: 1))
        var steps = 0
        while !inbox.isEmpty && steps < 10_000_000 {
            let m = inbox.removeFirst()
            steps += 1
            if m.to == 0 { route(0, ea.receive(m.bytes, on: 1, now: 2)) } else { route(1, eb.receive(m.bytes, on: 2, now: 2)) }
        }
        guard a.state == b.state else { throw SimulationBenchError("divergence benchmark did not converge") }
        return (wire, floor, messages)
    }
}

/// A benchmark that failed its own check.
public struct SimulationBenchError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
