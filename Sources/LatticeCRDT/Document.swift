/// A document: field name → field. A document exists while any field holds an entry.
public struct Document: Hashable, Sendable {
    /// The fields (in a replica state, never an empty one).
    public internal(set) var fields: [Key: Field]

    /// An empty document.
    public init() { fields = [:] }

    /// A document holding `fields`.
    init(fields: [Key: Field]) { self.fields = fields }

    /// Whether no field holds anything.
    public var isEmpty: Bool { fields.isEmpty }

    /// Whether no field shows anything (a deleted document whose text keeps its tombstones).
    public var isBlank: Bool { fields.values.allSatisfy(\.isBlank) }

    /// The field names in ascending byte order.
    public var fieldNames: [Key] { fields.keys.sorted() }

    /// Reads one field.
    /// - Parameter name: the field name.
    /// - Returns: its value, or `nil` when absent.
    public subscript(name: Key) -> FieldValue? { fields[name]?.value }
}

/// Collection name → document ID → document.
public typealias Store = [Key: [Key: Document]]

/// The number of entries in a store.
func storeEntryCount(_ store: Store) -> Int {
    store.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.fields.values.reduce(0) { $0 + $1.entryCount } } }
}

/// A field's address in the replica.
public struct FieldPath: Hashable, Sendable, CustomStringConvertible {
    /// The collection.
    public var collection: Key
    /// The document ID.
    public var document: Key
    /// The field name.
    public var field: Key

    /// Creates a path.
    public init(_ collection: Key, _ document: Key, _ field: Key) {
        self.collection = collection
        self.document = document
        self.field = field
    }

    /// `collection/document.field`.
    public var description: String { "\(collection)/\(document).\(field)" }
}
