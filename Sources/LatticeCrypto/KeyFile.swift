/// Versioned binary key files, written 0600 atomically and refused when group/others can read them.
///
/// Layout (all sizes in bytes):
/// ```
/// 0      4   magic "LATK"
/// 4      1   format version = 1
/// 5      1   kind: 1 = node identity (Ed25519 seed), 2 = network key ring
/// 6      1   n = number of keys (identity: 1; ring: 1...4, the first is current)
/// 7      1   reserved = 0
/// 8      32n keys
/// 8+32n  16  BLAKE2b-128 of bytes 0..<8+32n
/// ```
public enum KeyFile {
    /// The kinds of key file.
    public enum Kind: UInt8, Sendable {
        /// A node identity: one Ed25519 seed.
        case identity = 1
        /// A network key ring.
        case networkKeys = 2
    }

    static let magic: [UInt8] = Array("LATK".utf8)
    static let version: UInt8 = 1
    static let maxSize = 8 + 32 * KeyRing.capacity + 16

    /// Writes an identity key file.
    /// - Parameters:
    ///   - identity: the identity to store (its seed).
    ///   - path: the file path.
    /// - Throws: ``CryptoError/Code/keyFile`` on I/O errors.
    public static func save(_ identity: NodeIdentity, to path: String) throws {
        try write(kind: .identity, keys: [identity.seed()], to: path)
    }

    /// Reads an identity key file.
    /// - Parameter path: the file path.
    /// - Returns: the identity.
    /// - Throws: ``CryptoError/Code/insecurePermissions`` for a group/other-readable file,
    ///   ``CryptoError/Code/keyFile`` for a missing, corrupt or wrong-kind file.
    public static func loadIdentity(from path: String) throws -> NodeIdentity {
        let keys = try read(kind: .identity, from: path)
        guard keys.count == 1 else { throw CryptoError(.keyFile, "\(path): an identity file holds exactly one key") }
        return try NodeIdentity(seed: keys[0])
    }

    /// Writes a network key ring file.
    /// - Parameters:
    ///   - ring: the keys (first = current).
    ///   - path: the file path.
    /// - Throws: ``CryptoError/Code/keyFile`` on I/O errors.
    public static func save(_ ring: KeyRing, to path: String) throws {
        try write(kind: .networkKeys, keys: ring.keys.map(\.secret), to: path)
    }

    /// Reads a network key ring file.
    /// - Parameter path: the file path.
    /// - Returns: the key ring.
    /// - Throws: as ``loadIdentity(from:)``.
    public static func loadKeyRing(from path: String) throws -> KeyRing {
        try KeyRing(keys: read(kind: .networkKeys, from: path).map { try NetworkKey(secret: $0) })
    }

    private static func write(kind: Kind, keys: [SecretKey], to path: String) throws {
        guard !keys.isEmpty, keys.count <= KeyRing.capacity, keys.allSatisfy({ $0.count == 32 }) else {
            throw CryptoError(.invalidArgument, "key file holds 1...\(KeyRing.capacity) keys of 32 bytes")
        }
        let body = 8 + 32 * keys.count
        let buffer = try SecretKey.make(count: body + 16) { raw in
            raw.copyBytes(from: magic)
            raw[4] = version
            raw[5] = kind.rawValue
            raw[6] = UInt8(keys.count)
            raw[7] = 0
            for (i, key) in keys.enumerated() {
                UnsafeMutableRawBufferPointer(rebasing: raw[(8 + 32 * i)..<(8 + 32 * (i + 1))]).copyMemory(
                    from: key.unsafeRawBuffer
                )
            }
            let digest = Blake2b.hash(length: 16, [UnsafeRawBufferPointer(rebasing: raw[0..<body])])
            UnsafeMutableRawBufferPointer(rebasing: raw[body...]).copyBytes(from: digest)
        }
        try buffer.withUnsafeBytes { try SecureFile.writeAtomically(path: path, bytes: $0) }
    }

    private static func read(kind: Kind, from path: String) throws -> [SecretKey] {
        let file = try SecureFile.read(path: path, maxSize: maxSize, requirePrivate: true)
        return try file.withUnsafeBytes { raw in
            guard raw.count >= 8 + 32 + 16, Array(raw[0..<4]) == magic else {
                throw CryptoError(.keyFile, "\(path) is not a Lattice key file")
            }
            guard raw[4] == version else {
                throw CryptoError(
                    .keyFile,
                    "\(path) has key file format version \(raw[4]); this build reads version \(version)"
                )
            }
            let count = Int(raw[6])
            guard count >= 1, count <= KeyRing.capacity, raw.count == 8 + 32 * count + 16, raw[7] == 0 else {
                throw CryptoError(.keyFile, "\(path) is truncated or has a bad length")
            }
            let body = 8 + 32 * count
            let digest = Blake2b.hash(length: 16, [UnsafeRawBufferPointer(rebasing: raw[0..<body])])
            guard digest.withUnsafeBytes({ constantTimeEqual($0, UnsafeRawBufferPointer(rebasing: raw[body...])) })
            else {
                throw CryptoError(.keyFile, "\(path) is corrupt (checksum mismatch)")
            }
            guard raw[5] == kind.rawValue else {
                throw CryptoError(.keyFile, "\(path) holds key kind \(raw[5]), expected \(kind.rawValue) (\(kind))")
            }
            return try (0..<count).map { i in
                try SecretKey(copying: UnsafeRawBufferPointer(rebasing: raw[(8 + 32 * i)..<(8 + 32 * (i + 1))]))
            }
        }
    }
}
