/// A name — collection, document ID or field — compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` equality is Unicode canonical equivalence, so `"é"` (one scalar) equals
/// `"e\u{301}"` (two). Two replicas holding both spellings would merge them differently depending
/// on arrival order, and encode them to different bytes. `Key` compares bytes instead, which keeps
/// merges deterministic and encodings canonical.
public struct Key: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The text.
    public let string: String

    /// Creates a key from text.
    /// - Parameter string: any string; its UTF-8 bytes identify the key.
    @inlinable
    public init(_ string: String) { self.string = string }

    /// Creates a key from a string literal.
    public init(stringLiteral value: String) { self.string = value }

    @inlinable
    public static func == (lhs: Key, rhs: Key) -> Bool { lhs.string.utf8.elementsEqual(rhs.string.utf8) }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Byte-wise (UTF-8) lexicographic order.
    @inlinable
    public static func < (lhs: Key, rhs: Key) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Whether the key's bytes start with `prefix`'s bytes.
    /// - Parameter prefix: the prefix to test.
    public func hasBytePrefix(_ prefix: String) -> Bool { string.utf8.starts(with: prefix.utf8) }

    /// The text.
    public var description: String { string }
}
