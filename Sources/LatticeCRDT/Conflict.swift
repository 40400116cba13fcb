/// A field that shows more than one concurrent write: register siblings, or entries of several
/// kinds left by concurrent first writes.
public struct Conflict: Hashable, Sendable {
    /// The field.
    public var path: FieldPath
    /// The kinds present (more than one for a kind conflict).
    public var kinds: [FieldKind]
    /// The register siblings, last-writer-wins winner first.
    public var siblings: [RegisterEntry]
    /// Every entry's origin, winner first.
    public var origins: [Tag]
}

extension ReplicaState {
    /// Every field in conflict, ordered by collection, document and field name (bytes).
    /// - Returns: the conflicts.
    public func conflicts() -> [Conflict] {
        var out: [Conflict] = []
        // Concurrent erasures of one document are siblings too; they are not the user's conflict.
        for collection in store.keys.sorted() where !Erasure.isReserved(collection) {
            guard let docs = store[collection] else { continue }
            for id in docs.keys.sorted() {
                guard let doc = docs[id] else { continue }
                for name in doc.fields.keys.sorted() {
                    guard let field = doc.fields[name] else { continue }
                    let kinds = field.kinds
                    guard field.registers.count > 1 || kinds.count > 1 else { continue }
                    var origins: [Tag] = []
                    field.forEachTag { origins.append($0) }
                    origins.sort { $0.wins(over: $1) }
                    out.append(
                        Conflict(
                            path: FieldPath(collection, id, name), kinds: kinds,
                            siblings: field.registers.sorted { $0.tag.wins(over: $1.tag) }, origins: origins))
                }
            }
        }
        return out
    }
}
