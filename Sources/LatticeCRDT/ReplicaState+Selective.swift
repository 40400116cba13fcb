// Catch-ups for selective sync: a peer that may not receive some collections must not learn their
// dots either (a dot in its context without the entry reads as "removed").

extension ReplicaState {
    /// The catch-up for a peer whose vector is `peer`, restricted to `collections`: their entries
    /// and references, and a context holding only the dots of the authors that wrote them (the
    /// authors of their live entries plus `authors`, the ones the caller knows belong to them).
    /// - Parameters:
    ///   - peer: the peer's version vector.
    ///   - collections: the collections the peer may receive.
    ///   - authors: further authors known to write only in those collections.
    /// - Returns: the restricted catch-up.
    public func delta(since peer: VersionVector, restrictedTo collections: Set<Key>, authors: Set<ReplicaID>) -> StateDelta {
        var part = ReplicaState()
        var keep = authors
        for (name, all) in store where collections.contains(name) || name == Erasure.collection {
            var docs = all
            if name == Erasure.collection {
                // Erasures go with their target collection's rule, not with `~erasures`'s own.
                docs = all.filter { key, _ in Erasure.target(ofDocumentKey: key).map { collections.contains($0.collection) } ?? collections.contains(name) }
                if docs.isEmpty { continue }
            }
            part.store[name] = docs
            for doc in docs.values {
                for field in doc.fields.values {
                    field.forEachDot { keep.insert($0.replica) }
                    // Text characters' authors are scoped to this collection like every author here.
                    if let text = field.text { keep.formUnion(text.storage.authors) }
                }
            }
        }
        part.context = context.filter { keep.contains($0) }
        return part.delta(since: peer)
    }
}
