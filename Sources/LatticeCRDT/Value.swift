/// A JSON-like scalar: the content of a register or a set element.
///
/// Values are totally ordered (this order sorts set elements and never breaks a register tie):
/// by kind first — `null < bool < int < double < string < bytes` — then within a kind:
/// `false < true`; integers numerically; doubles by IEEE 754 `totalOrder` (−NaN < −∞ < … < −0 < +0
/// < … < +∞ < +NaN, compared by bit pattern); strings and bytes by unsigned byte-wise lexicographic
/// order of their UTF-8 / raw bytes. Equality is the same relation: doubles are equal when their
/// bits are (so `0.0 != -0.0` and a NaN equals itself), strings when their UTF-8 bytes are.
public enum Value: Hashable, Comparable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])

    /// The kind rank used by the total order.
    @usableFromInline
    var rank: UInt8 {
        switch self {
        case .null: 0
        case .bool: 1
        case .int: 2
        case .double: 3
        case .string: 4
        case .bytes: 5
        }
    }

    /// Maps a double's bits to an unsigned integer whose order is IEEE 754 totalOrder.
    @usableFromInline
    static func orderedBits(_ d: Double) -> UInt64 {
        let bits = d.bitPattern
        return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
    }

    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): utf8Equal(a, b)
        case (.bytes(let a), .bytes(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rank)
        switch self {
        case .null: break
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(i)
        case .double(let d): hasher.combine(d.bitPattern)
        case .string(var s): s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        case .bytes(let b): b.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    public static func < (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): !a && b
        case (.int(let a), .int(let b)): a < b
        case (.double(let a), .double(let b)): orderedBits(a) < orderedBits(b)
        case (.string(let a), .string(let b)): utf8Less(a, b)
        case (.bytes(let a), .bytes(let b)): a.lexicographicallyPrecedes(b)
        default: lhs.rank < rhs.rank
        }
    }

    /// A short human-readable rendering (strings quoted, bytes in hex).
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .string(let s): "\"" + s + "\""
        case .bytes(let b): "0x" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }
}
