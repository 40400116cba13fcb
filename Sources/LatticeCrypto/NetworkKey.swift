/// A public 8-byte fingerprint of a network key (keyed BLAKE2b), shown as 16 hex digits.
public struct NetworkKeyID: Hashable, Sendable, CustomStringConvertible {
    /// The fingerprint bytes.
    public let bytes: [UInt8]
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
    /// Parses 16 hex digits.
    /// - Parameter text: the hex form.
    public init?(_ text: String) {
        let chars = Array(text.utf8)
        guard chars.count == 16 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: 16, by: 2) {
            guard let hi = Self.nibble(chars[i]), let lo = Self.nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        bytes = out
    }
    init(bytes: [UInt8]) { self.bytes = bytes }
    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// The network key: 32 random bytes shared by all members; the Noise PSK and the beacon key root.
public struct NetworkKey: Sendable, Equatable {
    /// The secret bytes in guarded memory.
    public let secret: SecretKey
    /// A public fingerprint identifying this key (safe to print).
    public let id: NetworkKeyID

    /// Wraps an existing key.
    /// - Parameter secret: 32 bytes.
    /// - Throws: ``CryptoError/Code/invalidArgument`` for a wrong size.
    public init(secret: SecretKey) throws {
        guard secret.count == 32 else { throw CryptoError(.invalidArgument, "network key must be 32 bytes") }
        self.secret = secret
        let label = Array("lattice/network-key-id/v1".utf8)
        self.id = NetworkKeyID(
            bytes: Array(
                secret.withUnsafeBytes { key in label.withUnsafeBytes { Blake2b.hash(length: 16, key: key, [$0]) } }
                    .prefix(8)
            )
        )
    }

    /// Generates a new random network key.
    /// - Throws: ``CryptoError`` if guarded memory cannot be allocated.
    public static func generate() throws -> NetworkKey {
        try NetworkKey(secret: SecretKey(randomCount: 32))
    }

    /// Constant-time equality of the secret bytes.
    public static func == (lhs: NetworkKey, rhs: NetworkKey) -> Bool { lhs.secret.constantTimeEquals(rhs.secret) }
}
