import LatticeCRDT

/// The index of one field of one collection: its register (or counter) values sorted with
/// the document IDs, for equality, ranges and order; and its set elements → documents.
///
/// Documents are named by their slot in the collection's ``DocumentSlots``: the value of a
/// slot is `keyOf[slot]`, and the sorted values are a ``PackedOrder`` of slots, by value then
/// by document ID.
final class FieldIndex {
    /// The collection's document slots (shared with its other field indexes).
    let slots: DocumentSlots
    /// By slot: the indexed value, nil when the document holds none here.
    private var keyOf: [IndexKey?] = []
    /// How many documents hold a value.
    private(set) var valueCount = 0
    /// The slots with a value, in value-then-ID order.
    private(set) var order = PackedOrder()
    /// Set element → the slots of the documents whose field holds it.
    private(set) var elementDocuments: [Value: Set<UInt32>] = [:]
    /// By slot: the indexed elements, ascending.
    private var elementsOf: [UInt32: [Value]] = [:]
    /// The field.
    let field: Key

    /// Builds the index of `field` over a collection's documents.
    init(field: Key, documents: [Key: Document], slots: DocumentSlots) {
        self.field = field
        self.slots = slots
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
            return c != 0 ? c < 0 : slots.id(a.slot) < slots.id(b.slot)
        }
        valueCount = entries.count
        order = PackedOrder(sorted: entries.map { ($0.key.summary, $0.slot) })
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

    /// The value of a slot here (nil: none).
    @inline(__always)
    func key(_ slot: UInt32) -> IndexKey? { Int(slot) < keyOf.count ? keyOf[Int(slot)] : nil }

    /// The value document `id` is indexed with (nil: it holds none).
    func key(of id: Key) -> IndexKey? { slots.slot(id).flatMap(key) }

    /// The position of `(key, slot's document)` in the order: where it is, or where it goes.
    private func position(_ key: IndexKey, _ slot: UInt32) -> PackedOrder.Position {
        let id = slots.id(slot)
        return order.partition(key.summary) { s in
            let c = IndexKey.compare(keyOf[Int(s)] ?? .null, key)
            return c != 0 ? c < 0 : slots.id(s) < id
        }
    }

    /// The first position whose value is not below `key` (`inclusive`: not above it either —
    /// the first entry past every entry of `key`).
    func bound(_ key: IndexKey, after inclusive: Bool) -> PackedOrder.Position {
        order.partition(key.summary) { s in
            let c = IndexKey.compare(keyOf[Int(s)] ?? .null, key)
            return inclusive ? c <= 0 : c < 0
        }
    }

    /// The first position whose value's kind ranks at least `rank` (numbers: 2, strings: 3).
    func kindBound(_ rank: UInt64) -> PackedOrder.Position { order.partition(rank << 61) { _ in false } }

    /// Brings the index up to date for one document (`field` nil: the document or field is
    /// gone). `slot` is the document's slot if it has one; the index takes a slot for a
    /// document it starts to hold and gives it back when it stops.
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
            if let oldKey {
                order.remove(at: position(oldKey, slot))
                valueCount -= 1
            }
            keyOf[Int(slot)] = newKey
            if let newKey {
                order.insert(newKey.summary, slot, at: position(newKey, slot))
                valueCount += 1
            }
        }
        if newElements != oldElements {
            for e in oldElements where !newElements.contains(e) {
                elementDocuments[e]?.remove(slot)
                if elementDocuments[e]?.isEmpty == true { elementDocuments[e] = nil }
            }
            for e in newElements where !oldElements.contains(e) { elementDocuments[e, default: []].insert(slot) }
            elementsOf[slot] = newElements.isEmpty ? nil : newElements
        }
        if held && !holds, slots.release(slot) { return (true, nil) }
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
        return order.distance(from: a, to: b)
    }

    /// The documents satisfying the conditions on this field (as for ``estimate(_:)``), and
    /// whether they come in ID order.
    func candidates(_ conditions: [QueryCondition]) -> (slots: [UInt32], ordered: Bool) {
        if conditions.count == 1, case .containsAny(let wanted) = conditions[0].test {
            if wanted.count == 1 { return (Array(elementDocuments[wanted[0]] ?? []), false) }
            var all = Set<UInt32>()
            for w in wanted { if let docs = elementDocuments[w] { all.formUnion(docs) } }
            return (Array(all), false)
        }
        let (a, b) = range(conditions)
        var remaining = order.distance(from: a, to: b)
        var out: [UInt32] = []
        out.reserveCapacity(remaining)
        var first: IndexKey?
        var oneKey = true
        order.forEach(from: a) { slot in
            guard remaining > 0 else { return false }
            remaining -= 1
            guard let key = keyOf[Int(slot)] else { return true }
            if first == nil { first = key } else if oneKey, key != first { oneKey = false }
            if conditions.allSatisfy({ $0.accepts(key) }) { out.append(slot) }
            return true
        }
        // Entries of one value are in ID order.
        return (out, oneKey)
    }
}
