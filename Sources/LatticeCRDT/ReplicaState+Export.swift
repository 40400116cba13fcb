// Accessors for `lattice export`/`import` (added by the CLI work; no behaviour change elsewhere).

extension ReplicaState {
    /// The state restricted to some collections, with a causal context of exactly the dots of the
    /// entries it keeps (so joining it elsewhere adds these entries and removes nothing).
    /// - Parameter collections: the collections to keep.
    /// - Returns: the restricted state.
    public func restricted(to collections: Set<Key>) -> ReplicaState {
        var out = ReplicaState()
        for (name, docs) in store where collections.contains(name) {
            out.store[name] = docs
            for doc in docs.values {
                for field in doc.fields.values { field.forEachDot { out.context.insert($0) } }
            }
        }
        return out
    }

    /// This whole state as a delta: every entry and the whole causal context. Applying it to an
    /// empty replica reproduces this state exactly; applying it elsewhere joins every field it names.
    public var asDelta: Delta {
        var d = Delta()
        d.context = context
        d.store = store
        return d
    }
}
