/// A replica's full CRDT state: every live entry, grouped as collection → document → field, and
/// the causal context of every dot the replica has seen.
///
/// States form a join-semilattice: `join` is commutative, associative and idempotent, so every
/// replica that has seen the same changes holds an equal state, whatever the delivery order.
/// Empty fields, documents and collections are pruned, so equal content means equal values.
public struct ReplicaState: Hashable, Sendable {
    /// Every dot seen.
    public internal(set) var context: CausalContext
    /// The live entries.
    public internal(set) var store: Store

    /// The empty state.
    public init() {
        context = CausalContext()
        store = [:]
    }

    init(context: CausalContext, store: Store) {
        self.context = context
        self.store = store
    }

    /// A state holding only another state's causal context: what a peer sends to say "this is
    /// what I have" (the version vector message of a sync round).
    /// - Parameter other: the state whose context to keep.
    public init(vectorOf other: ReplicaState) {
        self.init(context: other.context, store: [:])
    }

    /// The version vector of the seen dots (without the cloud).
    public var versionVector: VersionVector { context.vector }

    // MARK: Joins

    /// Applies a delta (O(size of the delta)).
    /// - Parameter delta: a delta from any replica, in any order, any number of times.
    public mutating func apply(_ delta: Delta) {
        delta.forEachField { path, field in
            joinField(path.collection, path.document, path.field, field, theirs: delta.context, references: nil, scoped: true)
        }
        context.formUnion(delta.context)
        if hasErasures { enforceErasures(after: delta) }
    }

    /// Applies a delta and reports, per text field it touched, the visible edits it made (as an
    /// editor would apply them, in order).
    /// - Parameter delta: a delta from any replica.
    /// - Returns: the splices by field (empty for a delta touching no text).
    public mutating func applyReportingText(_ delta: Delta) -> [FieldPath: [TextSplice]] {
        var out: [FieldPath: [TextSplice]] = [:]
        delta.forEachField { path, field in
            if field.text != nil {
                var splices: [TextSplice]? = []
                joinField(path.collection, path.document, path.field, field, theirs: delta.context, references: nil, scoped: true, splices: &splices)
                if let s = splices, !s.isEmpty { out[path] = s }
            } else {
                joinField(path.collection, path.document, path.field, field, theirs: delta.context, references: nil, scoped: true)
            }
        }
        context.formUnion(delta.context)
        if hasErasures { enforceErasures(after: delta) }
        return out
    }

    /// Joins another replica's full state (O(both states)).
    /// - Parameter other: the other state.
    public mutating func join(_ other: ReplicaState) {
        var none: [FieldPath: [TextSplice]]?
        var untracked: [(collection: Key, id: Key)]?
        join(store: other.store, context: other.context, references: nil, splices: &none, touched: &untracked)
    }

    /// Joins a catch-up computed by a peer with `delta(since:)` against this state's vector.
    /// - Parameter delta: the peer's state delta.
    public mutating func join(_ delta: StateDelta) {
        var none: [FieldPath: [TextSplice]]?
        var untracked: [(collection: Key, id: Key)]?
        join(store: delta.store, context: delta.context, references: delta.references, splices: &none, touched: &untracked)
    }

    /// Joins a catch-up and reports, per text field it changed, the visible edits it made.
    /// - Parameter delta: the peer's state delta.
    /// - Returns: the splices by field.
    public mutating func joinReportingText(_ delta: StateDelta) -> [FieldPath: [TextSplice]] {
        joinReporting(delta, text: true).splices
    }

    /// Joins a catch-up and reports the documents it may have changed — every document it
    /// carries, and every document here that lost an entry to it (a removal the peer had seen)
    /// — and, with `text`, per text field the visible edits it made. A store keeps its query
    /// indexes up to date from the documents instead of rebuilding them.
    /// - Returns: the splices by field (empty without `text`) and the documents, each once.
    public mutating func joinReporting(_ delta: StateDelta, text: Bool) -> (splices: [FieldPath: [TextSplice]], documents: [(collection: Key, id: Key)]) {
        var out: [FieldPath: [TextSplice]]? = text ? [:] : nil
        var touched: [(collection: Key, id: Key)]? = []
        join(store: delta.store, context: delta.context, references: delta.references, splices: &out, touched: &touched)
        return (out ?? [:], touched ?? [])
    }

    /// The join of two states.
    /// - Parameter other: the other state.
    /// - Returns: the least state above both.
    public func joined(_ other: ReplicaState) -> ReplicaState {
        var copy = self
        copy.join(other)
        return copy
    }

    /// With `report` non-nil, the splices of every text field the join changed are added to it.
    /// With `touched` non-nil, the documents the join may have changed are appended to it (each
    /// once): those `other` holds, and those here that lost an entry.
    private mutating func join(
        store other: Store, context theirs: CausalContext, references: DotSet?, splices report: inout [FieldPath: [TextSplice]]?,
        touched: inout [(collection: Key, id: Key)]?
    ) {
        if touched != nil {
            for (collection, docs) in other { for id in docs.keys { touched?.append((collection, id)) } }
        }
        if store.isEmpty && context.isEmpty && references == nil && report == nil {
            store = other
            context = theirs
            if hasErasures { enforceAllErasures() }
            return
        }
        /// Joins one field; with `counting`, whether it lost an entry.
        func joinOne(_ collection: Key, _ id: Key, _ name: Key, _ field: Field, counting: Bool = false) -> Bool {
            let textual = report != nil && (field.text != nil || store[collection]?[id]?.fields[name]?.text != nil)
            var splices: [TextSplice]? = textual ? [] : nil
            let lost = joinField(collection, id, name, field, theirs: theirs, references: references, scoped: false, splices: &splices, counting: counting)
            if let s = splices, !s.isEmpty { report?[FieldPath(collection, id, name)] = s }
            return lost
        }
        // Entries only here: removed when the other side has seen their dot (unless referenced).
        let tracking = touched != nil
        for (collection, docs) in store {
            for (id, doc) in docs {
                let theirsDoc = other[collection]?[id]
                // A document the other side does not hold can only lose entries here.
                let counting = tracking && theirsDoc == nil
                var lost = false
                for (name, _) in doc.fields {
                    if joinOne(collection, id, name, theirsDoc?.fields[name] ?? Field(), counting: counting && !lost) { lost = true }
                }
                if lost { touched?.append((collection, id)) }
            }
        }
        // Fields only there.
        for (collection, docs) in other {
            for (id, doc) in docs {
                for (name, field) in doc.fields where store[collection]?[id]?.fields[name] == nil {
                    _ = joinOne(collection, id, name, field)
                }
            }
        }
        context.formUnion(theirs)
        if hasErasures { enforceAllErasures() }
    }

    private mutating func joinField(
        _ collection: Key, _ id: Key, _ name: Key, _ field: Field,
        theirs: CausalContext, references: DotSet?, scoped: Bool
    ) {
        var none: [TextSplice]?
        joinField(collection, id, name, field, theirs: theirs, references: references, scoped: scoped, splices: &none)
    }

    /// - Parameter counting: whether to report if the field lost an entry (it costs a count of
    ///   its entries before and after).
    /// - Returns: with `counting`, whether the field lost an entry (false without).
    @discardableResult
    private mutating func joinField(
        _ collection: Key, _ id: Key, _ name: Key, _ field: Field,
        theirs: CausalContext, references: DotSet?, scoped: Bool, splices: inout [TextSplice]?, counting: Bool = false
    ) -> Bool {
        if field.hasNoEntries && store[collection]?[id]?.fields[name] == nil { return false }
        let mine = context
        // One access path for the join and the emptiness check (three hashed lookups, not six).
        let (emptied, lost) = Self.join(
            &store[collection, default: [:]][id, default: Document()].fields[name, default: Field()], field,
            mine: mine, theirs: theirs, references: references, scoped: scoped, splices: &splices, counting: counting)
        if emptied {
            store[collection]?[id]?.fields[name] = nil
            if store[collection]?[id]?.isEmpty == true {
                store[collection]?[id] = nil
                if store[collection]?.isEmpty == true { store[collection] = nil }
            }
        }
        return lost
    }

    /// Joins `incoming` into `field`; whether the field ended up empty, and (with `counting`)
    /// whether it lost an entry.
    @inline(__always)
    private static func join(
        _ field: inout Field, _ incoming: Field, mine: CausalContext, theirs: CausalContext, references: DotSet?, scoped: Bool,
        splices: inout [TextSplice]?, counting: Bool
    ) -> (emptied: Bool, lost: Bool) {
        let before = counting ? field.entryCount : 0
        field.join(incoming, mine: mine, theirs: theirs, references: references, scopedElements: scoped, keepScopeMarks: false, splices: &splices)
        return (field.isEmpty, counting && field.entryCount != before)
    }

    // MARK: Catch-up

    /// What a peer whose version vector is `peer` lacks: every entry whose dot it has not seen,
    /// this state's context, and references (dots without payload) for the entries it has seen
    /// and that are still live here, so that it can drop those that were removed.
    ///
    /// Joining the result into a state whose vector is `peer` gives the same state as joining
    /// this whole state. O(this state).
    /// - Parameter peer: the peer's version vector.
    /// - Returns: the catch-up.
    public func delta(since peer: VersionVector) -> StateDelta {
        var out: Store = [:]
        var references: [ReplicaID: [UInt64]] = [:]
        for (collection, docs) in store {
            var outDocs: [Key: Document] = [:]
            for (id, doc) in docs {
                var outDoc = Document()
                for (name, field) in doc.fields {
                    var sent = Field()
                    for e in field.registers {
                        if peer.contains(e.tag.dot) {
                            references[e.tag.dot.replica, default: []].append(e.tag.dot.counter)
                        } else {
                            sent.registers.append(e)
                        }
                    }
                    for e in field.counters {
                        if peer.contains(e.tag.dot) {
                            references[e.tag.dot.replica, default: []].append(e.tag.dot.counter)
                        } else {
                            sent.counters.append(e)
                        }
                    }
                    for (element, tags) in field.elements {
                        var kept: [Tag] = []
                        for t in tags {
                            if peer.contains(t.dot) {
                                references[t.dot.replica, default: []].append(t.dot.counter)
                            } else {
                                kept.append(t)
                            }
                        }
                        if !kept.isEmpty { sent.elements[element] = kept }
                    }
                    if let text = field.text, !text.isEmpty {
                        let missing = text.missing(since: peer)
                        if !missing.isEmpty { sent.text = missing }
                    }
                    if !sent.isEmpty { outDoc.fields[name] = sent }
                }
                if !outDoc.isEmpty { outDocs[id] = outDoc }
            }
            if !outDocs.isEmpty { out[collection] = outDocs }
        }
        return StateDelta(context: context, store: out, references: DotSet(references))
    }

    // MARK: Reads

    /// The collection names, ascending.
    public var collections: [Key] { store.keys.sorted() }

    /// A document.
    /// - Parameters:
    ///   - collection: the collection.
    ///   - id: the document ID.
    /// - Returns: the document, or `nil` when it does not exist.
    public func document(_ collection: Key, _ id: Key) -> Document? {
        guard let doc = store[collection]?[id], !doc.isBlank else { return nil }
        return doc
    }

    /// A field's raw entries.
    /// - Parameter path: the field's address.
    /// - Returns: the field, or `nil` when absent.
    public func field(_ path: FieldPath) -> Field? { store[path.collection]?[path.document]?.fields[path.field] }

    /// A field's read value.
    /// - Parameter path: the field's address.
    /// - Returns: the value, or `nil` when absent.
    public func value(_ path: FieldPath) -> FieldValue? { field(path)?.value }

    /// Document IDs of a collection, ascending by bytes.
    /// - Parameters:
    ///   - collection: the collection.
    ///   - prefix: only IDs starting with these bytes.
    /// - Returns: the IDs.
    public func documentIDs(in collection: Key, prefix: String = "") -> [Key] {
        guard let docs = store[collection] else { return [] }
        if prefix.isEmpty { return docs.compactMap { $0.value.isBlank ? nil : $0.key }.sorted() }
        return docs.compactMap { $0.key.hasBytePrefix(prefix) && !$0.value.isBlank ? $0.key : nil }.sorted()
    }

    /// The number of documents across all collections.
    public var documentCount: Int { store.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + ($1.isBlank ? 0 : 1) } } }

    /// The number of live entries.
    public var entryCount: Int {
        storeEntryCount(store)
    }
}
