/// The change made by one or more local mutations: the entries they created and the dots they
/// saw (new dots, superseded entries, removed elements).
///
/// A delta is a *scoped* dot store: every dot in its context belongs to a field (and, for sets,
/// an element) that the delta names, possibly with no entries left ("scope marks"). Joining a
/// delta into a state therefore only visits the fields it names, which keeps a join O(delta).
/// Deltas join with each other (to batch or forward them) and into `ReplicaState`.
public struct Delta: Hashable, Sendable {
    /// Every dot this delta has seen.
    public internal(set) var context: CausalContext
    /// The entries and scope marks, by collection and document.
    public internal(set) var store: Store

    /// The empty delta.
    public init() {
        context = CausalContext()
        store = [:]
    }

    init(context: CausalContext, store: Store) {
        self.context = context
        self.store = store
    }

    /// Whether the delta carries nothing.
    public var isEmpty: Bool { context.isEmpty && store.isEmpty }

    /// The number of entries carried.
    public var entryCount: Int {
        storeEntryCount(store)
    }

    /// The dots this delta minted or carries, as a context (for dedup and acknowledgements).
    public var dots: CausalContext { context }

    /// Joins another delta into this one (commutative, associative, idempotent).
    /// - Parameter other: the delta to absorb.
    public mutating func join(_ other: Delta) {
        for (collection, docs) in other.store {
            for (id, doc) in docs {
                for (name, field) in doc.fields {
                    store[collection, default: [:]][id, default: Document()].fields[name, default: Field()].join(
                        field, mine: context, theirs: other.context, references: nil,
                        scopedElements: false, keepScopeMarks: true)
                }
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

    /// The collections this delta touches.
    public var collections: [Key] { store.keys.sorted() }
}
