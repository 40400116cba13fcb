/// The kind of a field, fixed by its first write.
public enum FieldKind: String, Hashable, Sendable, CaseIterable {
    /// A multi-value register read as last-writer-wins.
    case register
    /// An add-wins observed-remove set.
    case set
    /// A PN-counter.
    case counter
    /// Collaborative text (a sequence CRDT: concurrent edits merge character by character).
    case text
}

/// One field of a document: a dot store holding register values, set elements or counter
/// contributions, each entry tagged with the dot that created it.
///
/// A field normally holds entries of one kind. Two replicas that concurrently write a new field
/// with different kinds produce a field holding both; it then reads as the kind of its
/// last-writer-wins newest entry, is reported by the conflict query, and the next local write of
/// that kind removes the observed entries of the other kinds. All arrays are sorted by dot.
public struct Field: Hashable, Sendable {
    /// Register siblings, sorted by dot. More than one means a conflict.
    public internal(set) var registers: [RegisterEntry]
    /// Set elements → the tags of their (concurrent) adds, sorted by dot.
    public internal(set) var elements: [Value: [Tag]]
    /// Counter contributions (at most one per replica), sorted by dot.
    public internal(set) var counters: [CounterEntry]
    /// Text: its characters, tombstones and deletions (a state-based CRDT of its own, joined by
    /// union; its character IDs are dots of the replica's context).
    public internal(set) var text: TextSequence?

    /// An empty field.
    public init() {
        registers = []
        elements = [:]
        counters = []
        text = nil
    }

    /// Whether the field holds no entry (and, in a delta, no scope marks either).
    public var isEmpty: Bool { registers.isEmpty && elements.isEmpty && counters.isEmpty && (text?.isEmpty ?? true) }

    /// Whether the field holds no entry, ignoring empty scope marks of a delta.
    var hasNoEntries: Bool {
        registers.isEmpty && counters.isEmpty && elements.values.allSatisfy(\.isEmpty) && (text?.isEmpty ?? true)
    }

    /// Whether the field shows nothing: no entry, and no visible text (a text whose characters
    /// were all deleted keeps its tombstones, so that concurrent insertions still find their place).
    public var isBlank: Bool {
        registers.isEmpty && counters.isEmpty && elements.values.allSatisfy(\.isEmpty) && (text?.isBlank ?? true)
    }

    /// The number of entries (a text counts as one).
    public var entryCount: Int {
        registers.count + counters.count + elements.values.reduce(0) { $0 + $1.count } + (text.map { $0.isEmpty ? 0 : 1 } ?? 0)
    }

    /// The kinds present.
    public var kinds: [FieldKind] {
        var k: [FieldKind] = []
        if !registers.isEmpty { k.append(.register) }
        if elements.values.contains(where: { !$0.isEmpty }) { k.append(.set) }
        if !counters.isEmpty { k.append(.counter) }
        if let text, !text.isEmpty { k.append(.text) }
        return k
    }

    /// The kind the field reads as: the only kind present, or, when concurrent first writes
    /// left several, the kind of the entry that wins last-writer-wins. `nil` when empty.
    ///
    /// A field holding text reads as text: concurrent first writes of text and another kind
    /// (rare) leave both, reported by the conflict query, and text wins deterministically.
    public var kind: FieldKind? {
        if let text, !text.isEmpty { return .text }
        let hasRegisters = !registers.isEmpty
        let hasCounters = !counters.isEmpty
        let hasElements = !elements.isEmpty && elements.values.contains(where: { !$0.isEmpty })
        switch (hasRegisters, hasElements, hasCounters) {
        case (false, false, false): return nil
        case (true, false, false): return .register
        case (false, true, false): return .set
        case (false, false, true): return .counter
        default: break
        }
        var best: (Tag, FieldKind)?
        func consider(_ tag: Tag, _ kind: FieldKind) {
            if let b = best, !tag.wins(over: b.0) { return }
            best = (tag, kind)
        }
        for e in registers { consider(e.tag, .register) }
        for tags in elements.values { for t in tags { consider(t, .set) } }
        for e in counters { consider(e.tag, .counter) }
        return best?.1
    }

    /// Calls `body` with the dot of every entry.
    /// - Parameter body: receives each dot.
    public func forEachDot(_ body: (Dot) -> Void) {
        for e in registers { body(e.tag.dot) }
        for tags in elements.values { for t in tags { body(t.dot) } }
        for e in counters { body(e.tag.dot) }
    }

    /// Calls `body` with every tag.
    /// - Parameter body: receives each tag.
    public func forEachTag(_ body: (Tag) -> Void) {
        for e in registers { body(e.tag) }
        for tags in elements.values { for t in tags { body(t) } }
        for e in counters { body(e.tag) }
    }

    /// Joins `other` into `self` (the causal dot-store join).
    ///
    /// An entry present on one side only survives unless the other side's context has seen its
    /// dot (then the other side removed it). An entry on both sides survives.
    /// - Parameters:
    ///   - other: the incoming field.
    ///   - mine: the context of the side `self` comes from (before this join).
    ///   - theirs: the context of the side `other` comes from.
    ///   - references: dots the other side holds but sent without payload (`StateDelta`).
    ///   - scopedElements: visit only the elements named by `other` (a mutator delta's scope).
    ///   - keepScopeMarks: keep elements whose tag list became empty (deltas keep them).
    mutating func join(
        _ other: Field,
        mine: CausalContext,
        theirs: CausalContext,
        references: DotSet?,
        scopedElements: Bool,
        keepScopeMarks: Bool
    ) {
        var none: [TextSplice]?
        join(other, mine: mine, theirs: theirs, references: references, scopedElements: scopedElements, keepScopeMarks: keepScopeMarks, splices: &none)
    }

    /// The join, reporting the visible text edits it made when `splices` is non-nil.
    mutating func join(
        _ other: Field,
        mine: CausalContext,
        theirs: CausalContext,
        references: DotSet?,
        scopedElements: Bool,
        keepScopeMarks: Bool,
        splices: inout [TextSplice]?
    ) {
        if let theirText = other.text, !theirText.isEmpty {
            if keepScopeMarks {
                if text == nil { text = theirText } else { text?.absorb(theirText) }
            } else {
                if text == nil {
                    var t = TextSequence()
                    t.integrate(theirText, splices: &splices)
                    text = t
                } else {
                    text?.integrate(theirText, splices: &splices)
                }
            }
        }
        if !registers.isEmpty || !other.registers.isEmpty {
            registers = joinSorted(registers, other.registers, \.tag.dot, mine, theirs, references)
        }
        if !counters.isEmpty || !other.counters.isEmpty {
            counters = joinSorted(counters, other.counters, \.tag.dot, mine, theirs, references)
        }
        for (element, theirTags) in other.elements {
            let myTags = elements[element] ?? []
            let joined = joinSorted(myTags, theirTags, \.dot, mine, theirs, references)
            if joined.isEmpty && !keepScopeMarks { elements[element] = nil } else { elements[element] = joined }
        }
        if !scopedElements && !elements.isEmpty {
            for (element, myTags) in elements where other.elements[element] == nil {
                let kept = myTags.filter { !theirs.contains($0.dot) || references?.contains($0.dot) == true }
                if kept.count != myTags.count {
                    if kept.isEmpty && !keepScopeMarks { elements[element] = nil } else { elements[element] = kept }
                }
            }
        }
    }
}

/// The causal join of two dot-sorted entry lists (a linear merge).
@inline(__always)
func joinSorted<E>(
    _ mine: [E],
    _ theirs: [E],
    _ dot: (E) -> Dot,
    _ mineContext: CausalContext,
    _ theirContext: CausalContext,
    _ references: DotSet?
) -> [E] {
    if theirs.isEmpty {
        // Fast path: only removals can happen.
        if mine.allSatisfy({ !theirContext.contains(dot($0)) || references?.contains(dot($0)) == true }) {
            return mine
        }
    } else if mine.allSatisfy({ theirContext.contains(dot($0)) && references?.contains(dot($0)) != true }),
        theirs.allSatisfy({ !mineContext.contains(dot($0)) })
    {
        // Fast path: a superseding write (or a new field): every entry here is removed, every
        // incoming one is new, so the result is exactly theirs (shared, not copied).
        return theirs
    }
    var out: [E] = []
    out.reserveCapacity(mine.count + theirs.count)
    var i = 0
    var j = 0
    while i < mine.count || j < theirs.count {
        if j == theirs.count || (i < mine.count && dot(mine[i]) < dot(theirs[j])) {
            let d = dot(mine[i])
            if !theirContext.contains(d) || references?.contains(d) == true { out.append(mine[i]) }
            i += 1
        } else if i == mine.count || dot(theirs[j]) < dot(mine[i]) {
            if !mineContext.contains(dot(theirs[j])) { out.append(theirs[j]) }
            j += 1
        } else {
            out.append(mine[i])
            i += 1
            j += 1
        }
    }
    return out
}

/// What a field reads as.
public enum FieldValue: Hashable, Sendable {
    /// A register: the last-writer-wins winner and every sibling, winner first (more than one
    /// sibling means a conflict).
    case register(Value, siblings: [RegisterEntry])
    /// A set's elements in ascending value order.
    case set([Value])
    /// A counter's value (increments − decrements, wrapping on overflow).
    case counter(Int64)
    /// A text's visible string.
    case text(String)
}

extension Field {
    /// The field's read value, or `nil` when empty.
    public var value: FieldValue? {
        switch kind {
        case nil:
            return nil
        case .register:
            if registers.count == 1 { return .register(registers[0].value, siblings: registers) }
            let ordered = registers.sorted { $0.tag.wins(over: $1.tag) }
            return .register(ordered[0].value, siblings: ordered)
        case .set:
            // One array, sorted in place (no second copy).
            var live: [Value] = []
            live.reserveCapacity(elements.count)
            for (element, dots) in elements where !dots.isEmpty { live.append(element) }
            live.sort()
            return .set(live)
        case .text:
            return .text(text?.string ?? "")
        case .counter:
            var total: UInt64 = 0
            for e in counters { total = total &+ e.increments &- e.decrements }
            return .counter(Int64(bitPattern: total))
        }
    }
}
