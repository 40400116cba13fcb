public import LatticeCRDT
import Glibc

/// An error from the replica layer above the store: a log record or snapshot that does not
/// decode as CRDT data, or a store that can no longer accept changes.
public struct ReplicaStoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the file and record where known, and what to do.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// The outcome of ``ReplicaStore/commit(_:)``: the change is durable when this is returned.
public struct CommitResult: Sendable {
    /// The log sequence of the record holding the change.
    public var sequence: UInt64
    /// The dots this change minted (this replica's new events).
    public var dots: [Dot]
    /// The delta that was logged (ship it to peers).
    public var delta: Delta
    /// The delta's encoding, as logged (empty when nothing changed).
    public var encoded: [UInt8] = []
}

/// How far one peer is behind this node's log.
public struct PeerPending: Sendable, Equatable {
    /// The peer's ID as stored in the watermark file.
    public var peer: String
    /// Whether the peer was expired (then it holds back nothing).
    public var expired: Bool
    /// Log records not covered by the peer's acknowledged version vector.
    public var pending: Int
    /// The oldest such record's sequence.
    public var oldestSequence: UInt64?
    /// The oldest such record's HLC time in ms since the epoch (nil for remove-only changes).
    public var oldestMilliseconds: UInt64?
    /// Age of the oldest unacknowledged change in ms at the time of the query.
    public var oldestAgeMilliseconds: UInt64?
}

/// One logged change touching a document (see ``ReplicaStore/history(_:_:)``).
public struct HistoryEntry: Sendable, Equatable {
    /// The log sequence.
    public var sequence: UInt64
    /// `true` for a change made on this node (record type 1), `false` for a remote one (type 2).
    public var local: Bool
    /// The replica that made the change.
    public var origin: ReplicaID
    /// The dots the change minted in this document.
    public var dots: [Dot]
    /// The newest HLC stamp among the change's entries in this document (nil for removals, whose
    /// event dots carry no stamp).
    public var stamp: Timestamp?
    /// Fields the change touched (field names).
    public var fields: [String]
    /// `write` (the change left entries in the document), `remove` (removals / delete only),
    /// `erase` (a forget: `fields` names the erased fields, `*` for the whole document) or
    /// `erased` (a change without entries before an erase of its fields: what it wrote, if
    /// anything, was purged).
    public var kind: String
}

/// A replica backed by a durable ``Store``: snapshot + log recovery, durable commits, snapshots,
/// compaction bounded by peer watermarks, and log queries.
///
/// Records: type 1 = a local change, type 2 = a remote change; the payload is one encoded
/// `Delta`. Snapshots: payload = `ReplicaState.encoded()`, covering every record ≤ its sequence.
/// Not thread-safe: use from one thread.
public final class ReplicaStore {
    /// Record type of a change made on this node.
    public static let localRecord: UInt8 = 1
    /// Record type of a change received from a peer.
    public static let remoteRecord: UInt8 = 2
    /// Record type of a catch-up or import: an encoded `StateDelta`, exact only for this replica.
    public static let catchUpRecord: UInt8 = 3
    /// Record type of an empty marker: a catch-up larger than a log record may be was joined
    /// here, and the snapshot written right after the marker holds it.
    public static let catchUpInSnapshotRecord: UInt8 = 4

    /// The underlying store (log, snapshots, watermarks).
    public let store: Store
    /// The replica, recovered on open and advanced by every commit.
    public private(set) var replica: Replica
    /// The causal context of the newest snapshot (loaded or written; empty without one): what
    /// the log alone may no longer reproduce (sync streams nothing below it).
    public private(set) var snapshotContext = CausalContext()
    /// The number of log records replayed on open (those after the snapshot).
    public let replayedRecords: Int
    var failed: (any Error)?
    /// The splices of recent text changes, for the change feed.
    var textSplices = TextSpliceMemory()
    /// What the last purge of erased content rewrote (nil before the first).
    public internal(set) var lastPurge: ErasePurgeReport?
    private var remoteHook: ((Timestamp?, UInt64) -> Void)?
    /// The query indexes, kept up to date by ``reindex(_:)`` after every change.
    public let indexes = QueryIndexes()

    private init(store: Store, replica: Replica, replayed: Int) {
        self.store = store
        self.replica = replica
        self.replayedRecords = replayed
    }

    /// Opens a data directory and recovers the replica: the newest valid snapshot, then every
    /// log record after it.
    /// - Parameters:
    ///   - directory: the data directory.
    ///   - replicaID: this node's replica ID (`NodeID.replicaRawValue`).
    ///   - options: store options (fsync policy, …).
    /// - Throws: `StoreError` (`.locked`, `.corrupt` naming file and offset, …) or
    ///   ``ReplicaStoreError`` when a record or snapshot does not decode.
    public static func open(at directory: String, replicaID: ReplicaID, options: StoreOptions = StoreOptions()) throws -> ReplicaStore {
        let store = try Store.open(at: directory, options: options)
        var state = ReplicaState()
        var from: UInt64 = 1
        if let snap = store.recoveredSnapshot {
            do {
                state = try ReplicaState(decoding: snap.payload)
            } catch {
                throw ReplicaStoreError(
                    "snapshot \(snap.sequence) in \(directory)/snapshots does not decode as a replica state (\(error)); move it aside and reopen to replay the log"
                )
            }
            from = snap.sequence + 1
        }
        var replica = Replica(id: replicaID, state: state)
        var replayed = 0
        let now = ReplicaStore.wallMilliseconds()
        try store.log.forEachRecord(from: from) { seq, type, payload in
            switch try Self.decodeRecord(seq, type, Array(payload), directory) {
            case .delta(let delta): replica.apply(delta, now: now)
            case .catchUp(let catchUp): replica.join(catchUp, now: now)
            case .catchUpInSnapshot: break
            }
            replayed += 1
            return true
        }
        let opened = ReplicaStore(store: store, replica: replica, replayed: replayed)
        opened.snapshotContext = state.context  // the snapshot's, before the log's records
        // A crash interrupted the purge of an erase: finish it before anything reads the files.
        if opened.purgeDue { try opened.purgeErased() }
        return opened
    }

    /// One decoded log record.
    public enum Record: Sendable {
        /// A local or remote change (types 1 and 2).
        case delta(Delta)
        /// A catch-up or import (type 3).
        case catchUp(StateDelta)
        /// A catch-up held by the snapshot after this marker (type 4): nothing to replay, since
        /// a recovery starts from that snapshot or, when it was never written, never had it.
        case catchUpInSnapshot

        /// The record as a delta for inspection (coverage, history); a catch-up's entries sent
        /// in full under its context. Apply only ``delta(_:)`` records.
        public var inspection: Delta {
            switch self {
            case .delta(let d): d
            case .catchUp(let c): c.inspectionDelta
            case .catchUpInSnapshot: Delta()
            }
        }
    }

    /// Decodes one log record's payload by type.
    public static func decodeRecord(_ seq: UInt64, _ type: UInt8, _ payload: [UInt8], _ directory: String) throws -> Record {
        if type == catchUpInSnapshotRecord {
            guard payload.isEmpty else {
                throw ReplicaStoreError("log record \(seq) in \(directory)/log is a catch-up marker with a payload; run `lattice verify` and `lattice repair`")
            }
            return .catchUpInSnapshot
        }
        if type == catchUpRecord {
            do { return .catchUp(try StateDelta(decoding: payload)) } catch {
                throw ReplicaStoreError(
                    "log record \(seq) in \(directory)/log does not decode as a catch-up (\(error)); run `lattice verify` and `lattice repair`")
            }
        }
        return .delta(try decodeDelta(seq, type, payload, directory))
    }

    static func decodeDelta(_ seq: UInt64, _ type: UInt8, _ payload: [UInt8], _ directory: String) throws -> Delta {
        guard type == localRecord || type == remoteRecord else {
            throw ReplicaStoreError("log record \(seq) in \(directory)/log has unknown type \(type); this data directory was written by another program")
        }
        do {
            return try Delta(decoding: payload)
        } catch {
            throw ReplicaStoreError(
                "log record \(seq) in \(directory)/log does not decode as a change (\(error)); run `lattice verify` and `lattice repair`"
            )
        }
    }

    /// Wall-clock milliseconds since the Unix epoch.
    public static func wallMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(max(0, ts.tv_sec)) * 1000 + UInt64(max(0, ts.tv_nsec)) / 1_000_000
    }

    /// The current state.
    public var state: ReplicaState { replica.state }

    /// Makes a local change durably. `body` runs the replica's mutators into the delta; if it
    /// throws, nothing changes. Returns only once the record is durable per the fsync policy (an
    /// acknowledged change survives a crash).
    /// - Parameters:
    /// - Parameter body: the mutations (pass ``wallMilliseconds()`` as their `now`).
    /// - Returns: the sequence, minted dots and delta.
    /// - Throws: what `body` throws (state unchanged); a `StoreError` from the log (state rolled
    ///   back; the store then refuses further commits until reopened).
    @discardableResult
    public func commit(_ body: (inout Replica, inout Delta) throws -> Void) throws -> CommitResult {
        try commit(durably: true, body)
    }

    /// Makes a local change; with `durably: false` the record is appended and the call returns
    /// without waiting for the sync: it is durable once ``durableSequence`` reaches its sequence
    /// (see ``whenDurable(_:)``). Many such commits share one fsync (group commit).
    /// - Parameters:
    ///   - durably: wait for the record to be durable before returning.
    ///   - body: the edits, as for ``commit(_:)``.
    /// - Returns: the sequence, minted dots and delta.
    /// - Throws: as ``commit(_:)``.
    @discardableResult
    public func commit(durably: Bool, _ body: (inout Replica, inout Delta) throws -> Void) throws -> CommitResult {
        try usable()
        // The body edits the replica in place: copying the state to roll back to would cost
        // O(documents) per commit. Each edit is atomic (it checks before it changes anything),
        // so a body that throws before its first edit took effect changed nothing; one that
        // throws later left part of its edits in memory, and the state is rebuilt from the
        // snapshot and the log (rare, and exact).
        var delta = Delta()
        replica.beginMintJournal()
        do { try body(&replica, &delta) } catch {
            _ = replica.endMintJournal()
            if !delta.isEmpty {
                do { try rebuild(syncingFirst: true) } catch let rebuildError {
                    failed = rebuildError
                }
            }
            throw error
        }
        let dots = replica.endMintJournal()
        if delta.isEmpty {
            return CommitResult(sequence: store.log.durableSequence, dots: [], delta: delta)
        }
        do {
            let payload = delta.encoded()
            let erasing = Self.carriesErasure(delta)
            if erasing { try markPurgeDue() }
            let seq = durably
                ? try store.log.appendDurably(type: Self.localRecord, payload: payload)
                : try store.log.append(type: Self.localRecord, payload: payload)
            let journal = replica.takeTextJournal()
            let paths = delta.textPaths
            if !paths.isEmpty { textSplices.record(seq, paths, journal, state: replica.state) }
            reindex(erasing ? .everything : .delta(delta))
            if erasing { try purgeErased() }
            return CommitResult(sequence: seq, dots: dots, delta: delta, encoded: payload)
        } catch {
            // Not logged: the store refuses further commits until reopened, and the state is
            // brought back to what the log holds where the log can still be read.
            failed = error
            try? rebuild(syncingFirst: false)
            throw error
        }
    }

    /// Throws the failure that stopped this store, unless it was a full disk and space came
    /// back: then the log is reopened from disk and the replica rebuilt from what is durable,
    /// and the store takes changes again.
    private func usable() throws {
        guard let failure = failed else { return }
        guard let e = failure as? StoreError, e.code == .noSpace, (store.freeBytes ?? 0) >= Self.roomToResume else { throw failure }
        try store.reopenLog()
        try rebuild(syncingFirst: false)
        failed = nil
    }

    /// Free space a store that ran out of it waits for before it writes again.
    static let roomToResume: UInt64 = 1 << 20

    /// Recovers ``replica`` from the newest snapshot and every durable log record after it.
    /// - Parameter syncingFirst: sync everything appended first, so that the rebuilt state holds
    ///   every logged change (after a failed edit); false after a failed write or sync: the
    ///   state becomes exactly what was acknowledged.
    private func rebuild(syncingFirst: Bool) throws {
        if syncingFirst { try store.log.sync() }
        var state = ReplicaState()
        var from: UInt64 = 1
        if let snap = try store.snapshots.loadNewest().snapshot {
            state = try ReplicaState(decoding: snap.payload)
            from = snap.sequence + 1
        }
        snapshotContext = state.context
        var rebuilt = Replica(id: replica.id, state: state)
        let now = ReplicaStore.wallMilliseconds()
        let directory = store.directory
        try store.log.forEachRecord(from: from) { seq, type, payload in
            switch try Self.decodeRecord(seq, type, Array(payload), directory) {
            case .delta(let delta): rebuilt.apply(delta, now: now)
            case .catchUp(let catchUp): rebuilt.join(catchUp, now: now)
            case .catchUpInSnapshot: break
            }
            return true
        }
        replica = rebuilt
        reindex(.everything)
        if !syncingFirst { textSplices.removeAll() }
    }

    /// Applies a change received from a peer and logs it durably (record type 2).
    /// - Parameters:
    ///   - remote: the delta.
    ///   - now: wall-clock ms (default: the system clock).
    /// - Returns: the record's sequence.
    @discardableResult
    public func apply(remote: Delta, now: UInt64? = nil) throws -> UInt64 {
        try usable()
        let remote = replica.state.strippingErased(remote) ?? remote
        let erasing = Self.carriesErasure(remote)
        // Log first, then apply (applying cannot fail): no copy of the state to roll back to.
        let sequence: UInt64
        do {
            if erasing { try markPurgeDue() }
            sequence = try store.log.appendDurably(type: Self.remoteRecord, payload: remote.encoded())
        } catch {
            failed = error
            throw error
        }
        applyReporting(remote, sequence, now: now ?? Self.wallMilliseconds())
        if erasing { try purgeErased() }
        return sequence
    }

    /// Applies a change received from a peer and appends it to the log (record type 2) without
    /// waiting: it is durable after the next ``flush()``. The sync engine integrates a batch, then
    /// flushes once before it acknowledges or forwards any of it.
    /// - Parameters:
    ///   - remote: the delta.
    ///   - now: wall-clock ms (bounds how far its stamps drag the clock).
    /// - Returns: the record's sequence.
    @discardableResult
    public func integrate(remote: Delta, now: UInt64) throws -> UInt64 {
        try integrate(remote: remote, encoded: remote.encoded(), now: now)
    }

    /// ``integrate(remote:now:)`` with the delta's encoding at hand (as it came off the wire):
    /// logged as is, not encoded again.
    /// - Parameters:
    ///   - remote: the delta.
    ///   - encoded: `remote.encoded()` (the caller guarantees they match).
    ///   - now: wall-clock ms.
    /// - Returns: the record's sequence.
    @discardableResult
    public func integrate(remote: Delta, encoded: [UInt8], now: UInt64) throws -> UInt64 {
        try usable()
        // A change that still carries erased content (from a peer that was offline) is logged
        // and applied without it.
        var remote = remote
        var encoded = encoded
        if let stripped = replica.state.strippingErased(remote) {
            remote = stripped
            encoded = stripped.encoded()
        }
        let erasing = Self.carriesErasure(remote)
        // Log first, then apply (applying cannot fail): copying the state to roll back to would
        // cost O(documents) per change.
        let sequence: UInt64
        do {
            if erasing { try markPurgeDue() }
            sequence = try store.log.append(type: Self.remoteRecord, payload: encoded)
        } catch {
            failed = error
            throw error
        }
        applyReporting(remote, sequence, now: now)
        if let hook = onRemote { hook(Self.maxStamp(remote), now) }
        if erasing { try purgeErased() }
        return sequence
    }

    /// Called after each remote change is integrated with its newest HLC stamp (nil for
    /// removals) and the wall-clock ms it was integrated at: the node's replication latency.
    public var onRemote: ((Timestamp?, UInt64) -> Void)? {
        get { remoteHook }
        set { remoteHook = newValue }
    }

    /// Joins a catch-up (a peer's `delta(since:)`, or an imported state as
    /// `state.delta(since: VersionVector())`) and appends it as record type 3 without waiting.
    /// Such a record is exact only against this replica's state, so it is never forwarded.
    /// - Parameters:
    ///   - catchUp: the catch-up.
    ///   - now: wall-clock ms.
    /// - Returns: the record's sequence.
    @discardableResult
    public func integrate(catchUp: StateDelta, now: UInt64) throws -> UInt64 {
        try usable()
        let catchUp = replica.state.strippingErased(catchUp) ?? catchUp
        let erasing = catchUp.store[Erasure.collection] != nil
        let encoded = catchUp.encoded()
        if encoded.count > store.log.maxRecordSize {
            if erasing { try markPurgeDue() }
            let seq = try integrateInSnapshot(catchUp, now: now)
            if erasing { try purgeErased() }
            return seq
        }
        let sequence: UInt64
        do {
            if erasing { try markPurgeDue() }
            sequence = try store.log.append(type: Self.catchUpRecord, payload: encoded)
        } catch {
            failed = error
            throw error
        }
        let paths = catchUp.textPaths
        // The indexes follow the documents the join changed (an erase may purge any: all of them).
        let joined = replica.joinReporting(catchUp, now: now, text: !paths.isEmpty)
        if !paths.isEmpty { textSplices.record(sequence, paths, joined.splices, state: replica.state) }
        reindex(erasing ? .everything : .documents(joined.documents))
        if erasing { try purgeErased() }
        return sequence
    }

    /// A catch-up too large for one log record (a node far behind compaction): logs an empty
    /// marker, then writes a snapshot of the joined state, which makes the catch-up durable.
    /// A crash between the two loses only the catch-up, which was never acknowledged: the peer
    /// sends it again. The change feed answers "re-read the documents" at the marker.
    /// - Returns: the snapshot's sequence.
    private func integrateInSnapshot(_ catchUp: StateDelta, now: UInt64) throws -> UInt64 {
        var joined = replica
        joined.join(catchUp, now: now)
        do {
            try store.log.append(type: Self.catchUpInSnapshotRecord, payload: [UInt8]())
            let seq = try snapshot(of: joined.state)
            replica = joined
            reindex(.everything)
            return seq
        } catch {
            failed = error
            throw error
        }
    }

    /// Applies a logged remote delta, remembering the splices it made to text for the feed.
    private func applyReporting(_ remote: Delta, _ sequence: UInt64, now: UInt64) {
        let paths = remote.textPaths
        if paths.isEmpty {
            replica.apply(remote, now: now)
        } else {
            textSplices.record(sequence, paths, replica.applyReportingText(remote, now: now), state: replica.state)
        }
        reindex(Self.carriesErasure(remote) ? .everything : .delta(remote))
    }

    /// What log record `sequence` did to the text field at `path`, while this node remembers it
    /// (see ``TextChange/splices``).
    public func textChange(_ sequence: UInt64, _ path: FieldPath) -> TextChange {
        guard let e = textSplices.lookup(sequence, path) else { return TextChange(field: path.field, splices: nil, version: nil) }
        return TextChange(field: path.field, splices: e.splices, version: e.version)
    }

    /// Makes every appended record durable (per the fsync policy) before returning.
    public func flush() throws {
        try usable()
        do { try store.log.sync() } catch {
            failed = error
            throw error
        }
    }

    /// The highest durable log sequence.
    public var durableSequence: UInt64 { store.log.durableSequence }

    /// The highest log sequence appended (durable or not).
    public var appendedSequence: UInt64 { store.log.lastSequence }

    /// Calls `body` once everything appended so far is durable (or with the failure), from the
    /// log's sync thread, which is asked to sync now; never blocks. After a failure, call
    /// ``flush()`` on the store's own thread: it records the failure so that later commits refuse.
    /// - Parameter body: receives the durable sequence or the error.
    public func whenDurable(_ body: @escaping @Sendable (Result<UInt64, StoreError>) -> Void) {
        let last = store.log.lastSequence
        guard last > 0 else { return body(.success(0)) }
        store.log.whenDurable(upTo: last, body)
    }

    /// Writes a snapshot of the current state at the durable sequence.
    /// - Returns: the snapshot's sequence.
    @discardableResult
    public func snapshot() throws -> UInt64 { try snapshot(of: replica.state) }

    /// Writes `state` as the snapshot at the durable sequence, after syncing the log.
    private func snapshot(of state: ReplicaState) throws -> UInt64 {
        try store.log.sync()
        let seq = store.log.durableSequence
        _ = try store.snapshots.write(sequence: seq, metadata: [], payload: state.encoded())
        snapshotContext = state.context
        return seq
    }

    /// Snapshots, then drops log segments every live (non-expired) peer's watermark covers; with
    /// no live peers, everything the snapshot covers.
    /// - Returns: the snapshot sequence and the compaction report.
    @discardableResult
    public func compact() throws -> (snapshot: UInt64, report: CompactionReport) {
        let snap = try snapshot()
        var through = snap
        let live = store.watermarks.all.filter { !$0.expired }
        if !live.isEmpty {
            // The last sequence s such that every record ≤ s is covered by every live peer.
            var firstUncovered: UInt64?
            try scan { seq, _, delta in
                for p in live where !Self.covered(delta, by: p.acknowledged) {
                    firstUncovered = seq
                    return false
                }
                return true
            }
            if let f = firstUncovered { through = min(through, f - 1) }
        }
        let report = try store.log.compact(through: through)
        return (snap, report)
    }

    /// Whether a peer that acknowledged `vector` has every dot of `delta`.
    public static func covered(_ delta: Delta, by vector: VersionVector) -> Bool {
        let ctx = delta.context
        guard ctx.vector.isDominated(by: vector) else { return false }
        return ctx.cloud.allSatisfy { vector.contains($0) }
    }

    /// Visits every log record still in the log, decoded.
    public func scan(_ body: (UInt64, UInt8, Delta) throws -> Bool) throws {
        let dir = store.directory
        try store.log.forEachRecord(from: 0) { seq, type, payload in
            try body(seq, type, try Self.decodeRecord(seq, type, Array(payload), dir).inspection)
        }
    }

    /// Records a peer's durable acknowledgement (joins into its watermark).
    public func acknowledge(peer: String, vector: VersionVector) throws {
        try store.watermarks.acknowledge(peer: peer, vector: vector, seenAtNanoseconds: Int64(Self.wallMilliseconds()) * 1_000_000)
    }

    /// Expires a peer: it no longer holds back compaction (it must catch up from state later).
    public func expire(peer: String) throws { try store.watermarks.expire(peer: peer) }

    /// Pending changes per known peer: log records not covered by its acknowledged vector, and
    /// the oldest one with its age. O(log).
    public func pending(now: UInt64? = nil) throws -> [PeerPending] {
        let peers = store.watermarks.all
        var out = peers.map { PeerPending(peer: $0.peer, expired: $0.expired, pending: 0) }
        // A peer that acknowledged everything this replica holds has nothing pending: no scan
        // for it (the common case; a status poll no longer reads the whole log).
        let context = replica.state.context
        let behind = peers.indices.filter { i in
            let v = peers[i].acknowledged
            return !(context.vector.isDominated(by: v) && context.cloud.allSatisfy { v.contains($0) })
        }
        if behind.isEmpty { return out }
        let wall = now ?? Self.wallMilliseconds()
        try scan { seq, _, delta in
            for i in behind where !Self.covered(delta, by: peers[i].acknowledged) {
                out[i].pending += 1
                if out[i].oldestSequence == nil {
                    out[i].oldestSequence = seq
                    if let stamp = Self.maxStamp(delta) {
                        out[i].oldestMilliseconds = stamp.milliseconds
                        out[i].oldestAgeMilliseconds = wall > stamp.milliseconds ? wall - stamp.milliseconds : 0
                    }
                }
            }
            return true
        }
        return out
    }

    static func maxStamp(_ delta: Delta) -> Timestamp? {
        var best: Timestamp?
        delta.forEachField { _, f in f.forEachTag { tag in if best.map({ tag.stamp > $0 }) ?? true { best = tag.stamp } } }
        return best
    }

    /// Every logged change touching a document, oldest first, with origin, dots and HLC time.
    /// Changes compacted away before the snapshot are not listed. O(log).
    public func history(_ collection: Key, _ id: Key) throws -> [HistoryEntry] {
        var out: [HistoryEntry] = []
        var seen = CausalContext()
        let erasureKey = Erasure.documentKey(collection, id)
        try scan { seq, type, delta in
            defer { seen.formUnion(delta.context) }
            if let erasures = delta.store[Erasure.collection]?[erasureKey] {
                // An erase: who and when, and which fields (`*`: the whole document).
                let found = ReplicaState.erasures(in: erasures, collection, id)
                if let first = found.first {
                    out.append(
                        HistoryEntry(
                            sequence: seq, local: type == Self.localRecord,
                            origin: ReplicaID.node(ofScoped: first.tag.dot.replica, in: Erasure.collection),
                            dots: found.map(\.tag.dot).sorted(), stamp: found.map(\.tag.stamp).max(),
                            fields: found.map { $0.field?.string ?? "*" }.sorted(), kind: "erase"))
                }
            }
            guard let doc = delta.store[collection]?[id] else { return true }
            var tags: [Tag] = []
            var entries = 0
            for f in doc.fields.values {
                f.forEachTag { tags.append($0) }
                entries += f.entryCount
            }
            tags.sort()
            var dots = tags.map(\.dot)
            let author = replica.id.scoped(to: collection)
            var origin = type == Self.localRecord ? replica.id : (tags.first.map { ReplicaID.node(ofScoped: $0.dot.replica, in: collection) } ?? replica.id)
            if dots.isEmpty {
                // A removal: its event dot is the one dot of the context this log had not seen.
                var fresh: [Dot] = []
                for r in delta.context.replicas {
                    let top = delta.context.maxCounter(of: r)
                    if top > 0, !seen.contains(Dot(r, top)) { fresh.append(Dot(r, top)) }
                }
                if type == Self.localRecord { fresh = fresh.filter { $0.replica == author } }
                dots = fresh
                if type != Self.localRecord, let d = fresh.first { origin = ReplicaID.node(ofScoped: d.replica, in: collection) }
            }
            let names = doc.fields.keys.sorted().map(\.string)
            let kind = entries > 0 ? "write" : "remove"
            out.append(
                HistoryEntry(
                    sequence: seq, local: type == Self.localRecord, origin: origin, dots: dots,
                    stamp: tags.map(\.stamp).max(), fields: names, kind: kind))
            return true
        }
        // A change an erase purged keeps its place (and its field names) but no entries: it
        // reads as `erased`, not as a removal.
        let erases = out.filter { $0.kind == "erase" }
        for i in out.indices where out[i].kind == "remove" {
            let e = out[i]
            if erases.contains(where: { $0.sequence > e.sequence && ($0.fields.contains("*") || Set(e.fields).isSubset(of: $0.fields)) }) {
                out[i].kind = "erased"
            }
        }
        return out
    }

    /// Syncs and closes the store, releasing the directory lock.
    public func close() throws { try store.close() }
}
