import LatticeCRDT

/// The index of one field of one collection: its register (or counter) values sorted with
/// the document IDs, for equality, ranges and order; and its set elements → documents.
final class FieldIndex {
    /// `(value, id)` of every document whose field reads as a register or counter value.
    private(set) var sorted = SortedChunks<IndexEntry>()
    /// The indexed value of each document (to find its entry when it changes).
    private(set) var keys: [Key: IndexKey] = [:]
    /// Set element → the documents whose field holds it.
    private(set) var elementDocuments: [Value: Set<Key>] = [:]
    /// The indexed elements of each document, ascending.
    private var elementsOf: [Key: [Value]] = [:]
    /// The field.
    let field: Key

    /// Builds the index of `field` over a collection's documents.
    init(field: Key, documents: [Key: Document]) {
        self.field = field
        var entries: [IndexEntry] = []
        entries.reserveCapacity(documents.count)
        keys.reserveCapacity(documents.count)
        for (id, doc) in documents {
            guard let f = doc.fields[field] else { continue }
            if let k = IndexKey.read(f) {
                entries.append(IndexEntry(key: k, id: id))
                keys[id] = k
            }
            let elements = f.liveElements
            if !elements.isEmpty {
                elementsOf[id] = elements
                for e in elements { elementDocuments[e, default: []].insert(id) }
            }
        }
        entries.sort()
        sorted = SortedChunks(sorted: entries)
    }

    /// Whether no document holds the field as a register, counter or set.
    var isEmpty: Bool { keys.isEmpty && elementsOf.isEmpty }

    /// Brings the index up to date for one document (`nil`: the document or field is gone).
    /// - Returns: whether the index held the document before (then the document was not
    ///   blank: it showed this field).
    @discardableResult
    func update(_ id: Key, _ field: Field?) -> Bool {
        let new = field.flatMap(IndexKey.read)
        var held = false
        // Each dictionary probe is a cache miss at a million documents: skip the side that
        // neither held nor will hold anything.
        if new != nil || !keys.isEmpty {
            let old = keys[id]
            held = old != nil
            if new != old {
                if let old { sorted.remove(IndexEntry(key: old, id: id)) }
                if let new { sorted.insert(IndexEntry(key: new, id: id)) }
                keys[id] = new
            }
        }
        let newElements = field?.liveElements ?? []
        guard !newElements.isEmpty || !elementsOf.isEmpty else { return held }
        let oldElements = elementsOf[id] ?? []
        held = held || !oldElements.isEmpty
        guard newElements != oldElements else { return held }
        for e in oldElements where !newElements.contains(e) {
            elementDocuments[e]?.remove(id)
            if elementDocuments[e]?.isEmpty == true { elementDocuments[e] = nil }
        }
        for e in newElements where !oldElements.contains(e) { elementDocuments[e, default: []].insert(id) }
        elementsOf[id] = newElements.isEmpty ? nil : newElements
        return held
    }

    /// Whether document `id` satisfies `condition` (on this index's field), as
    /// ``QueryCondition/matches(_:)`` would answer on the document.
    func accepts(_ id: Key, _ condition: QueryCondition) -> Bool {
        if case .containsAny(let wanted) = condition.test {
            guard let elements = elementsOf[id] else { return false }
            return wanted.contains { elements.contains($0) }
        }
        return keys[id].map(condition.accepts) ?? false
    }

    // MARK: Ranges

    /// Where the entries satisfying a register test lie (a superset for NaNs: check `accepts`).
    func range(_ test: QueryCondition.Test) -> (SortedChunks<IndexEntry>.Position, SortedChunks<IndexEntry>.Position) {
        let numbersStart = sorted.partition { $0.key.rank < 2 }
        let numbersEnd = sorted.partition { $0.key.rank <= 2 }
        func bound(_ d: Double) -> IndexKey { .number(d == 0 ? 0 : d) }
        switch test {
        case .equals(let v):
            let k = IndexKey(v)
            return (sorted.partition { $0.key < k }, sorted.partition { $0.key <= k })
        case .greater(let b): return (sorted.partition { $0.key <= bound(b) }, numbersEnd)
        case .greaterOrEqual(let b): return (sorted.partition { $0.key < bound(b) }, numbersEnd)
        case .less(let b): return (numbersStart, sorted.partition { $0.key < bound(b) })
        case .lessOrEqual(let b): return (numbersStart, sorted.partition { $0.key <= bound(b) })
        case .containsAny: return (sorted.end, sorted.end)
        }
    }

    /// Where the entries satisfying every one of several register tests lie: the intersection
    /// of their ranges (so `x>=0.5` with `x<0.501` walks only what both allow).
    func range(_ conditions: [QueryCondition]) -> (SortedChunks<IndexEntry>.Position, SortedChunks<IndexEntry>.Position) {
        var lower = SortedChunks<IndexEntry>.Position.start
        var upper = sorted.end
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
        return sorted.distance(from: a, to: b)
    }

    /// The documents satisfying the conditions on this field (as for ``estimate(_:)``), and
    /// whether they come in ID order.
    func candidates(_ conditions: [QueryCondition]) -> (ids: [Key], ordered: Bool) {
        if conditions.count == 1, case .containsAny(let wanted) = conditions[0].test {
            if wanted.count == 1 { return (Array(elementDocuments[wanted[0]] ?? []), false) }
            var all = Set<Key>()
            for w in wanted { if let docs = elementDocuments[w] { all.formUnion(docs) } }
            return (Array(all), false)
        }
        let (a, b) = range(conditions)
        var remaining = sorted.distance(from: a, to: b)
        var out: [Key] = []
        out.reserveCapacity(remaining)
        var first: IndexKey?
        var oneKey = true
        sorted.forEach(from: a) { e in
            guard remaining > 0 else { return false }
            remaining -= 1
            if first == nil { first = e.key } else if oneKey, e.key != first { oneKey = false }
            if conditions.allSatisfy({ $0.accepts(e.key) }) { out.append(e.id) }
            return true
        }
        // Entries of one value are in ID order.
        return (out, oneKey)
    }
}
