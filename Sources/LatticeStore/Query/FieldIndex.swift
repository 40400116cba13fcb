import LatticeCRDT

/// The index of one field of one collection: its register (or counter) values sorted, for
/// equality, ranges and order; and its set elements → documents.
///
/// Documents are named by their slot in the collection's ``DocumentSlots``: the value of a
/// slot is `current[slot]`. The sorted values are kept as a small log-structured merge tree
/// of ``SortedRun``s — entries `(summary, slot)` ordered by value, then slot (ties go by slot,
/// not by document ID, so that a search among equal values reads nothing but the run's own
/// arrays; the few readers that need equal values in ID order sort them):
///
/// - the *base* run, the bulk, rebuilt only when the delta, the base's stale entries or the
///   slots waiting to be given back reach √(N × buffer limit) (a rebuild is one O(N) pass: a few
///   milliseconds at a million documents, on the write that triggers it);
/// - the *delta* run, the documents moved since the base was built, merged with the buffer
///   when the buffer fills;
/// - the *buffer*: the slots changed since the delta was merged, unsorted.
///
/// An update writes the document's new value at once (so every check of a value is exact) and
/// appends the slot to the buffer. Nothing is ever searched for or moved in place: an entry a
/// later update made stale stays in its run, skipped by every reader (a slot's live entry is in
/// the run `level[slot]` names), until the next merge of that run drops it. Each merge is one
/// sequential pass, so a change costs a sort of the buffer and its share of two merges — about
/// √(N × buffer) entries copied per buffer of changes, and N per delta — instead of searches of a
/// million-entry order, each a chain of cache misses. A reader first merges the buffer into the
/// delta (at most ``defaultBufferLimit`` changes to sort, and a pass over the delta) and then
/// reads two sorted runs; when readers come between single writes, each write's share is that
/// pass, not the amortised one.
///
/// While a stale entry stays in a run, a search of that run may have to compare it: its value
/// *as placed* is kept (`baseRetired`) until the rebuild that drops it. The delta needs no such
/// table: every reader merges the buffer into it first, which drops its stale entries, so a
/// search of the delta meets live entries only.
///
/// Its state is checked for exclusive access statically only (`@exclusivity(unchecked)` on the
/// hot tables): the index is used by one thread, and the dynamic checks cost a tenth of an update.
final class FieldIndex {
    /// Where a slot's live entry is.
    enum Level: UInt8 {
        /// Nowhere: the document holds no value here.
        case none
        /// In the base run.
        case base
        /// In the delta run.
        case delta
        /// Only in the buffer (its value may be nil: then it has no entry once merged).
        case buffer
    }

    /// The collection's document slots (shared with its other field indexes).
    let slots: DocumentSlots
    /// By slot: the document's value now (nil: none).
    @exclusivity(unchecked) private var current: [IndexKey?] = []
    /// By slot: where its live entry is (two bits a slot: the merges look every entry's up,
    /// at random, and a quarter of a megabyte per million documents stays in the cache).
    @exclusivity(unchecked) private var level = Levels()
    /// The bulk of the entries.
    @exclusivity(unchecked) private var base = SortedRun()
    /// The entries placed since the base was built.
    @exclusivity(unchecked) private var delta = SortedRun()
    /// Slots changed since the delta was last merged, each once (their level is `.buffer`).
    @exclusivity(unchecked) private var buffered: [UInt32] = []
    /// Slots whose base entry is stale and has an inexact summary → the value it was placed
    /// with (until the base is rebuilt).
    @exclusivity(unchecked) private var baseRetired: [UInt32: IndexKey] = [:]
    /// The number of stale entries in the base run.
    @exclusivity(unchecked) private var staleInBase = 0
    /// Slots this index stopped holding: given back to `slots` once no run holds an entry of
    /// theirs (after the base is rebuilt), since a slot given back may be reused for another
    /// document, which must not meet the old document's stale entries.
    private var releasing: [UInt32] = []
    /// Changes buffered before they are sorted and merged into the delta: the most a reader
    /// sorts first.
    static let defaultBufferLimit = 1_024
    /// This index's buffer limit (tests make it small).
    let bufferLimit: Int
    /// How many documents hold a value.
    private(set) var valueCount = 0
    /// Set element → the slots of the documents whose field holds it.
    private(set) var elementDocuments: [Value: Set<UInt32>] = [:]
    /// By slot: the indexed elements, ascending.
    private var elementsOf: [UInt32: [Value]] = [:]
    /// The field.
    let field: Key

    /// Builds the index of `field` over a collection's documents.
    init(field: Key, documents: [Key: Document], slots: DocumentSlots, bufferLimit: Int = FieldIndex.defaultBufferLimit) {
        self.field = field
        self.slots = slots
        self.bufferLimit = max(1, bufferLimit)
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
                current[Int(slot)] = key
                level[Int(slot)] = .base
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
        base = SortedRun(sums: entries.map(\.key.summary), slots: entries.map(\.slot))
        mergeLimit = mergeLimit(base: base.count)
    }

    /// Makes the side tables cover every slot.
    @inline(__always)
    private func grow(to count: Int) {
        guard current.count < count else { return }
        // Room for half as many again: an index built over a collection whose slots another
        // index made first would otherwise be allocated to the slot, and the next document
        // added would copy the whole table (24 MB per million documents) there and then.
        if current.capacity < count { current.reserveCapacity(count + count / 2) }
        current.append(contentsOf: repeatElement(nil, count: count - current.count))
        level.grow(to: count)
    }

    /// Whether no document holds the field as a register, counter or set.
    var isEmpty: Bool { valueCount == 0 && elementsOf.isEmpty }

    /// Whether some document holds the field as a register or counter value (one to order by).
    var hasValues: Bool { valueCount > 0 }

    /// The value of a slot here (nil: none).
    @inline(__always)
    func key(_ slot: UInt32) -> IndexKey? { Int(slot) < current.count ? current[Int(slot)] : nil }

    /// The value document `id` is indexed with (nil: it holds none).
    func key(of id: Key) -> IndexKey? { slots.slot(id).flatMap(key) }

    /// The number of changes waiting in the buffer.
    var pendingCount: Int { buffered.count }

    /// The number of entries in the runs, stale ones included (for tests).
    var entryCount: Int { base.count + delta.count }

    /// The number of entries in the delta run (for tests).
    var deltaCount: Int { delta.count }

    /// How many times the buffer was merged into the delta (for tests).
    private(set) var bufferMerges = 0

    /// The delta's size that makes a merge into the base: √(N × buffer limit), which balances
    /// the two merges' copying (each change pays about 2·√(N / buffer limit) entries);
    /// computed when the base is built.
    private var mergeLimit = 0

    /// √(N × buffer limit), at least four buffers, for a base of `count` entries.
    private func mergeLimit(base count: Int) -> Int {
        max(4 * bufferLimit, Int(Double(count * bufferLimit).squareRoot()))
    }

    /// Whether live entry `a` goes before live entry `b` (value, then slot).
    @inline(__always)
    private static func precedes(_ a: (UInt64, UInt32), _ b: (UInt64, UInt32), _ current: [IndexKey?]) -> Bool {
        if a.0 != b.0 { return a.0 < b.0 }
        if !IndexKey.summaryIsExact(a.0) {
            let c = IndexKey.compare(current[Int(a.1)] ?? .null, current[Int(b.1)] ?? .null)
            if c != 0 { return c < 0 }
        }
        return a.1 < b.1
    }

    /// Records slot `s`'s new value: the entry it had becomes stale (its value kept for the
    /// searches of its run, which compare values only where inexact summaries tie), and the
    /// slot joins the buffer.
    @inline(__always)
    private func place(_ s: UInt32, _ key: IndexKey?) {
        let i = Int(s)
        if level[i] == .base {
            staleInBase += 1
            if let was = current[i], !IndexKey.summaryIsExact(was.summary) { baseRetired[s] = was }
        }
        current[i] = key
        if level[i] != .buffer {
            level[i] = .buffer
            buffered.append(s)
        }
    }

    /// Sorts the buffer and merges it into the delta (dropping the delta's stale entries).
    /// With `rebuilding`, a delta grown past its limit is merged into the base as well.
    /// - Returns: whether the base was rebuilt (and slots given back).
    @discardableResult
    private func mergeBuffer(rebuilding: Bool) -> Bool {
        if !buffered.isEmpty {
            let now = current
            var fresh: [(UInt64, UInt32)] = []
            fresh.reserveCapacity(buffered.count)
            for s in buffered { if let k = now[Int(s)] { fresh.append((k.summary, s)) } }
            fresh.sort { Self.precedes($0, $1, now) }
            let run = SortedRun(sums: fresh.map(\.0), slots: fresh.map(\.1))
            delta = merging(delta, live: .delta, with: run)
            for s in buffered { level[Int(s)] = now[Int(s)] == nil ? .none : .delta }
            buffered.removeAll(keepingCapacity: true)
            bufferMerges += 1
        }
        let limit = mergeLimit
        guard rebuilding && (delta.count >= limit || staleInBase >= limit || releasing.count >= limit) else { return false }
        mergeDelta()
        return true
    }

    /// `older`'s live entries (those whose slot's level is `live`) merged with every entry of
    /// `newer` (all live), in order. The levels and values are read through snapshots whose
    /// life ends with the merge, before the caller writes them (a snapshot still alive would
    /// make that write copy the whole table).
    private func merging(_ older: SortedRun, live: Level, with newer: SortedRun) -> SortedRun {
        { levels, now in
            SortedRun.merged(older, newer, keepingOlder: { levels[Int($0)] == live }, precedes: { Self.precedes($0, $1, now) })
        }(level, current)
    }

    /// Merges the delta into the base (dropping the base's stale entries), then gives back the
    /// slots this index let go of: no run holds an entry of theirs any more.
    private func mergeDelta() {
        if delta.count > 0 || staleInBase > 0 {
            base = merging(base, live: .base, with: delta)
            for s in delta.slots { level[Int(s)] = .base }
            delta = SortedRun()
            baseRetired.removeAll(keepingCapacity: true)
            staleInBase = 0
            mergeLimit = mergeLimit(base: base.count)
        }
        for slot in releasing { slots.release(slot) }
        releasing.removeAll(keepingCapacity: true)
    }

    /// Brings everything into the base run and gives back the slots let go of (a quiet moment,
    /// or a benchmark that must count the deferred work).
    func flush() {
        mergeBuffer(rebuilding: false)
        mergeDelta()
    }

    /// Prepares the runs for a reader: the buffer merged into the delta, so that two sorted
    /// runs hold every live entry.
    func settle() { mergeBuffer(rebuilding: false) }

    /// The value an entry of run `run` (base or delta) at slot `s` was placed with, when its
    /// summary is inexact (the only entries whose values a search compares). The delta is
    /// searched only settled, when all its entries are live.
    @inline(__always)
    private func placed(_ s: UInt32, in run: Level) -> IndexKey {
        if level[Int(s)] == run || run == .delta { return current[Int(s)] ?? .null }
        return baseRetired[s] ?? .null
    }

    /// Brings the index up to date for one document (`field` nil: the document or field is
    /// gone). `slot` is the document's slot if it has one; the index takes a slot for a
    /// document it starts to hold and gives it back when it stops (once the base is rebuilt).
    /// The document's value and set elements are current at once; its entry waits in the
    /// buffer until the next merge.
    /// - Returns: whether the index held the document before (then the document was not
    ///   blank: it showed this field), and the document's slot now (nil: it has none).
    @discardableResult
    func update(_ id: Key, slot known: UInt32?, _ field: Field?) -> (held: Bool, slot: UInt32?) {
        let newKey = field.flatMap(IndexKey.read)
        let newElements = field?.liveElements ?? []
        let oldKey = known.flatMap(key)
        let oldElements = elementsOf.isEmpty ? [] : known.flatMap { elementsOf[$0] } ?? []
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
            place(slot, newKey)
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
        // Readers merge the buffer into the delta too, so a delta that has grown past its
        // limit is merged into the base by the next write even when the buffer is not full.
        if buffered.count >= bufferLimit || releasing.count >= mergeLimit || delta.count >= mergeLimit || staleInBase >= mergeLimit {
            if mergeBuffer(rebuilding: true) {
                return (held, slots.slot(id))  // given back by the merge if no index holds it now
            }
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

    /// The bounds of a run (base or delta) for a key: the first index whose value is not below
    /// `key` (`inclusive`: not above it either — past every entry of `key`).
    private func bound(_ run: SortedRun, _ which: Level, _ key: IndexKey, after inclusive: Bool) -> Int {
        let sum = key.summary
        let exact = IndexKey.summaryIsExact(sum)
        return run.partition(sum) { s in
            if exact { return inclusive }
            let c = IndexKey.compare(placed(s, in: which), key)
            return inclusive ? c <= 0 : c < 0
        }
    }

    /// The first index of a run whose value's kind ranks at least `rank` (numbers: 2, strings: 3).
    private func kindBound(_ run: SortedRun, _ rank: UInt64) -> Int { run.partition(rank << 61) { _ in false } }

    /// Where the entries of a run satisfying a register test lie (a superset for NaNs: check
    /// `accepts`; stale entries included: check the level).
    private func range(_ run: SortedRun, _ which: Level, _ test: QueryCondition.Test) -> Range<Int> {
        func number(_ d: Double) -> IndexKey { .number(d == 0 ? 0 : d) }
        let (a, b): (Int, Int)
        switch test {
        case .equals(let v):
            let k = IndexKey(v)
            (a, b) = (bound(run, which, k, after: false), bound(run, which, k, after: true))
        case .greater(let x): (a, b) = (bound(run, which, number(x), after: true), kindBound(run, 3))
        case .greaterOrEqual(let x): (a, b) = (bound(run, which, number(x), after: false), kindBound(run, 3))
        case .less(let x): (a, b) = (kindBound(run, 2), bound(run, which, number(x), after: false))
        case .lessOrEqual(let x): (a, b) = (kindBound(run, 2), bound(run, which, number(x), after: true))
        case .containsAny: return run.count..<run.count
        }
        return a < b ? a..<b : a..<a
    }

    /// Where the entries of a run satisfying every one of several register tests lie: the
    /// intersection of their ranges (so `x>=0.5` with `x<0.501` walks only what both allow).
    private func range(_ run: SortedRun, _ which: Level, _ conditions: [QueryCondition]) -> Range<Int> {
        var r = 0..<run.count
        for c in conditions { r = r.clamped(to: range(run, which, c.test)) }
        return r
    }

    /// How many documents the conditions on this field can match (an upper bound): register
    /// conditions together, or one set condition.
    func estimate(_ conditions: [QueryCondition]) -> Int {
        if conditions.count == 1, case .containsAny(let wanted) = conditions[0].test {
            return wanted.reduce(0) { $0 + (elementDocuments[$1]?.count ?? 0) }
        }
        settle()
        return range(base, .base, conditions).count + range(delta, .delta, conditions).count
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
        settle()
        var out: [UInt32] = []
        for (run, which) in [(base, Level.base), (delta, .delta)] {
            let r = range(run, which, conditions)
            out.reserveCapacity(out.count + r.count)
            for i in r {
                let slot = run.slots[i]
                guard level[Int(slot)] == which, let key = current[Int(slot)] else { continue }
                if conditions.allSatisfy({ $0.accepts(key) }) { out.append(slot) }
            }
        }
        return out
    }

    /// Visits the slots holding a value in the order of their values (ties by slot), descending
    /// with `descending`, until `body` returns false: the two runs' live entries merged.
    func forEachInOrder(descending: Bool = false, _ body: (UInt32) -> Bool) {
        settle()
        let now = current
        let levels = level
        let b = base, d = delta
        if !descending {
            var i = 0
            var j = 0
            while true {
                while i < b.count && levels[Int(b.slots[i])] != .base { i += 1 }
                while j < d.count && levels[Int(d.slots[j])] != .delta { j += 1 }
                let slot: UInt32
                if i == b.count && j == d.count { return }
                if j == d.count || (i < b.count && Self.precedes((b.sums[i], b.slots[i]), (d.sums[j], d.slots[j]), now)) {
                    slot = b.slots[i]
                    i += 1
                } else {
                    slot = d.slots[j]
                    j += 1
                }
                if !body(slot) { return }
            }
        } else {
            var i = b.count - 1
            var j = d.count - 1
            while true {
                while i >= 0 && levels[Int(b.slots[i])] != .base { i -= 1 }
                while j >= 0 && levels[Int(d.slots[j])] != .delta { j -= 1 }
                let slot: UInt32
                if i < 0 && j < 0 { return }
                if j < 0 || (i >= 0 && Self.precedes((d.sums[j], d.slots[j]), (b.sums[i], b.slots[i]), now)) {
                    slot = b.slots[i]
                    i -= 1
                } else {
                    slot = d.slots[j]
                    j -= 1
                }
                if !body(slot) { return }
            }
        }
    }
}

/// A ``FieldIndex/Level`` per slot, packed two bits each.
struct Levels {
    private var words: [UInt64] = []

    /// Makes room for `count` slots (new ones at `.none`).
    mutating func grow(to count: Int) {
        let needed = (count + 31) / 32
        guard words.count < needed else { return }
        if words.capacity < needed { words.reserveCapacity(needed + needed / 2) }
        words.append(contentsOf: repeatElement(0, count: needed - words.count))
    }

    subscript(_ i: Int) -> FieldIndex.Level {
        @inline(__always) get {
            FieldIndex.Level(rawValue: UInt8(truncatingIfNeeded: words[i >> 5] >> UInt64((i & 31) << 1)) & 3) ?? .none
        }
        @inline(__always) set {
            let shift = UInt64((i & 31) << 1)
            words[i >> 5] = words[i >> 5] & ~(3 << shift) | UInt64(newValue.rawValue) << shift
        }
    }
}
