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
    public static func == (lhs: Key, rhs: Key) -> Bool { utf8Equal(lhs.string, rhs.string) }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Byte-wise (UTF-8) lexicographic order.
    @inlinable
    public static func < (lhs: Key, rhs: Key) -> Bool { utf8Less(lhs.string, rhs.string) }

    /// Whether the key's bytes start with `prefix`'s bytes.
    /// - Parameter prefix: the prefix to test.
    public func hasBytePrefix(_ prefix: String) -> Bool { string.utf8.starts(with: prefix.utf8) }

    /// The text.
    public var description: String { string }
}

/// Whether two strings have the same UTF-8 bytes (native strings: a straight buffer compare).
@inlinable
func utf8Equal(_ a: String, _ b: String) -> Bool {
    let fast = a.utf8.withContiguousStorageIfAvailable { pa in
        b.utf8.withContiguousStorageIfAvailable { pb -> Bool in
            guard pa.count == pb.count else { return false }
            for i in 0..<pa.count where pa[i] != pb[i] { return false }
            return true
        }
    }
    if let fast, let result = fast { return result }
    return a.utf8.elementsEqual(b.utf8)
}

/// Whether `a`'s UTF-8 bytes sort before `b`'s (unsigned, lexicographic).
@inlinable
func utf8Less(_ a: String, _ b: String) -> Bool {
    let fast = a.utf8.withContiguousStorageIfAvailable { pa in
        b.utf8.withContiguousStorageIfAvailable { pb -> Bool in
            let n = min(pa.count, pb.count)
            for i in 0..<n where pa[i] != pb[i] { return pa[i] < pb[i] }
            return pa.count < pb.count
        }
    }
    if let fast, let result = fast { return result }
    return a.utf8.lexicographicallyPrecedes(b.utf8)
}
