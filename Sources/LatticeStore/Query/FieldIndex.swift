import LatticeCRDT

/// The index of one field of one collection: its register (or counter) values sorted, for
/// equality, ranges and order; and its set elements → documents.
///
/// Documents are named by their slot in the collection's ``DocumentSlots``: the value of a
/// slot is `keyOf[slot]`, and the sorted values are a ``PackedOrder`` of slots, by value then
/// by slot. Ties go by slot, not by document ID, so that a search among equal values reads
/// nothing but the order's own arrays (a value's summary is usually exact); the few readers
/// that need equal values in ID order sort them (``QueryIndexes``).
///
/// Changes to the order are deferred and merged in batches (as PostgreSQL's GIN indexes keep
/// a pending list): an update records the document's new value at once — so every check of a
/// value is exact — and lists the slot as *pending*; ``flush()`` moves the pending slots in
/// the order in one sorted sweep, whose searches start where the previous one ended, instead
/// of two independent searches of a million-entry order per change, each a chain of cache
/// misses. Everything that reads the order (a query, a listing by value) flushes first; an
/// update flushes when ``defaultPendingLimit`` slots are pending, which bounds both the list
/// and what the next query pays.
final class FieldIndex {
    /// The collection's document slots (shared with its other field indexes).
    let slots: DocumentSlots
    /// By slot: the value the slot's entry in `order` was placed with, nil when the order
    /// holds no entry for it. The same as the document's value except for pending slots.
    private var keyOf: [IndexKey?] = []
    /// Slots whose value changed since the order was last brought up to date → the value now
    /// (nil: none). Their entries in `order` are still where `keyOf` placed them.
    private var pending: [UInt32: IndexKey?] = [:]
    /// Slots this index stopped holding since the last flush: given back to `slots` by the
    /// flush, once their entries are gone from `order` (a slot given back may be reused for
    /// another document, which must not find the old document's entry or value there).
    private var releasing: [UInt32] = []
    /// Pending slots (or slots to give back) that make an update flush: the most one query
    /// may have to merge first.
    static let defaultPendingLimit = 4_096
    /// This index's limit (tests make it small).
    let pendingLimit: Int
    /// How many documents hold a value.
    private(set) var valueCount = 0
    /// The slots with a value, in value-then-slot order, as of the last flush.
    private var placed = PackedOrder()
    /// Set element → the slots of the documents whose field holds it.
    private(set) var elementDocuments: [Value: Set<UInt32>] = [:]
    /// By slot: the indexed elements, ascending.
    private var elementsOf: [UInt32: [Value]] = [:]
    /// The field.
    let field: Key

    /// Builds the index of `field` over a collection's documents.
    init(field: Key, documents: [Key: Document], slots: DocumentSlots, pendingLimit: Int = FieldIndex.defaultPendingLimit) {
        self.field = field
        self.slots = slots
        self.pendingLimit = max(1, pendingLimit)
        var entries: [(key: IndexKey, slot: UInt32)] = []
        entries.reserveCapacity(documents.count)
        for (id, doc) in documents {
            guard let f = doc.fields[field] else { continue }
            let key = IndexKey.read(f)
            let elements = f.liveElements
            guard key != nil || !elements.isEmpty else { continue }
            let slot = slots.hold(id)
            grow(to: slots.capacity)
            if let key {
                keyOf[Int(slot)] = key
                entries.append((key, slot))
            }
            if !elements.isEmpty {
                elementsOf[slot] = elements
                for e in elements { elementDocuments[e, default: []].insert(slot) }
            }
        }
        entries.sort { a, b in
            let c = IndexKey.compare(a.key, b.key)
            return c != 0 ? c < 0 : a.slot < b.slot
        }
        valueCount = entries.count
        placed = PackedOrder(sorted: entries.map { ($0.key.summary, $0.slot) })
    }

    /// Makes `keyOf` cover every slot.
    @inline(__always)
    private func grow(to count: Int) {
        if keyOf.count < count { keyOf.append(contentsOf: repeatElement(nil, count: count - keyOf.count)) }
    }

    /// Whether no document holds the field as a register, counter or set.
    var isEmpty: Bool { valueCount == 0 && elementsOf.isEmpty }

    /// Whether some document holds the field as a register or counter value (one to order by).
    var hasValues: Bool { valueCount > 0 }

    /// The value of a slot here (nil: none), pending or not.
    @inline(__always)
    func key(_ slot: UInt32) -> IndexKey? {
        if !pending.isEmpty, let now = pending[slot] { return now }
        return Int(slot) < keyOf.count ? keyOf[Int(slot)] : nil
    }

    /// The order, up to date (flushed).
    var order: PackedOrder {
        flush()
        return placed
    }

    /// The value document `id` is indexed with (nil: it holds none).
    func key(of id: Key) -> IndexKey? { slots.slot(id).flatMap(key) }

    /// An entry of a flush: its value's summary and its slot (16 bytes, sorted without
    /// retains). Its value is `keyOf[slot]` while the flush sorts and searches it: the placed
    /// value for a removal, the new one for an insertion.
    private typealias Entry = (sum: UInt64, slot: UInt32)

    /// The position of an entry in the placed order: where it is, or where it goes; `from` as
    /// for ``PackedOrder/partition(_:from:_:)``. With an exact summary, entries of equal
    /// summary are equal values and only slots are compared.
    private func position(_ e: Entry, from: PackedOrder.Position) -> PackedOrder.Position {
        if IndexKey.summaryIsExact(e.sum) {
            return placed.partition(e.sum, from: from) { s in s < e.slot }
        }
        // The entry's own value is read only where summaries tie (rare for numbers), and not at
        // all at the entry itself (a removal's search meets it: it is not below itself).
        return placed.partition(e.sum, from: from) { s in
            if s == e.slot { return false }
            let c = IndexKey.compare(keyOf[Int(s)] ?? .null, keyOf[Int(e.slot)] ?? .null)
            return c != 0 ? c < 0 : s < e.slot
        }
    }

    /// Whether entry `a` goes before entry `b` in the order (value, then slot).
    private func precedes(_ a: Entry, _ b: Entry) -> Bool {
        if a.sum != b.sum { return a.sum < b.sum }
        if !IndexKey.summaryIsExact(a.sum) {
            let c = IndexKey.compare(keyOf[Int(a.slot)] ?? .null, keyOf[Int(b.slot)] ?? .null)
            if c != 0 { return c < 0 }
        }
        return a.slot < b.slot
    }

    /// The number of slots whose place in the order waits for a flush.
    var pendingCount: Int { pending.count }

    /// Merges the pending changes into the order: the entries of pending slots are found in
    /// one forward sweep (sorted by their placed value and slot) and removed, then the new
    /// entries are found the same way and inserted; then slots this index let go of are given
    /// back. O(pending × log(distance between neighbours)) searches over memory that the sweep
    /// walks forward, instead of O(pending × log N) independent ones.
    func flush() {
        if !pending.isEmpty {
            var removals: [Entry] = []
            var insertions: [Entry] = []
            removals.reserveCapacity(pending.count)
            insertions.reserveCapacity(pending.count)
            for (slot, now) in pending {
                let was = keyOf[Int(slot)]
                if was == now { continue }
                if let was { removals.append((was.summary, slot)) }
                if let now { insertions.append((now.summary, slot)) }
            }
            removals.sort(by: precedes)
            var positions: [PackedOrder.Position] = []
            positions.reserveCapacity(removals.count)
            var from = PackedOrder.Position.start
            for r in removals {
                from = position(r, from: from)
                assert(from < placed.end && placed.slot(at: from) == r.slot, "a pending slot's entry is where its placed value says")
                positions.append(from)
            }
            placed.remove(positions)
            for (slot, now) in pending { keyOf[Int(slot)] = now }
            pending.removeAll(keepingCapacity: true)
            insertions.sort(by: precedes)
            var batch: [(sum: UInt64, slot: UInt32, at: PackedOrder.Position)] = []
            batch.reserveCapacity(insertions.count)
            from = .start
            for e in insertions {
                from = position(e, from: from)
                batch.append((e.sum, e.slot, from))
            }
            placed.insert(batch)
        }
        for slot in releasing { slots.release(slot) }
        releasing.removeAll(keepingCapacity: true)
    }

    /// The first position whose value is not below `key` (`inclusive`: not above it either —
    /// the first entry past every entry of `key`).
    func bound(_ key: IndexKey, after inclusive: Bool) -> PackedOrder.Position {
        flush()
        let sum = key.summary
        let exact = IndexKey.summaryIsExact(sum)
        return placed.partition(sum) { s in
            if exact { return inclusive }
            let c = IndexKey.compare(keyOf[Int(s)] ?? .null, key)
            return inclusive ? c <= 0 : c < 0
        }
    }

    /// The first position whose value's kind ranks at least `rank` (numbers: 2, strings: 3).
    func kindBound(_ rank: UInt64) -> PackedOrder.Position { order.partition(rank << 61) { _ in false } }

    /// Brings the index up to date for one document (`field` nil: the document or field is
    /// gone). `slot` is the document's slot if it has one; the index takes a slot for a
    /// document it starts to hold and gives it back when it stops (at the next flush). The
    /// document's value and set elements are current at once; its place in the order is
    /// pending until a flush.
    /// - Returns: whether the index held the document before (then the document was not
    ///   blank: it showed this field), and the document's slot now (nil: it has none).
    @discardableResult
    func update(_ id: Key, slot known: UInt32?, _ field: Field?) -> (held: Bool, slot: UInt32?) {
        let newKey = field.flatMap(IndexKey.read)
        let newElements = field?.liveElements ?? []
        let oldKey = known.flatMap(key)
        let oldElements = known.flatMap { elementsOf[$0] } ?? []
        let held = oldKey != nil || !oldElements.isEmpty
        let holds = newKey != nil || !newElements.isEmpty
        guard held || holds else { return (false, known) }
        let slot: UInt32
        if held, let known {
            slot = known
        } else {
            slot = slots.hold(id)
            grow(to: slots.capacity)
        }
        if newKey != oldKey {
            if oldKey != nil { valueCount -= 1 }
            if newKey != nil { valueCount += 1 }
            pending[slot] = newKey
        }
        if newElements != oldElements {
            for e in oldElements where !newElements.contains(e) {
                elementDocuments[e]?.remove(slot)
                if elementDocuments[e]?.isEmpty == true { elementDocuments[e] = nil }
            }
            for e in newElements where !oldElements.contains(e) { elementDocuments[e, default: []].insert(slot) }
            elementsOf[slot] = newElements.isEmpty ? nil : newElements
        }
        if held && !holds { releasing.append(slot) }
        if pending.count >= pendingLimit || releasing.count >= pendingLimit {
            flush()
            return (held, slots.slot(id))  // given back by the flush if no index holds it now
        }
        return (held, slot)
    }

    /// Whether the document at `slot` satisfies `condition` (on this index's field), as
    /// ``QueryCondition/matches(_:)`` would answer on the document.
    func accepts(_ slot: UInt32, _ condition: QueryCondition) -> Bool {
        if case .containsAny(let wanted) = condition.test {
            guard let elements = elementsOf[slot] else { return false }
            return wanted.contains { elements.contains($0) }
        }
        return key(slot).map(condition.accepts) ?? false
    }

    // MARK: Ranges

    /// Where the entries satisfying a register test lie (a superset for NaNs: check `accepts`).
    func range(_ test: QueryCondition.Test) -> (PackedOrder.Position, PackedOrder.Position) {
        func bound(_ d: Double) -> IndexKey { .number(d == 0 ? 0 : d) }
        switch test {
        case .equals(let v):
            let k = IndexKey(v)
            return (self.bound(k, after: false), self.bound(k, after: true))
        case .greater(let b): return (self.bound(bound(b), after: true), kindBound(3))
        case .greaterOrEqual(let b): return (self.bound(bound(b), after: false), kindBound(3))
        case .less(let b): return (kindBound(2), self.bound(bound(b), after: false))
        case .lessOrEqual(let b): return (kindBound(2), self.bound(bound(b), after: true))
        case .containsAny: return (order.end, order.end)
        }
    }

    /// Where the entries satisfying every one of several register tests lie: the intersection
    /// of their ranges (so `x>=0.5` with `x<0.501` walks only what both allow).
    func range(_ conditions: [QueryCondition]) -> (PackedOrder.Position, PackedOrder.Position) {
        var lower = PackedOrder.Position.start
        var upper = order.end
        for c in conditions {
            let (a, b) = range(c.test)
            lower = max(lower, a)
            upper = min(upper, b)
        }
        return (lower, upper)
    }

    /// How many documents the conditions on this field can match (an upper bound): register
    /// conditions together, or one set condition.
    func estimate(_ conditions: [QueryCondition]) -> Int {
        if conditions.count == 1, case .containsAny(let wanted) = conditions[0].test {
            return wanted.reduce(0) { $0 + (elementDocuments[$1]?.count ?? 0) }
        }
        let (a, b) = range(conditions)
        return placed.distance(from: a, to: b)
    }

    /// The documents satisfying the conditions on this field (as for ``estimate(_:)``), by
    /// slot, in no particular document order.
    func candidates(_ conditions: [QueryCondition]) -> [UInt32] {
        if conditions.count == 1, case .containsAny(let wanted) = conditions[0].test {
            if wanted.count == 1 { return Array(elementDocuments[wanted[0]] ?? []) }
            var all = Set<UInt32>()
            for w in wanted { if let docs = elementDocuments[w] { all.formUnion(docs) } }
            return Array(all)
        }
        let (a, b) = range(conditions)
        var remaining = placed.distance(from: a, to: b)
        var out: [UInt32] = []
        out.reserveCapacity(remaining)
        placed.forEach(from: a) { slot in
            guard remaining > 0 else { return false }
            remaining -= 1
            guard let key = keyOf[Int(slot)] else { return true }
            if conditions.allSatisfy({ $0.accepts(key) }) { out.append(slot) }
            return true
        }
        return out
    }
}
