// Accessors for `lattice export`/`import` (added by the CLI work; no behaviour change elsewhere).

extension ReplicaState {
    /// The state restricted to some collections, with a causal context of exactly the dots of the
    /// entries it keeps (so joining it elsewhere adds these entries and removes nothing).
    /// - Parameter collections: the collections to keep (their erasures go with them).
    /// - Returns: the restricted state.
    public func restricted(to collections: Set<Key>) -> ReplicaState {
        var out = ReplicaState()
        for (name, all) in store where collections.contains(name) || name == Erasure.collection {
            var docs = all
            if name == Erasure.collection, !collections.contains(name) {
                // The erasures of the chosen collections go with them (an import must not
                // bring back what they erased).
                docs = all.filter { key, _ in Erasure.target(ofDocumentKey: key).map { collections.contains($0.collection) } ?? false }
                if docs.isEmpty { continue }
            }
            out.store[name] = docs
            for doc in docs.values {
                for field in doc.fields.values {
                    field.forEachDot { out.context.insert($0) }
                    field.text?.forEachCharacterDot { out.context.insert($0) }
                }
            }
        }
        return out
    }

    /// The delta that takes this state to `self ⊔ other`: applying it to `self` gives exactly the
    /// full join. Its context is `other`'s; it names every field of `other` and every field of
    /// `self` the join changes, with the joined entries `other` has seen (and empty scope marks).
    ///
    /// Used to log an imported state as one change. It is exact for this state; a replica whose
    /// state differs must join `other` itself (or get a catch-up), because removals `other` made
    /// in fields this state never had are not named.
    /// - Parameter other: the incoming state.
    /// - Returns: the delta.
    public func delta(joining other: ReplicaState) -> Delta {
        let joined = joined(other)
        var out = Delta()
        out.context = other.context
        func record(_ path: FieldPath) {
            let old = field(path) ?? Field()
            let theirs = other.field(path) ?? Field()
            let new = joined.field(path) ?? Field()
            var f = Field()
            f.registers = new.registers.filter { other.context.contains($0.tag.dot) }
            f.counters = new.counters.filter { other.context.contains($0.tag.dot) }
            for element in Set(old.elements.keys).union(theirs.elements.keys) {
                f.elements[element] = (new.elements[element] ?? []).filter { other.context.contains($0.dot) }
            }
            if let text = theirs.text, !text.isEmpty { f.text = text }
            out.store[path.collection, default: [:]][path.document, default: Document()].fields[path.field] = f
        }
        for (c, docs) in other.store {
            for (d, doc) in docs { for name in doc.fields.keys { record(FieldPath(c, d, name)) } }
        }
        for (c, docs) in store {
            for (d, doc) in docs {
                for (name, f) in doc.fields where other.store[c]?[d]?.fields[name] == nil {
                    let path = FieldPath(c, d, name)
                    if joined.field(path) != f { record(path) }
                }
            }
        }
        return out
    }
}
