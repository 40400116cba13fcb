public import LatticeCRDT

/// One condition of a query on a document's field (`Docs/CLI.md`, "Queries").
public struct QueryCondition: Hashable, Sendable, CustomStringConvertible {
    /// What the field must satisfy.
    public enum Test: Hashable, Sendable {
        /// The register (or counter) reads as this value; numbers compare numerically (`3 == 3.0`).
        case equals(Value)
        /// The register reads as a number below the bound.
        case less(Double)
        /// The register reads as a number at most the bound.
        case lessOrEqual(Double)
        /// The register reads as a number above the bound.
        case greater(Double)
        /// The register reads as a number at least the bound.
        case greaterOrEqual(Double)
        /// The set holds at least one of these elements.
        case containsAny([Value])
    }

    /// The field tested.
    public var field: Key
    /// The test.
    public var test: Test

    /// Creates a condition.
    /// - Parameters:
    ///   - field: the field name.
    ///   - test: what it must satisfy.
    public init(_ field: Key, _ test: Test) {
        self.field = field
        self.test = test
    }

    /// Whether the test is on register values (not set elements).
    var onRegister: Bool {
        if case .containsAny = test { return false }
        return true
    }

    /// Whether a register value's index key satisfies a register test.
    func accepts(_ key: IndexKey) -> Bool {
        switch test {
        case .equals(let v): return key == IndexKey(v)
        case .less(let b): return key.number.map { $0 < b } ?? false
        case .lessOrEqual(let b): return key.number.map { $0 <= b } ?? false
        case .greater(let b): return key.number.map { $0 > b } ?? false
        case .greaterOrEqual(let b): return key.number.map { $0 >= b } ?? false
        case .containsAny: return false
        }
    }

    /// Whether a document satisfies the condition (as it reads now).
    /// - Parameter document: the document.
    /// - Returns: whether it matches.
    public func matches(_ document: Document) -> Bool {
        guard let field = document.fields[field] else { return false }
        if case .containsAny(let wanted) = test {
            return wanted.contains { field.elements[$0]?.isEmpty == false }
        }
        return IndexKey.read(field).map(accepts) ?? false
    }

    /// `field=value`, `field>3`, `field∈a,b`.
    public var description: String {
        switch test {
        case .equals(let v): "\(field)=\(IndexKey(v))"
        case .less(let b): "\(field)<\(b)"
        case .lessOrEqual(let b): "\(field)<=\(b)"
        case .greater(let b): "\(field)>\(b)"
        case .greaterOrEqual(let b): "\(field)>=\(b)"
        case .containsAny(let vs): "\(field)∈" + vs.map { IndexKey($0).description }.joined(separator: ",")
        }
    }
}

/// A query on one collection: conditions (all must hold), an order and a page.
public struct Query: Hashable, Sendable {
    /// The collection.
    public var collection: Key
    /// Conditions, ANDed.
    public var conditions: [QueryCondition] = []
    /// Order by this register field (numbers numerically, strings by bytes, documents lacking
    /// it last, ties by ID); `nil`: by document ID.
    public var order: Key?
    /// Descending order (documents lacking the order field still come last).
    public var descending = false
    /// At most this many IDs.
    public var limit = Int.max
    /// Only IDs starting with these bytes.
    public var prefix = ""
    /// Only IDs after this one (ID order only).
    public var after: Key?

    /// A query listing a collection in ID order.
    /// - Parameter collection: the collection.
    public init(collection: Key) { self.collection = collection }

    /// Whether a document satisfies every condition.
    /// - Parameter document: the document.
    /// - Returns: whether it matches.
    public func matches(_ document: Document) -> Bool { conditions.allSatisfy { $0.matches(document) } }

    /// The fields the query reads.
    var fields: [Key] {
        var out: [Key] = []
        for c in conditions where !out.contains(c.field) { out.append(c.field) }
        if let order, !out.contains(order) { out.append(order) }
        return out
    }
}

/// A query that cannot be answered: the collection or a field does not exist.
public struct QueryError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Code: String, Sendable {
        /// No document in this collection.
        case unknownCollection = "unknown_collection"
        /// No document of the collection holds the field.
        case unknownField = "unknown_field"
        /// `order` names a field that holds no register or counter value to order by (a set,
        /// or text).
        case notOrderable = "not_orderable"
    }

    /// What is wrong.
    public var code: Code
    /// One line saying what is wrong and what to do.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
