/// A replica: its ID, its state and its clock. Local mutators change the state and return the
/// `Delta` to ship to peers; `apply` merges deltas from anywhere.
///
/// Every mutator takes the wall clock (`now`, milliseconds since the epoch) as an argument, so
/// this type performs no I/O and is fully deterministic. Each change mints at least one dot: a
/// register write, one set element added, a counter change, or a removal (an event dot that
/// marks it, so version vectors see every change).
public struct Replica: Sendable {
    /// This replica's ID: the author of every dot it mints.
    public let id: ReplicaID
    /// The CRDT state.
    public internal(set) var state: ReplicaState
    /// The hybrid logical clock that stamps local changes.
    public var clock: HybridLogicalClock
    /// The last counter minted per author (``ReplicaID/scoped(to:)`` of each collection written).
    private var lastCounters: [ReplicaID: UInt64] = [:]
    /// The author minted for last and its last counter (newer than its `lastCounters` entry,
    /// which is written when another author mints): a run of edits in one collection hashes no
    /// author.
    private var lastMinted: (author: ReplicaID, counter: UInt64)?
    /// The last collection written and its author, so a run of writes hashes the name once.
    private var lastScope: (collection: Key, author: ReplicaID)?
    /// The dots minted between ``beginMintJournal()`` and ``endMintJournal()`` (a store's commit
    /// reads them instead of comparing contexts, which would copy the state's version vector).
    private var journal: [Dot] = []
    private(set) var journaling = false
    /// The visible text edits made while journaling, by field, in order (a store's change feed
    /// reports them as splices).
    var textJournal: [FieldPath: [TextSplice]] = [:]

    /// Creates a replica.
    /// - Parameters:
    ///   - id: the replica ID (derived from the node's key).
    ///   - state: a recovered state (default empty).
    ///   - clock: a clock (default: zero, one-minute skew bound).
    public init(id: ReplicaID, state: ReplicaState = ReplicaState(), clock: HybridLogicalClock = HybridLogicalClock()) {
        self.id = id
        self.state = state
        self.clock = clock
        var maxStamp = Timestamp.zero
        for docs in state.store.values {
            for doc in docs.values { for f in doc.fields.values { f.forEachTag { if $0.stamp > maxStamp { maxStamp = $0.stamp } } } }
        }
        if maxStamp > self.clock.last { self.clock.observe(maxStamp, wallMilliseconds: maxStamp.milliseconds) }
    }

    /// The author of this replica's dots in `collection`: ``ReplicaID/scoped(to:)``. Each
    /// collection has its own dot sequence, so a peer that never receives a collection (selective
    /// sync) sees no gaps in the others' version vector entries.
    /// - Parameter collection: the collection.
    /// - Returns: the author ID.
    public mutating func author(of collection: Key) -> ReplicaID {
        if let s = lastScope, s.collection == collection { return s.author }
        let author = id.scoped(to: collection)
        lastScope = (collection, author)
        return author
    }

    /// The next dot `author` would mint.
    mutating func nextDot(_ author: ReplicaID) -> Dot {
        if let m = lastMinted, m.author == author { return Dot(author, m.counter + 1) }
        if let last = lastCounters[author] { return Dot(author, last + 1) }
        let last = state.context.maxCounter(of: author)
        lastCounters[author] = last
        return Dot(author, last + 1)
    }

    /// Mints `n` consecutive dots (one clock tick): the IDs of `n` inserted characters.
    /// - Returns: the first dot.
    mutating func mintRun(_ n: Int, _ now: UInt64, _ collection: Key) -> Dot {
        let first = nextDot(author(of: collection))
        setLastCounter(first.replica, first.counter + UInt64(n) - 1)
        _ = clock.tick(wallMilliseconds: now)
        for k in 0..<UInt64(n) {
            let d = Dot(first.replica, first.counter + k)
            if journaling { journal.append(d) }
            state.context.insert(d)
        }
        return first
    }

    /// Records `author`'s last minted counter. The last author's is kept in `lastMinted` only
    /// (a run of edits hashes nothing here) and written to `lastCounters` when another follows.
    private mutating func setLastCounter(_ author: ReplicaID, _ counter: UInt64) {
        if let m = lastMinted, m.author != author { lastCounters[m.author] = m.counter }
        lastMinted = (author, counter)
    }

    /// Starts recording minted dots (a store's commit journals its body).
    public mutating func beginMintJournal() {
        journal.removeAll(keepingCapacity: true)
        textJournal.removeAll()
        journaling = true
    }

    /// Stops recording.
    /// - Returns: the dots minted since ``beginMintJournal()``, ascending.
    public mutating func endMintJournal() -> [Dot] {
        journaling = false
        return journal.count > 1 ? journal.sorted() : journal
    }

    /// The text edits made between ``beginMintJournal()`` and ``endMintJournal()``, as splices
    /// per field in the order they were made (each against the text the previous one left);
    /// clears them.
    public mutating func takeTextJournal() -> [FieldPath: [TextSplice]] {
        defer { textJournal = [:] }
        return textJournal
    }

    mutating func mint(_ now: UInt64, _ collection: Key) -> Tag {
        let dot = nextDot(author(of: collection))
        setLastCounter(dot.replica, dot.counter)
        if journaling { journal.append(dot) }
        let tag = Tag(dot: dot, stamp: clock.tick(wallMilliseconds: now))
        state.context.insert(tag.dot)
        return tag
    }

    func check(_ path: FieldPath, _ field: Field?, _ kind: FieldKind) throws(EditError) {
        if let existing = field?.kind, existing != kind {
            throw EditError(code: .kindMismatch, path: path, existing: existing, attempted: kind)
        }
    }

    /// Copies the state's entries of a field that `delta` has seen into `delta` (its scope).
    private func record(_ path: FieldPath, elements: some Sequence<Value>, clearElements: Bool, into delta: inout Delta) {
        let f = state.field(path) ?? Field()
        let ctx = delta.context
        delta.withField(path) { $0.record(from: f, context: ctx, elements: elements, clearElements: clearElements) }
    }

    // MARK: Register

    /// Writes a register, superseding every value (and any other-kind entry) this replica has seen.
    /// - Parameters:
    ///   - path: the field.
    ///   - value: the new value.
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add this change to.
    /// - Throws: `EditError.kindMismatch` when the field is a set or counter.
    public mutating func set(_ path: FieldPath, _ value: Value, now: UInt64, into delta: inout Delta) throws(EditError) {
        // The tag this write will get; minted (committed) only if the write succeeds.
        let tag = Tag(dot: nextDot(author(of: path.collection)), stamp: clock.peek(wallMilliseconds: now))
        // One in-place access to the field: kind check, supersede, write (no copy, 3 lookups).
        let outcome = Replica.writeRegister(
            &state.store[path.collection, default: [:]][path.document, default: Document()].fields[path.field, default: Field()],
            RegisterEntry(tag: tag, value: value))
        if let existing = outcome.mismatch {
            throw EditError(code: .kindMismatch, path: path, existing: existing, attempted: .register)
        }
        let minted = mint(now, path.collection)
        assert(minted == tag)
        delta.context.insert(tag.dot)
        outcome.old.forEachDot { delta.context.insert($0) }
        let oldElements = Array(outcome.old.elements.keys)
        var written = Field()
        written.registers = outcome.written  // shares the state's new array: no copy
        let ctx = delta.context
        delta.withField(path) { $0.record(from: written, context: ctx, elements: oldElements, clearElements: !oldElements.isEmpty) }
    }

    /// Replaces a register field's entries by `entry`, unless the field holds another kind.
    private static func writeRegister(
        _ field: inout Field, _ entry: RegisterEntry
    ) -> (mismatch: FieldKind?, old: Field, written: [RegisterEntry]) {
        if let kind = field.kind, kind != .register { return (kind, Field(), []) }
        var fresh = Field()
        fresh.registers = [entry]
        let written = fresh.registers
        swap(&field, &fresh)
        return (nil, fresh, written)
    }

    /// Writes a register.
    /// - Returns: the delta of this change.
    /// - Throws: `EditError.kindMismatch` when the field is a set or counter.
    public mutating func set(_ path: FieldPath, _ value: Value, now: UInt64) throws(EditError) -> Delta {
        var delta = Delta()
        try set(path, value, now: now, into: &delta)
        return delta
    }

    // MARK: Set

    /// Adds elements to a set (add-wins: a concurrent remove does not cancel these adds).
    /// - Parameters:
    ///   - path: the field.
    ///   - elements: the elements to add; each gets its own dot.
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add this change to.
    /// - Throws: `EditError.kindMismatch` when the field is a register or counter.
    public mutating func add(_ path: FieldPath, _ elements: [Value], now: UInt64, into delta: inout Delta) throws(EditError) {
        try check(path, state.field(path), .set)
        guard !elements.isEmpty else { return }
        var tags: [Tag] = []
        tags.reserveCapacity(elements.count)
        for _ in elements { tags.append(mint(now, path.collection)) }
        // Modify the field in place: a copy of a large set per add would make batches quadratic.
        modifyField(path) { f in
            for e in f.registers { delta.context.insert(e.tag.dot) }
            for e in f.counters { delta.context.insert(e.tag.dot) }
            f.registers = []
            f.counters = []
            for (element, tag) in zip(elements, tags) {
                delta.context.insert(tag.dot)
                if let old = f.elements.updateValue([tag], forKey: element) { for t in old { delta.context.insert(t.dot) } }
            }
        }
        record(path, elements: elements, clearElements: false, into: &delta)
    }

    /// Adds elements to a set.
    /// - Returns: the delta of this change.
    /// - Throws: `EditError.kindMismatch` when the field is a register or counter.
    public mutating func add(_ path: FieldPath, _ elements: [Value], now: UInt64) throws(EditError) -> Delta {
        var delta = Delta()
        try add(path, elements, now: now, into: &delta)
        return delta
    }

    /// Removes the adds of these elements that this replica has observed.
    /// - Parameters:
    ///   - path: the field.
    ///   - elements: the elements to remove; absent ones are ignored.
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add this change to.
    /// - Throws: `EditError.kindMismatch` when the field is a register or counter.
    public mutating func remove(_ path: FieldPath, _ elements: [Value], now: UInt64, into delta: inout Delta) throws(EditError) {
        let present: [Value]
        do {  // scoped: no reference to the field may outlive this block, or modifyField copies it
            guard let existing = state.field(path) else { return }
            try check(path, existing, .set)
            present = elements.filter { existing.elements[$0] != nil }
        }
        guard !present.isEmpty else { return }
        let event = mint(now, path.collection)
        delta.context.insert(event.dot)
        modifyField(path) { f in
            for element in present {
                if let old = f.elements.removeValue(forKey: element) { for t in old { delta.context.insert(t.dot) } }
            }
        }
        record(path, elements: present, clearElements: false, into: &delta)
    }

    /// Removes elements from a set.
    /// - Returns: the delta of this change (empty when nothing was removed).
    /// - Throws: `EditError.kindMismatch` when the field is a register or counter.
    public mutating func remove(_ path: FieldPath, _ elements: [Value], now: UInt64) throws(EditError) -> Delta {
        var delta = Delta()
        try remove(path, elements, now: now, into: &delta)
        return delta
    }

    // MARK: Counter

    /// Adds `amount` (negative to decrement) to a PN-counter.
    /// - Parameters:
    ///   - path: the field.
    ///   - amount: the change; 0 changes nothing.
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add this change to.
    /// - Throws: `EditError.kindMismatch` when the field is a register or set.
    public mutating func increment(_ path: FieldPath, by amount: Int64, now: UInt64, into delta: inout Delta) throws(EditError) {
        let existing = state.field(path)
        try check(path, existing, .counter)
        guard amount != 0 else { return }
        // Values are kept modulo 2^64 (merges stay exact and deterministic); a local increment
        // that would leave the Int64 range is refused rather than wrapping.
        if case .counter(let value)? = existing?.value, value.addingReportingOverflow(amount).overflow {
            throw EditError(code: .overflow, path: path, existing: .counter, attempted: .counter)
        }
        var f = existing ?? Field()
        let tag = mint(now, path.collection)
        delta.context.insert(tag.dot)
        for e in f.registers { delta.context.insert(e.tag.dot) }
        let oldElements = Array(f.elements.keys)
        for tags in f.elements.values { for t in tags { delta.context.insert(t.dot) } }
        f.registers = []
        f.elements = [:]
        var inc: UInt64 = 0
        var dec: UInt64 = 0
        // This replica's entries are under its author for the collection (the tag's replica).
        // Builds before 2026-12-03 matched the node ID, never found them, and added one entry
        // per increment, each holding its own amount: all of them are folded into the new one.
        for e in f.counters where e.tag.dot.replica == tag.dot.replica {
            inc = inc &+ e.increments
            dec = dec &+ e.decrements
            delta.context.insert(e.tag.dot)
        }
        f.counters.removeAll { $0.tag.dot.replica == tag.dot.replica }
        if amount > 0 { inc = inc &+ amount.magnitude } else { dec = dec &+ amount.magnitude }
        f.counters.append(CounterEntry(tag: tag, increments: inc, decrements: dec))
        f.counters.sort { $0.tag.dot < $1.tag.dot }
        state.store[path.collection, default: [:]][path.document, default: Document()].fields[path.field] = f
        record(path, elements: oldElements, clearElements: !oldElements.isEmpty, into: &delta)
    }

    /// Adds `amount` to a PN-counter.
    /// - Returns: the delta of this change.
    /// - Throws: `EditError.kindMismatch` when the field is a register or set.
    public mutating func increment(_ path: FieldPath, by amount: Int64, now: UInt64) throws(EditError) -> Delta {
        var delta = Delta()
        try increment(path, by: amount, now: now, into: &delta)
        return delta
    }

    // MARK: Documents

    /// Deletes what this replica has observed of a document; concurrent updates survive.
    /// - Parameters:
    ///   - collection: the collection.
    ///   - id: the document ID.
    ///   - now: wall clock, ms since the epoch.
    ///   - delta: the delta to add this change to.
    public mutating func deleteDocument(_ collection: Key, _ id: Key, now: UInt64, into delta: inout Delta) {
        guard let doc = state.document(collection, id) else { return }
        let event = mint(now, collection)
        delta.context.insert(event.dot)
        for field in doc.fields.values { field.forEachDot { delta.context.insert($0) } }
        state.store[collection]?[id] = nil
        if state.store[collection]?.isEmpty == true { state.store[collection] = nil }
        for (name, field) in doc.fields {
            record(
                FieldPath(collection, id, name), elements: field.elements.keys, clearElements: false, into: &delta)
        }
        // Text keeps its tombstones (concurrent insertions must still find their place): every
        // visible character is deleted, under the same event dot.
        for (name, field) in doc.fields {
            guard var text = field.text, !text.isEmpty else { continue }
            let path = FieldPath(collection, id, name)
            text.makeUnique()
            let ranges = text.storage.localDelete(at: 0, count: text.count)
            text.storage.deleteEvents[event.dot.replica] = max(text.storage.deleteEvents[event.dot.replica] ?? 0, event.dot.counter)
            var kept = Field()
            kept.text = text
            state.store[collection, default: [:]][id, default: Document()].fields[name] = kept
            noteSplice(path, TextSplice(position: 0, deleted: ranges.reduce(0) { $0 + Int($1.length) }, inserted: ""))
            delta.withField(path) { $0.addText(TextSequence.bag(deleting: ranges, event: event.dot)) }
        }
    }

    /// Deletes a document.
    /// - Returns: the delta of this change (empty when the document does not exist).
    public mutating func deleteDocument(_ collection: Key, _ id: Key, now: UInt64) -> Delta {
        var delta = Delta()
        deleteDocument(collection, id, now: now, into: &delta)
        return delta
    }

    /// Runs `body` on the field in place (no copy of its storage), pruning it when emptied.
    mutating func modifyField(_ path: FieldPath, _ body: (inout Field) -> Void) {
        body(&state.store[path.collection, default: [:]][path.document, default: Document()].fields[path.field, default: Field()])
        if state.store[path.collection]?[path.document]?.fields[path.field]?.isEmpty == true { removeField(path) }
    }

    mutating func removeField(_ path: FieldPath) {
        state.store[path.collection]?[path.document]?.fields[path.field] = nil
        if state.store[path.collection]?[path.document]?.isEmpty == true {
            state.store[path.collection]?[path.document] = nil
            if state.store[path.collection]?.isEmpty == true { state.store[path.collection] = nil }
        }
    }

    // MARK: Merging

    /// Applies a delta from any replica (in any order, duplicates allowed) and absorbs its stamps
    /// into the clock.
    /// - Parameters:
    ///   - delta: the delta.
    ///   - now: wall clock, ms since the epoch (bounds how far remote stamps drag the clock).
    public mutating func apply(_ delta: Delta, now: UInt64) {
        var maxStamp = Timestamp.zero
        delta.forEachField { _, f in f.forEachTag { if $0.stamp > maxStamp { maxStamp = $0.stamp } } }
        if maxStamp > clock.last { clock.observe(maxStamp, wallMilliseconds: now) }
        state.apply(delta)
        noteOwnDots(delta.context)
    }

    /// ``apply(_:now:)``, reporting per text field the visible edits the delta made.
    /// - Returns: the splices by field (empty for a delta touching no text).
    public mutating func applyReportingText(_ delta: Delta, now: UInt64) -> [FieldPath: [TextSplice]] {
        var maxStamp = Timestamp.zero
        delta.forEachField { _, f in f.forEachTag { if $0.stamp > maxStamp { maxStamp = $0.stamp } } }
        if maxStamp > clock.last { clock.observe(maxStamp, wallMilliseconds: now) }
        let splices = state.applyReportingText(delta)
        noteOwnDots(delta.context)
        return splices
    }

    /// Joins a full state from another replica.
    /// - Parameters:
    ///   - other: the other state.
    ///   - now: wall clock, ms since the epoch.
    public mutating func join(_ other: ReplicaState, now: UInt64) {
        observeStamps(other.store, now: now)
        state.join(other)
        noteOwnDots(other.context)
    }

    /// Joins a peer's catch-up.
    /// - Parameters:
    ///   - delta: the peer's `delta(since:)` for this replica's vector.
    ///   - now: wall clock, ms since the epoch.
    public mutating func join(_ delta: StateDelta, now: UInt64) {
        observeStamps(delta.store, now: now)
        state.join(delta)
        noteOwnDots(delta.context)
    }

    /// ``join(_:now:)`` of a catch-up, reporting per text field the visible edits it made.
    /// - Returns: the splices by field.
    public mutating func joinReportingText(_ delta: StateDelta, now: UInt64) -> [FieldPath: [TextSplice]] {
        joinReporting(delta, now: now, text: true).splices
    }

    /// ``join(_:now:)`` of a catch-up, reporting the documents it may have changed and, with
    /// `text`, the visible edits it made per text field (``ReplicaState/joinReporting(_:text:)``).
    public mutating func joinReporting(_ delta: StateDelta, now: UInt64, text: Bool) -> (splices: [FieldPath: [TextSplice]], documents: [(collection: Key, id: Key)]) {
        observeStamps(delta.store, now: now)
        let out = state.joinReporting(delta, text: text)
        noteOwnDots(delta.context)
        return out
    }

    private mutating func observeStamps(_ store: Store, now: UInt64) {
        var maxStamp = Timestamp.zero
        for docs in store.values {
            for doc in docs.values { for f in doc.fields.values { f.forEachTag { if $0.stamp > maxStamp { maxStamp = $0.stamp } } } }
        }
        if maxStamp > clock.last { clock.observe(maxStamp, wallMilliseconds: now) }
    }

    /// Never reuse a counter: own dots can come back from peers (for example after a restore).
    private mutating func noteOwnDots(_ context: CausalContext) {
        if let m = lastMinted { lastCounters[m.author] = m.counter }
        for (author, last) in lastCounters {
            let seen = context.maxCounter(of: author)
            if seen > last { setLastCounter(author, seen) }
        }
    }
}

extension Field {
    /// Sets this delta field's entries to `state`'s entries seen by `context`, for the registers,
    /// counters and the named elements (clearing every other element mark when asked).
    mutating func record(from state: Field, context: CausalContext, elements touched: some Sequence<Value>, clearElements: Bool) {
        // Usually every entry is in scope: share the array instead of filtering a copy.
        registers = state.registers.allSatisfy { context.contains($0.tag.dot) } ? state.registers : state.registers.filter { context.contains($0.tag.dot) }
        counters = state.counters.allSatisfy { context.contains($0.tag.dot) } ? state.counters : state.counters.filter { context.contains($0.tag.dot) }
        if clearElements { for k in elements.keys { elements[k] = [] } }
        for element in touched {
            elements[element] = (state.elements[element] ?? []).filter { context.contains($0.dot) }
        }
    }
}
