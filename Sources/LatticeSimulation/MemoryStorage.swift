public import LatticeCRDT
public import LatticeSync

/// An in-memory ``SyncStorage`` with the durability model of the disk store: appends become
/// durable at ``flush()`` (local commits at once), and ``crash()`` loses exactly what was not
/// durable, then recovers from the last snapshot plus the durable log, as a restart would.
/// Passes the same storage contract tests as `ReplicaStore`.
public final class MemoryStorage: SyncStorage {
    struct Record {
        var sequence: UInt64
        var type: UInt8
        var payload: [UInt8]
    }

    /// This node's replica ID.
    public let replicaID: ReplicaID
    private var replica: Replica
    private var records: [Record] = []
    private var durableCount = 0
    private var snapshot = ReplicaState()
    private var snapshotSequence: UInt64 = 0
    private var nextSequence: UInt64 = 1
    private var watermarks: [ReplicaID: VersionVector] = [:]
    /// The number of flushes (each stands for one fsync).
    public private(set) var flushes = 0
    /// Called after each remote change (or catch-up) is integrated: the simulator's probes of
    /// how changes spread.
    public var onIntegrate: ((_ remote: Delta?, _ catchUp: StateDelta?) -> Void)?

    /// Creates an empty store.
    public init(replicaID: ReplicaID) {
        self.replicaID = replicaID
        replica = Replica(id: replicaID)
    }

    public var state: ReplicaState { replica.state }

    /// Makes a local change durably (as `ReplicaStore.commit`).
    /// - Returns: the sequence and delta, or nil when the body changed nothing.
    public func commit(now: UInt64, _ body: (inout Replica, inout Delta) throws -> Void) rethrows -> (sequence: UInt64, delta: Delta)? {
        var working = replica
        var delta = Delta()
        try body(&working, &delta)
        guard !delta.isEmpty else { return nil }
        replica = working
        let seq = append(RecordType.local, delta.encoded())
        flush()
        return (seq, delta)
    }

    public func integrate(remote: Delta, encoded: [UInt8], now: UInt64) throws -> UInt64 {
        replica.apply(remote, now: now)
        defer { onIntegrate?(remote, nil) }
        return append(RecordType.remote, encoded)
    }

    public func integrate(catchUp: StateDelta, now: UInt64) throws -> UInt64 {
        let catchUp = replica.state.strippingErased(catchUp) ?? catchUp
        replica.join(catchUp, now: now)
        defer { onIntegrate?(nil, catchUp) }
        return append(RecordType.catchUp, catchUp.encoded())
    }

    private func append(_ type: UInt8, _ payload: [UInt8]) -> UInt64 {
        let seq = nextSequence
        nextSequence += 1
        records.append(Record(sequence: seq, type: type, payload: payload))
        return seq
    }

    /// Makes every append durable.
    public func flush() {
        if durableCount < records.count { flushes += 1 }
        durableCount = records.count
    }

    /// Appended records not yet durable.
    public var pendingRecords: Int { records.count - durableCount }

    public var firstSequence: UInt64 { records.first?.sequence ?? nextSequence }
    public var snapshotContext: CausalContext { snapshot.context }

    public func forEachRecord(from sequence: UInt64, _ body: (UInt64, UInt8, [UInt8]) throws -> Bool) throws {
        // Records are ascending: binary search the start.
        var lo = 0
        var hi = durableCount
        while lo < hi {
            let mid = (lo + hi) / 2
            if records[mid].sequence < sequence { lo = mid + 1 } else { hi = mid }
        }
        var i = lo
        while i < durableCount {
            let r = records[i]
            if try !body(r.sequence, r.type, r.payload) { return }
            i += 1
        }
    }

    public func acknowledge(peer: ReplicaID, vector: VersionVector) throws {
        watermarks[peer, default: VersionVector()].formUnion(vector)
    }

    public func watermark(of peer: ReplicaID) -> VersionVector { watermarks[peer] ?? VersionVector() }

    /// Snapshots the durable state and drops durable records up to `sequence`.
    /// - Returns: the highest dropped sequence (0 when none).
    @discardableResult
    public func compact(through sequence: UInt64) -> UInt64 {
        var state = snapshot
        var dropped = 0
        var last: UInt64 = 0
        while dropped < durableCount, records[dropped].sequence <= sequence {
            Self.replay(records[dropped], into: &state)
            last = records[dropped].sequence
            dropped += 1
        }
        guard dropped > 0 else { return 0 }
        snapshot = state
        snapshotSequence = last
        records.removeFirst(dropped)
        durableCount -= dropped
        return last
    }

    /// The highest durable sequence every peer in `peers` has acknowledged (all its records'
    /// dots are in each watermark) — what compaction may drop.
    public func stableSequence(peers: [ReplicaID]) -> UInt64 {
        var through: UInt64 = 0
        for i in 0..<durableCount {
            let r = records[i]
            guard r.type != RecordType.catchUp, let d = try? Delta(decoding: r.payload) else { break }
            let ok = peers.allSatisfy { p in CausalContext(vector: watermarks[p] ?? VersionVector()).covers(d.context) }
            if !ok { break }
            through = r.sequence
        }
        return through
    }

    /// A process crash: everything not durable is lost; the replica is recovered from the
    /// snapshot and the durable log.
    public func crash() {
        records.removeLast(records.count - durableCount)
        var state = snapshot
        for r in records { Self.replay(r, into: &state) }
        replica = Replica(id: replicaID, state: state)
    }

    private static func replay(_ r: Record, into state: inout ReplicaState) {
        if r.type == RecordType.catchUp {
            if let c = try? StateDelta(decoding: r.payload) { state.join(c) }
        } else if let d = try? Delta(decoding: r.payload) {
            state.apply(d)
        }
    }
}
