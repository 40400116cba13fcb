internal import CSodium

/// Why a node ID text could not be parsed.
public enum NodeIDParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text (without separators) is not 56 base32 characters.
    case wrongLength(Int)
    /// A character outside base32 (`A–Z`, `2–7`), `-` or space.
    case invalidCharacter
    /// The 3-byte checksum does not match: a typo.
    case checksumMismatch
    /// The bytes are not a valid Ed25519 public key.
    case invalidPublicKey

    public var description: String {
        switch self {
        case .wrongLength(let n): "node ID must have 56 base32 characters, got \(n)"
        case .invalidCharacter: "node ID contains a character outside A-Z, 2-7 and '-'"
        case .checksumMismatch: "node ID checksum does not match (typo?)"
        case .invalidPublicKey: "node ID is not a valid Ed25519 public key"
        }
    }
}

/// A node's identity: its 32-byte Ed25519 public key.
///
/// Text form: base32 of `public key (32) || checksum (3)` where the checksum is the first 3 bytes of
/// BLAKE2b-256(`"lattice/node-id/v1"` || key); 56 characters in 8 groups of 7 joined by `-`.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The Ed25519 public key (not secret).
    public let publicKey: [UInt8]

    /// Byte length of the public key.
    public static let byteCount = 32

    /// Creates a node ID from a public key, checking that it is a valid Ed25519 point.
    /// - Parameter publicKey: 32 bytes.
    /// - Throws: ``NodeIDParseError/invalidPublicKey``.
    public init(publicKey: [UInt8]) throws(NodeIDParseError) {
        guard publicKey.count == 32, let curve = Self.curve25519(publicKey) else { throw .invalidPublicKey }
        self.publicKey = publicKey
        self.curve25519PublicKey = curve
    }

    /// Equality of the public keys.
    public static func == (lhs: NodeID, rhs: NodeID) -> Bool { lhs.publicKey == rhs.publicKey }

    /// Hashes the public key.
    public func hash(into hasher: inout Hasher) { hasher.combine(publicKey) }

    /// Parses the text form (case-insensitive; `-` and spaces ignored).
    /// - Parameter text: the node ID text.
    /// - Throws: ``NodeIDParseError``.
    public static func parse(_ text: String) throws(NodeIDParseError) -> NodeID {
        let compact = text.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: " ") }
        guard compact.count == 56 else { throw .wrongLength(compact.count) }
        guard let bytes = Base32.decode(compact), bytes.count == 35 else { throw .invalidCharacter }
        let key = Array(bytes[0..<32])
        guard constantTimeEqual(Array(bytes[32..<35]), Self.checksum(key)) else { throw .checksumMismatch }
        return try NodeID(publicKey: key)
    }

    /// Parses the text form, or returns `nil`.
    public init?(_ description: String) {
        guard let id = try? Self.parse(description) else { return nil }
        self = id
    }

    /// The text form, e.g. `ABCDEFG-HIJKLMN-…` (8 groups of 7).
    public var description: String {
        let text = Array(Base32.encode(publicKey + Self.checksum(publicKey)).utf8)
        var out: [UInt8] = []
        for (i, c) in text.enumerated() {
            if i > 0 && i % 7 == 0 { out.append(UInt8(ascii: "-")) }
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first group of the text form, for logs.
    public var shortDescription: String { String(description.prefix(7)) }

    /// The CRDT replica ID of this node: the first 8 bytes of BLAKE2b-256(public key), read as a
    /// little-endian `UInt64`. Stable for the life of the identity key.
    public var replicaRawValue: UInt64 {
        let digest = publicKey.withUnsafeBytes { Blake2b.hash(length: 32, [$0]) }
        var value: UInt64 = 0
        for i in (0..<8).reversed() { value = value << 8 | UInt64(digest[i]) }
        return value
    }

    /// The X25519 (Montgomery) form of this Ed25519 key, as used for the Noise static key (computed
    /// once, at validation).
    public let curve25519PublicKey: [UInt8]

    static func curve25519(_ edPublicKey: [UInt8]) -> [UInt8]? {
        guard edPublicKey.count == 32 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        let result = out.withUnsafeMutableBytes { o in
            edPublicKey.withUnsafeBytes { crypto_sign_ed25519_pk_to_curve25519(o.bindMutableMemory(), $0.bindMemory()) }
        }
        return result == 0 ? out : nil
    }

    private static func checksum(_ key: [UInt8]) -> [UInt8] {
        Array(Blake2b.hash(length: 32, label: "lattice/node-id/v1", key).prefix(3))
    }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.publicKey.lexicographicallyPrecedes(rhs.publicKey) }
}
