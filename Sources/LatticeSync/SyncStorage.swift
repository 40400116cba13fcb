public import LatticeCRDT

/// What the engine needs from durable storage: the state, a log it can append to and read back
/// by sequence, and a place to keep peers' acknowledgements. ``ReplicaStore`` (disk) and the
/// simulator's in-memory store implement it; both pass the same contract tests.
///
/// Appends are not durable on return: the engine emits ``SyncAction/flush`` after integrating,
/// and whoever executes the actions makes every append durable before it performs any action
/// that follows the flush (an acknowledgement or a forward). Records that are not yet durable
/// need not be readable.
public protocol SyncStorage: AnyObject {
    /// The current state (including appended, not yet durable changes).
    var state: ReplicaState { get }
    /// Applies a forwardable change from a peer and appends it (record type 2).
    /// - Returns: the record's log sequence.
    func integrate(remote: Delta, encoded: [UInt8], now: UInt64) throws -> UInt64
    /// Joins a catch-up and appends it (record type 3: never forwarded as a delta).
    /// - Returns: the record's log sequence.
    func integrate(catchUp: StateDelta, now: UInt64) throws -> UInt64
    /// The first sequence still in the log (earlier ones were compacted away).
    var firstSequence: UInt64 { get }
    /// The causal context of the newest snapshot (empty without one): every dot the log may no
    /// longer carry — records compacted away, a catch-up the snapshot absorbed. The engine
    /// never streams those from its index: a peer lacking one gets a catch-up from state.
    var snapshotContext: CausalContext { get }
    /// Visits durable records from `sequence` on, in order, until `body` returns false.
    /// `type` is 1 (local), 2 (remote) or 3 (catch-up); `payload` is the encoded change.
    func forEachRecord(from sequence: UInt64, _ body: (_ sequence: UInt64, _ type: UInt8, _ payload: [UInt8]) throws -> Bool) throws
    /// Records that `peer` durably holds `vector` (its watermark; bounds compaction).
    func acknowledge(peer: ReplicaID, vector: VersionVector) throws
    /// The watermark last recorded for `peer`.
    func watermark(of peer: ReplicaID) -> VersionVector
}

extension SyncStorage {
    /// ``integrate(remote:encoded:now:)`` encoding the delta itself.
    public func integrate(remote: Delta, now: UInt64) throws -> UInt64 {
        try integrate(remote: remote, encoded: remote.encoded(), now: now)
    }
}

/// Log record types shared by every storage.
public enum RecordType {
    /// A change made on this node.
    public static let local: UInt8 = 1
    /// A change received from a peer (forwardable).
    public static let remote: UInt8 = 2
    /// A catch-up or import (exact only here; never forwarded).
    public static let catchUp: UInt8 = 3
    /// A catch-up too large for one record, held by the snapshot written right after this
    /// empty marker record (a storage's own bookkeeping; nothing to index or send).
    public static let catchUpInSnapshot: UInt8 = 4
}

/// A change as logged: its log sequence, the delta and the delta's encoding (what goes on the
/// wire). A struct, not a tuple, on purpose: arrays of it are destroyed by specialised code,
/// where an array of tuples asks the runtime for tuple metadata on every destruction (that
/// showed up as ~5 % of the sync threads' time in `perf`).
public struct LoggedChange: Sendable {
    /// Its log sequence.
    public var sequence: UInt64
    /// The change's context: the dots it minted and the ones it saw.
    public var context: CausalContext
    /// The collections whose sync rule governs it (``Delta/governedCollections``).
    public var collections: Delta.CollectionNames
    /// Its encoding, as logged and sent.
    public var encoded: [UInt8]

    /// What the engine keeps of a logged change (not the entries: they are in `encoded`).
    public init(sequence: UInt64, delta: Delta, encoded: [UInt8]) {
        self.sequence = sequence
        self.context = delta.context
        self.collections = delta.governedCollections
        self.encoded = encoded
    }
}
