import LatticeCRDT
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SplitMix64: a tiny, fast, seedable generator (every property test is replayable by seed).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Seeds for a property test: `LATTICE_SEED=S` replays one case, `LATTICE_CASES=N` sets the count.
func propertySeeds(_ defaultCount: Int = 500, salt: UInt64) -> [UInt64] {
    if let s = getenv("LATTICE_SEED"), let seed = UInt64(String(cString: s)) { return [seed] }
    var count = defaultCount
    if let c = getenv("LATTICE_CASES"), let n = Int(String(cString: c)) { count = n }
    return (0..<UInt64(count)).map { $0 &* 0x9E37_79B9 &+ salt }
}

/// Records a failure that names the seed and the command that replays it.
func failed(_ what: String, seed: UInt64, test: String, sourceLocation: SourceLocation = #_sourceLocation) {
    Issue.record(
        "\(what) — seed \(seed); replay: LATTICE_SEED=\(seed) swift test --filter \(test)",
        sourceLocation: sourceLocation)
}

/// A random workload over a small key space, so that writes collide and conflicts appear.
struct Workload {
    static let collections: [Key] = ["knowledge", "memories"]
    static let documents: [Key] = ["d0", "d1", "d2", "é", "e\u{301}"]
    static let registerFields: [Key] = ["title", "body"]
    static let setFields: [Key] = ["tags"]
    static let counterFields: [Key] = ["successes"]
    static let textFields: [Key] = ["notes"]
    static let textPieces: [String] = ["a", "bc", "xyz", "é", "e\u{301}", "👍🏽", "\n", "hello world "]
    static let values: [Value] = [
        .null, .bool(true), .bool(false), .int(0), .int(-7), .int(.max), .double(0.0), .double(-0.0),
        .double(.nan), .double(1.5), .string(""), .string("é"), .string("e\u{301}"), .string("hello"),
        .bytes([]), .bytes([0, 255]),
    ]

    static func path<G: RandomNumberGenerator>(_ g: inout G, fields: [Key]) -> FieldPath {
        FieldPath(collections.randomElement(using: &g)!, documents.randomElement(using: &g)!, fields.randomElement(using: &g)!)
    }

    /// Performs one random local change on `replica` and returns its delta (possibly empty).
    static func randomChange<G: RandomNumberGenerator>(_ replica: inout Replica, _ g: inout G, now: UInt64) -> Delta {
        var delta = Delta()
        let ops = Int.random(in: 1...3, using: &g)
        for _ in 0..<ops { randomOp(&replica, &g, now: now, into: &delta) }
        return delta
    }

    static func randomOp<G: RandomNumberGenerator>(_ replica: inout Replica, _ g: inout G, now: UInt64, into delta: inout Delta) {
        let v = values.randomElement(using: &g)!
        // Occasionally write a field with the "wrong" kind, to exercise kind conflicts.
        let anyField = Bool.random(using: &g) && Int.random(in: 0..<8, using: &g) == 0
        switch Int.random(in: 0..<13, using: &g) {
        case 12:
            // A rare erase ("forget") of a document or one of its fields.
            guard Int.random(in: 0..<3, using: &g) == 0 else { return }
            let p = path(&g, fields: registerFields + setFields + counterFields + textFields)
            replica.erase(p.collection, p.document, field: Bool.random(using: &g) ? p.field : nil, now: now, into: &delta)
        case 0...3:
            let p = path(&g, fields: anyField ? setFields + counterFields : registerFields)
            try? replica.set(p, v, now: now, into: &delta)
        case 4, 5:
            let p = path(&g, fields: anyField ? registerFields : setFields)
            try? replica.add(p, [v, values.randomElement(using: &g)!], now: now, into: &delta)
        case 6:
            let p = path(&g, fields: setFields)
            try? replica.remove(p, [v], now: now, into: &delta)
        case 7, 8:
            let p = path(&g, fields: anyField ? registerFields : counterFields)
            try? replica.increment(p, by: Int64.random(in: -3...5, using: &g), now: now, into: &delta)
        case 9, 10:
            let p = path(&g, fields: anyField ? registerFields : textFields)
            let length: Int
            if case .text(let s)? = replica.state.value(p) { length = s.unicodeScalars.count } else { length = 0 }
            let at = Int.random(in: 0...length, using: &g)
            switch Int.random(in: 0..<4, using: &g) {
            case 0, 1: try? replica.insertText(p, at: at, textPieces.randomElement(using: &g)!, now: now, into: &delta)
            case 2: try? replica.deleteText(p, at: at, count: Int.random(in: 0...(length - at), using: &g), now: now, into: &delta)
            default:
                try? replica.spliceText(
                    p, at: at, deleting: Int.random(in: 0...min(2, length - at), using: &g),
                    inserting: textPieces.randomElement(using: &g)!, now: now, into: &delta)
            }
        default:
            replica.deleteDocument(collections.randomElement(using: &g)!, documents.randomElement(using: &g)!, now: now, into: &delta)
        }
    }
}

/// A cluster of replicas with a global list of every delta ever produced.
struct Cluster {
    var replicas: [Replica]
    var deltas: [Delta] = []
    /// Every delta each replica produced or received, for the "state = join of deltas" law.
    var seen: [[Delta]]
    var now: UInt64 = 1_700_000_000_000

    init(size: Int) {
        replicas = (0..<size).map { Replica(id: ReplicaID(UInt64($0 + 1) &* 0x1000_0000_0001)) }
        seen = Array(repeating: [], count: size)
    }

    /// Runs `steps` random steps: local changes, random (duplicated, reordered) delta deliveries,
    /// occasional full-state joins and catch-ups.
    mutating func run<G: RandomNumberGenerator>(steps: Int, _ g: inout G, exchanges: Bool = true) {
        for _ in 0..<steps {
            now += UInt64.random(in: 0...3, using: &g)
            let i = Int.random(in: 0..<replicas.count, using: &g)
            let roll = Int.random(in: 0..<10, using: &g)
            if roll < 5 || deltas.isEmpty {
                let d = Workload.randomChange(&replicas[i], &g, now: now &+ UInt64.random(in: 0...50, using: &g))
                if !d.isEmpty {
                    deltas.append(d)
                    seen[i].append(d)
                }
            } else if roll < 9 || !exchanges {
                let d = deltas.randomElement(using: &g)!
                replicas[i].apply(d, now: now)
                seen[i].append(d)
            } else {
                let j = Int.random(in: 0..<replicas.count, using: &g)
                let catchUp = replicas[j].state.delta(since: replicas[i].state.versionVector)
                replicas[i].join(catchUp, now: now)
                seen[i].append(contentsOf: seen[j])
            }
        }
    }

    /// Delivers every delta to every replica in a random order, with duplicates.
    mutating func deliverAll<G: RandomNumberGenerator>(_ g: inout G) {
        for i in replicas.indices {
            var order = deltas + deltas.filter { _ in Bool.random(using: &g) }
            order.shuffle(using: &g)
            for d in order { replicas[i].apply(d, now: now) }
        }
    }
}
