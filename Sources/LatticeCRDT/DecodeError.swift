/// Why bytes were refused by the codec. Every malformed, truncated, oversized or non-canonical
/// input maps to one of these; the decoder never traps and never allocates more than a small
/// constant times the input size.
public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended inside a value that starts at `offset`.
    case truncated(offset: Int)
    /// The first byte is not the format's magic byte.
    case badMagic(UInt8)
    /// A format version this build does not read.
    case unsupportedVersion(UInt8)
    /// The message kind is not the one expected.
    case unexpectedKind(UInt8, expected: UInt8)
    /// A varint longer than needed or above 64 bits.
    case badVarint(offset: Int)
    /// A count or length larger than the remaining input allows.
    case lengthTooLarge(Int, limit: Int, offset: Int)
    /// Well-formed but not the canonical encoding (order, duplicates, empty groups, unused table
    /// entries, …).
    case nonCanonical(String, offset: Int)
    /// A string that is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// An unknown value tag.
    case unknownValueTag(UInt8, offset: Int)
    /// A replica index outside the replica table.
    case replicaIndexOutOfRange(UInt64, offset: Int)
    /// A dot counter of 0 or beyond 64 bits.
    case invalidCounter(offset: Int)
    /// An entry (or reference) whose dot is not in the message's causal context.
    case entryOutsideContext(offset: Int)
    /// Bytes after the end of the message.
    case trailingBytes(count: Int)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .truncated(let o): "truncated input (value at byte \(o))"
        case .badMagic(let b): "not a Lattice message (first byte \(b))"
        case .unsupportedVersion(let v): "unsupported format version \(v)"
        case .unexpectedKind(let k, let e): "message kind \(k), expected \(e)"
        case .badVarint(let o): "malformed varint at byte \(o)"
        case .lengthTooLarge(let n, let limit, let o): "length \(n) exceeds limit \(limit) at byte \(o)"
        case .nonCanonical(let what, let o): "non-canonical encoding at byte \(o): \(what)"
        case .invalidUTF8(let o): "invalid UTF-8 at byte \(o)"
        case .unknownValueTag(let t, let o): "unknown value tag \(t) at byte \(o)"
        case .replicaIndexOutOfRange(let i, let o): "replica index \(i) out of range at byte \(o)"
        case .invalidCounter(let o): "invalid dot counter at byte \(o)"
        case .entryOutsideContext(let o): "entry outside the causal context at byte \(o)"
        case .trailingBytes(let n): "\(n) trailing bytes"
        }
    }
}
