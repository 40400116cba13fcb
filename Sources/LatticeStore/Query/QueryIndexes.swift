public import LatticeCRDT
import Glibc

/// Which documents changed, for ``QueryIndexes/update(_:in:)``.
public enum IndexChange {
    /// The documents a delta names (a local commit or a remote change, after it was applied).
    case delta(Delta)
    /// These documents, by collection and ID (for example after an erase purged them).
    case documents([(collection: Key, id: Key)])
    /// Anything may have changed (open, rebuild, a catch-up join): every index is dropped and
    /// built again on its next use.
    case everything
}

/// The query indexes of one replica (`Docs/CLI.md`, "Queries"): per collection, the sorted
/// document IDs (for listings) and, per field queried, a sorted index of register values and
/// an index of set elements. Each is built on its first use from the state, then kept up to
/// date by ``update(_:in:)`` on every change, so queries and listings never scan a collection.
///
/// Not thread-safe: use it on the thread that owns the store.
public final class QueryIndexes {
    /// The indexes of one collection.
    final class CollectionIndex {
        /// Non-blank document IDs, ascending by bytes (built on the first listing).
        var ids: SortedChunks<Key>?
        /// Per field queried.
        var fields: [Key: FieldIndex] = [:]
        /// The slots of the documents the field indexes hold.
        let slots = DocumentSlots()
    }

    private var collections: [Key: CollectionIndex] = [:]

    /// Seconds spent bringing the indexes up to date after changes (`/metrics`:
    /// `lattice_index_upkeep_seconds_total`): what the indexes add to the write path.
    public private(set) var upkeepSeconds = 0.0
    /// The changes that found an index to bring up to date.
    public private(set) var upkeepChanges = 0

    /// No indexes yet.
    public init() {}

    /// The fields indexed now, as `collection.field`, sorted (for status and tests).
    public var indexedFields: [String] {
        collections.flatMap { c, index in index.fields.keys.map { "\(c).\($0)" } }.sorted()
    }

    /// Whether the collection's sorted ID list is built.
    /// - Parameter collection: the collection.
    /// - Returns: whether listings of it are answered from the index.
    public func listsFromIndex(_ collection: Key) -> Bool { collections[collection]?.ids != nil }

    /// Brings every built index up to date after a change that is already in `state`.
    /// O(indexes of the touched collections) per touched document, plus, now and then, a field
    /// index's merges (amortised; a base rebuild is one O(N) pass); nothing when no index exists.
    /// - Parameters:
    ///   - change: what changed.
    ///   - state: the state after the change.
    public func update(_ change: IndexChange, in state: ReplicaState) {
        guard !collections.isEmpty else { return }
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        defer {
            var end = timespec()
            clock_gettime(CLOCK_MONOTONIC, &end)
            upkeepSeconds += Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
            upkeepChanges += 1
        }
        switch change {
        case .everything:
            collections.removeAll()
        case .documents(let list):
            for (c, id) in list { update(c, id, state) }
        case .delta(let delta):
            // Only the fields the delta names can have changed (a join touches nothing else),
            // so only their indexes are updated; the ID list once per document.
            // The ID list needs no search when the document shows now and an index held it
            // before (it showed then too).
            var last: (Key, Key)?
            var index: CollectionIndex?
            var doc: Document?
            var slot: UInt32?
            var held = false
            func finish() {
                guard let index, let (_, id) = last else { return }
                if !held || doc?.isBlank ?? true { updateIDs(index, id, doc) }
            }
            delta.forEachField { path, _ in
                if last == nil || last?.0 != path.collection || last?.1 != path.document {
                    finish()
                    last = (path.collection, path.document)
                    index = collections[path.collection]
                    held = false
                    guard let index else { return }
                    doc = state.store[path.collection]?[path.document]
                    // One probe per document, whatever number of its fields are indexed.
                    slot = index.fields.isEmpty ? nil : index.slots.slot(path.document)
                }
                guard let index, let field = index.fields[path.field] else { return }
                let r = field.update(path.document, slot: slot, doc?.fields[path.field])
                if r.held { held = true }
                slot = r.slot  // the document may have been given a slot, or lost it, just now
            }
            finish()
        }
    }

    /// The buffered changes of one field index that make a write sort and merge them (so the
    /// most a query sorts first, for its fields, is one fewer).
    public static var pendingLimit: Int { FieldIndex.defaultBufferLimit }

    /// Merges every field index's deferred changes into its base run (queries need not: they
    /// read the runs as they are; this is for a quiet moment, and for benchmarks that must
    /// count the deferred work).
    public func flush() {
        for c in collections.values { for f in c.fields.values { f.flush() } }
    }

    /// Sorts every field index's buffered changes into its delta run: what the next query of
    /// the field would do first. The merges of the deltas into the base runs are left to the
    /// write path, where they fall at their own rate (one per √(N × buffer limit) changes of a
    /// field), so that a benchmark ending with this counts every cost at its steady rate.
    public func settle() {
        for c in collections.values { for f in c.fields.values { f.settle() } }
    }

    private func update(_ collection: Key, _ id: Key, _ state: ReplicaState) {
        guard let index = collections[collection] else { return }
        let doc = state.store[collection]?[id]
        updateIDs(index, id, doc)
        var slot = index.slots.slot(id)
        for (name, field) in index.fields { slot = field.update(id, slot: slot, doc?.fields[name]).slot }
    }

    private func updateIDs(_ index: CollectionIndex, _ id: Key, _ doc: Document?) {
        guard index.ids != nil else { return }
        if let doc, !doc.isBlank { index.ids?.insert(id) } else { index.ids?.remove(id) }
    }

    private func index(_ collection: Key) -> CollectionIndex {
        if let i = collections[collection] { return i }
        let i = CollectionIndex()
        collections[collection] = i
        return i
    }

    private func ids(_ collection: Key, _ documents: [Key: Document]) -> SortedChunks<Key> {
        let i = index(collection)
        if let ids = i.ids { return ids }
        var list: [Key] = []
        list.reserveCapacity(documents.count)
        for (id, doc) in documents where !doc.isBlank { list.append(id) }
        list.sort()
        let built = SortedChunks(sorted: list)
        i.ids = built
        return built
    }

    private func field(_ collection: Key, _ name: Key, _ documents: [Key: Document]) -> FieldIndex {
        let i = index(collection)
        if let f = i.fields[name] { return f }
        let f = FieldIndex(field: name, documents: documents, slots: i.slots)
        i.fields[name] = f
        return f
    }

    // MARK: Listings

    /// Visits a collection's documents in ID order (bytes) from the sorted ID index, as `ls`
    /// and `export` stream them: no per-document allocation, no sort.
    /// - Parameters:
    ///   - collection: the collection.
    ///   - state: the replica's current state.
    ///   - prefix: only IDs starting with these bytes.
    ///   - after: only IDs after this one.
    ///   - body: receives each ID and document; returns false to stop.
    public func forEachDocument(
        in collection: Key, of state: ReplicaState, prefix: String = "", after: Key? = nil, _ body: (Key, Document) -> Bool
    ) {
        guard let docs = state.store[collection] else { return }
        let ids = ids(collection, docs)
        var start = ids.partition { $0 < Key(prefix) }
        if let after { start = max(start, ids.partition { $0 <= after }) }
        ids.forEach(from: start) { id in
            if !prefix.isEmpty, !id.hasBytePrefix(prefix) { return false }
            guard let doc = docs[id] else { return true }
            return body(id, doc)
        }
    }

    /// Visits a collection's document IDs in byte order from the sorted ID index (what `ls`
    /// lists): no document is looked up.
    /// - Parameters:
    ///   - collection: the collection.
    ///   - state: the replica's current state.
    ///   - prefix: only IDs starting with these bytes.
    ///   - after: only IDs after this one.
    ///   - body: receives each ID; returns false to stop.
    public func forEachID(in collection: Key, of state: ReplicaState, prefix: String = "", after: Key? = nil, _ body: (Key) -> Bool) {
        guard let docs = state.store[collection] else { return }
        let ids = ids(collection, docs)
        var start = prefix.isEmpty ? .start : ids.partition { $0 < Key(prefix) }
        if let after { start = max(start, ids.partition { $0 <= after }) }
        ids.forEach(from: start) { id in
            if !prefix.isEmpty, !id.hasBytePrefix(prefix) { return false }
            return body(id)
        }
    }

    /// A page of a collection's document IDs in byte order (see ``forEachDocument(in:of:prefix:after:_:)``).
    /// - Parameters:
    ///   - collection: the collection.
    ///   - state: the current state.
    ///   - prefix: only IDs starting with these bytes.
    ///   - after: only IDs after this one.
    ///   - limit: at most this many.
    /// - Returns: the IDs.
    public func documentIDs(in collection: Key, of state: ReplicaState, prefix: String = "", after: Key? = nil, limit: Int = .max) -> [Key] {
        var out: [Key] = []
        guard limit > 0 else { return out }
        forEachID(in: collection, of: state, prefix: prefix, after: after) { id in
            out.append(id)
            return out.count < limit
        }
        return out
    }

    // MARK: Queries

    /// Answers a query from the indexes: the most selective condition's index gives the
    /// candidates (its estimated match count is the smallest), the other conditions are checked
    /// on each candidate's document; with no condition, `order` walks the order field's sorted
    /// index and stops at `limit`.
    /// - Parameters:
    ///   - query: the query.
    ///   - state: the current state.
    /// - Returns: the matching IDs, in the query's order, at most `limit`.
    /// - Throws: ``QueryError`` for a collection without documents or a field no document holds.
    public func run(_ query: Query, in state: ReplicaState) throws(QueryError) -> [Key] {
        guard let docs = state.store[query.collection], !docs.isEmpty else {
            let names = state.applicationCollections.filter { !(state.store[$0]?.isEmpty ?? true) }
            let known = names.isEmpty ? "this node holds no document yet" : "collections here: " + names.prefix(20).map(\.string).joined(separator: ", ") + (names.count > 20 ? ", …" : "")
            throw QueryError(.unknownCollection, "unknown collection '\(query.collection)': it holds no document (\(known))")
        }
        var indexes: [Key: FieldIndex] = [:]
        for name in query.fields {
            let f = field(query.collection, name, docs)
            if f.isEmpty {
                throw QueryError(.unknownField, "unknown field '\(name)': no document in '\(query.collection)' holds it as a register, counter or set")
            }
            indexes[name] = f
        }
        if let order = query.order, let f = indexes[order], !f.hasValues {
            throw QueryError(.notOrderable, "cannot order by '\(order)': no document in '\(query.collection)' holds it as a register or counter value (it is a set); order by a register or counter field")
        }
        guard query.limit > 0 else { return [] }
        let orderIndex = query.order.flatMap { indexes[$0] }
        guard !query.conditions.isEmpty else {
            guard let orderIndex else {
                return documentIDs(in: query.collection, of: state, prefix: query.prefix, after: query.after, limit: query.limit)
            }
            return ordered(query, orderIndex, docs, state)
        }
        // Drivers: per field, its register conditions together (one range), and each set
        // condition alone. The most selective drives; every other condition filters.
        var drivers: [(index: FieldIndex, conditions: [Int])] = []
        for (i, c) in query.conditions.enumerated() {
            guard let f = indexes[c.field] else { continue }
            if c.onRegister, let d = drivers.firstIndex(where: { $0.index === f && query.conditions[$0.conditions[0]].onRegister }) {
                drivers[d].conditions.append(i)
            } else {
                drivers.append((f, [i]))
            }
        }
        var best = 0
        var bestCount = Int.max
        for (n, d) in drivers.enumerated() {
            let count = d.index.estimate(d.conditions.map { query.conditions[$0] })
            if count < bestCount {
                best = n
                bestCount = count
            }
        }
        guard best < drivers.count else { return [] }
        let driving = drivers[best].conditions
        let slots = drivers[best].index.slots
        var found = drivers[best].index.candidates(driving.map { query.conditions[$0] })
        // The other conditions are checked on their own fields' indexes (one probe each, as
        // exact as the documents: the indexes are kept up to date), not on the documents: a
        // document lookup is several cache misses at a million documents. A candidate shows
        // the driving field, so it is not blank.
        var others: [(FieldIndex, QueryCondition)] = []
        for (i, c) in query.conditions.enumerated() where !driving.contains(i) {
            guard let f = indexes[c.field] else { return [] }
            others.append((f, c))
        }
        // Checked by slot: the other fields' values are array elements at the same slot.
        found.removeAll { slot in
            if !others.allSatisfy({ $0.0.accepts(slot, $0.1) }) { return true }
            if query.prefix.isEmpty && query.after == nil { return false }
            let id = slots.id(slot)
            if !query.prefix.isEmpty, !id.hasBytePrefix(query.prefix) { return true }
            if let after = query.after, id <= after { return true }
            return false
        }
        if let orderIndex {
            found.sort { a, b in
                Self.precedes(slots.id(a), slots.id(b), { _ in nil }, query.descending, orderIndex.key(a), orderIndex.key(b))
            }
        } else {
            found.sort { slots.id($0) < slots.id($1) }
        }
        var ids = found.map { slots.id($0) }
        if ids.count > query.limit { ids.removeSubrange(query.limit...) }
        return ids
    }

    /// Order-field order: values (descending with `descending`), ties by ID (reversed too),
    /// documents lacking the field last in ID order.
    static func precedes(
        _ a: Key, _ b: Key, _ key: (Key) -> IndexKey?, _ descending: Bool, _ known: IndexKey?? = nil, _ knownB: IndexKey?? = nil
    ) -> Bool {
        switch (known ?? key(a), knownB ?? key(b)) {
        case (nil, nil): return a < b
        case (nil, _): return false
        case (_, nil): return true
        case (let ka?, let kb?):
            if ka != kb { return descending ? kb < ka : ka < kb }
            return descending ? b < a : a < b
        }
    }

    /// No condition, an order: the order field's sorted index walked up to `limit`, then the
    /// documents lacking the field. Equal values lie in slot order in the index, so each run of
    /// them is sorted by ID before it is taken (a long run of one value costs its length).
    private func ordered(_ query: Query, _ index: FieldIndex, _ docs: [Key: Document], _ state: ReplicaState) -> [Key] {
        var out: [Key] = []
        var run: [Key] = []
        var runKey: IndexKey?
        func takeRun() {
            run.sort { query.descending ? $1 < $0 : $0 < $1 }
            for id in run where out.count < query.limit { out.append(id) }
            run.removeAll(keepingCapacity: true)
        }
        func take(_ slot: UInt32) -> Bool {
            let key = index.key(slot)
            if key != runKey {
                takeRun()
                if out.count >= query.limit { return false }
                runKey = key
            }
            let id = index.slots.id(slot)
            if query.prefix.isEmpty || id.hasBytePrefix(query.prefix), docs[id]?.isBlank == false { run.append(id) }
            return true
        }
        index.forEachInOrder(descending: query.descending, take)
        takeRun()
        guard out.count < query.limit else { return out }
        forEachDocument(in: query.collection, of: state, prefix: query.prefix) { id, _ in
            if index.key(of: id) == nil { out.append(id) }
            return out.count < query.limit
        }
        return out
    }
}
