internal import CSodium

/// An X25519 key pair (the Noise `25519` DH functions, `crypto_scalarmult`).
public final class X25519KeyPair: Sendable {
    /// The public key, 32 bytes.
    public let publicKey: [UInt8]
    /// The private scalar in guarded memory.
    let privateKey: SecretKey

    /// Public key length in bytes (Noise `DHLEN`).
    public static let byteCount = 32

    /// Creates a key pair from a private key.
    /// - Parameter privateKey: a 32-byte scalar (clamped by libsodium when used).
    /// - Throws: ``CryptoError/Code/invalidArgument`` if the key is not 32 bytes.
    public init(privateKey: SecretKey) throws {
        guard privateKey.count == 32 else { throw CryptoError(.invalidArgument, "X25519 private key must be 32 bytes") }
        var pub = [UInt8](repeating: 0, count: 32)
        let result = pub.withUnsafeMutableBytes {
            crypto_scalarmult_base($0.bindMutableMemory(), privateKey.rawPointer.assumingMemoryBound(to: UInt8.self))
        }
        try sodiumCheck(result, "crypto_scalarmult_base")
        self.publicKey = pub
        self.privateKey = privateKey
    }

    /// Generates a fresh random key pair.
    /// - Throws: ``CryptoError`` if guarded memory cannot be allocated.
    public static func generate() throws -> X25519KeyPair {
        try X25519KeyPair(privateKey: SecretKey(randomCount: 32))
    }

    /// Noise `DH(key_pair, public_key)` into caller memory (32 bytes; the caller wipes it).
    /// - Throws: ``CryptoError/Code/keyAgreementFailed`` for a malformed or low-order public key.
    func agree(with remotePublicKey: [UInt8], into out: UnsafeMutableRawBufferPointer) throws {
        guard remotePublicKey.count == 32, out.count >= 32 else {
            throw CryptoError(.keyAgreementFailed, "remote public key is not 32 bytes")
        }
        let result = remotePublicKey.withUnsafeBytes { remote in
            crypto_scalarmult(
                out.bindMutableMemory(),
                privateKey.rawPointer.assumingMemoryBound(to: UInt8.self),
                remote.bindMemory()
            )
        }
        if result != 0 { throw CryptoError(.keyAgreementFailed, "X25519 produced the all-zero output (low-order key)") }
    }
}
