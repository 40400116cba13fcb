/// The change made by one or more local mutations: the entries they created and the dots they
/// saw (new dots, superseded entries, removed elements).
///
/// A delta is a *scoped* dot store: every dot in its context belongs to a field (and, for sets,
/// an element) that the delta names, possibly with no entries left ("scope marks"). Joining a
/// delta into a state therefore only visits the fields it names, which keeps a join O(delta).
/// Deltas join with each other (to batch or forward them) and into `ReplicaState`.
///
/// Most changes touch one field. Such a delta holds it directly (`FieldPath` + `Field`), with no
/// collection → document → field dictionaries to build, hash into, encode from, decode into and
/// free; deltas touching several fields use the nested ``Store``. The form is canonical (one
/// field: single; more: nested), and ``store`` reads either as the nested store.
public struct Delta: Hashable, Sendable {
    /// Every dot this delta has seen.
    public internal(set) var context: CausalContext
    /// The only field, when the delta touches exactly one (then `nested` is empty).
    private var single: SingleField?
    /// The entries and scope marks when the delta touches several fields.
    private var nested: Store

    /// One field and its address.
    struct SingleField: Hashable, Sendable {
        var path: FieldPath
        var field: Field
    }

    /// The empty delta.
    public init() {
        context = CausalContext()
        single = nil
        nested = [:]
    }

    init(context: CausalContext, store: Store) {
        self.context = context
        self.single = nil
        self.nested = [:]
        self.store = store
    }

    init(context: CausalContext, path: FieldPath, field: Field) {
        self.context = context
        self.single = SingleField(path: path, field: field)
        self.nested = [:]
    }

    /// The entries and scope marks, by collection and document.
    public internal(set) var store: Store {
        get {
            guard let single else { return nested }
            return [single.path.collection: [single.path.document: Document(fields: [single.path.field: single.field])]]
        }
        set {
            nested = newValue
            single = nil
            // Canonical form: exactly one field is held directly.
            if newValue.count == 1, let docs = newValue.first, docs.value.count == 1,
                let doc = docs.value.first, doc.value.fields.count == 1, let field = doc.value.fields.first
            {
                single = SingleField(path: FieldPath(docs.key, doc.key, field.key), field: field.value)
                nested = [:]
            }
        }
    }

    /// The only field and its path, when the delta touches exactly one.
    var singleField: (FieldPath, Field)? { single.map { ($0.path, $0.field) } }

    /// Whether the delta carries nothing.
    public var isEmpty: Bool { context.isEmpty && single == nil && nested.isEmpty }

    /// Whether the delta names no field (not even a scope mark).
    public var touchesNoField: Bool { single == nil && nested.isEmpty }

    /// The number of entries carried.
    public var entryCount: Int {
        if let single { return single.field.entryCount }
        return storeEntryCount(nested)
    }

    /// The dots this delta minted or carries, as a context (for dedup and acknowledgements).
    public var dots: CausalContext { context }

    /// Calls `body` with every field the delta names, in no particular order.
    /// - Parameter body: receives each field's path and contents.
    @inline(__always)
    public func forEachField(_ body: (FieldPath, Field) throws -> Void) rethrows {
        if let single {
            try body(single.path, single.field)
            return
        }
        for (collection, docs) in nested {
            for (id, doc) in docs {
                for (name, field) in doc.fields { try body(FieldPath(collection, id, name), field) }
            }
        }
    }

    /// Edits the field at `path` in place (created empty when absent).
    /// - Parameters:
    ///   - path: the field.
    ///   - body: the edit.
    /// - Returns: what `body` returns.
    @inline(__always)
    mutating func withField<R>(_ path: FieldPath, _ body: (inout Field) throws -> R) rethrows -> R {
        if nested.isEmpty {
            guard var s = single else {
                var s = SingleField(path: path, field: Field())
                defer { single = s }
                return try body(&s.field)
            }
            if s.path == path {
                single = nil  // `s` holds the only reference: the edit does not copy the field
                defer { single = s }
                return try body(&s.field)
            }
            single = nil
            nested = [s.path.collection: [s.path.document: Document(fields: [s.path.field: s.field])]]
        }
        return try body(&nested[path.collection, default: [:]][path.document, default: Document()].fields[path.field, default: Field()])
    }

    /// Joins another delta into this one (commutative, associative, idempotent).
    /// - Parameter other: the delta to absorb.
    public mutating func join(_ other: Delta) {
        let mine = context
        other.forEachField { path, field in
            withField(path) {
                $0.join(field, mine: mine, theirs: other.context, references: nil, scopedElements: false, keepScopeMarks: true)
            }
        }
        context.formUnion(other.context)
    }

    /// The join of two deltas.
    /// - Parameter other: the other delta.
    /// - Returns: a delta carrying both.
    public func joined(_ other: Delta) -> Delta {
        var copy = self
        copy.join(other)
        return copy
    }

    /// The collections this delta touches, ascending.
    public var collections: [Key] {
        if let single { return [single.path.collection] }
        return nested.keys.sorted()
    }

    /// The collections this delta touches, in no particular order, without building an array.
    public var collectionNames: CollectionNames {
        if let single { return CollectionNames(only: single.path.collection, keys: nil) }
        // An array, not a view of the store: kept with a logged change, a view would keep
        // every entry of the delta alive too.
        return CollectionNames(only: nil, keys: Array(nested.keys))
    }

    /// The collections a delta touches: one name (no array), or a list.
    public struct CollectionNames: Sequence, Sendable {
        fileprivate let only: Key?
        fileprivate let keys: [Key]?

        /// Whether some names are erasures' target collections (``Delta/governedCollections``):
        /// the change's authors do not write in those.
        public let viaErasure: Bool

        fileprivate init(only: Key?, keys: [Key]?) {
            self.only = only
            self.keys = keys
            self.viaErasure = false
        }

        /// A list of names, some of them erasures' targets.
        init(erasureTargets keys: [Key]) {
            self.only = nil
            self.keys = keys
            self.viaErasure = true
        }

        /// The number of collections.
        public var count: Int { only == nil ? keys?.count ?? 0 : 1 }

        public struct Iterator: IteratorProtocol {
            fileprivate var only: Key?
            fileprivate var keys: IndexingIterator<[Key]>?

            public mutating func next() -> Key? {
                if let o = only {
                    only = nil
                    return o
                }
                return keys?.next()
            }
        }

        public func makeIterator() -> Iterator { Iterator(only: only, keys: keys?.makeIterator()) }

        public var underestimatedCount: Int { count }
    }

    public static func == (lhs: Delta, rhs: Delta) -> Bool {
        guard lhs.context == rhs.context else { return false }
        if let a = lhs.single, let b = rhs.single { return a == b }
        return lhs.store == rhs.store
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(context)
        hasher.combine(store)
    }
}
