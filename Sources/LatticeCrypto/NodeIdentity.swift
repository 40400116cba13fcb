internal import CSodium

/// This node's long-term identity: an Ed25519 key pair, plus the X25519 static key used in Noise.
///
/// The X25519 static key is **derived** from the Ed25519 key (`crypto_sign_ed25519_sk_to_curve25519`),
/// so one secret (the 32-byte seed) is stored and the peer can check that a Noise static key belongs
/// to a node ID (`crypto_sign_ed25519_pk_to_curve25519`). The handshake additionally carries an Ed25519
/// signature over the transcript hash, proving possession of the signing key.
public final class NodeIdentity: Sendable {
    /// The public identity.
    public let nodeID: NodeID
    /// libsodium's 64-byte Ed25519 secret key (seed || public key).
    let signingKey: SecretKey
    /// The derived Noise static key pair.
    public let staticKey: X25519KeyPair

    /// Creates the identity from a 32-byte seed.
    /// - Parameter seed: the Ed25519 seed (what key files store).
    /// - Throws: ``CryptoError/Code/invalidArgument`` for a wrong size.
    public init(seed: SecretKey) throws {
        guard seed.count == 32 else { throw CryptoError(.invalidArgument, "identity seed must be 32 bytes") }
        var publicKey = [UInt8](repeating: 0, count: 32)
        let signing = try SecretKey.make(count: 64) { sk in
            let result = publicKey.withUnsafeMutableBytes { pk in
                crypto_sign_seed_keypair(
                    pk.bindMutableMemory(),
                    sk.bindMutableMemory(),
                    seed.unsafeRawBuffer.bindMemory()
                )
            }
            try sodiumCheck(result, "crypto_sign_seed_keypair")
        }
        let curveSecret = try SecretKey.make(count: 32) { out in
            let result = crypto_sign_ed25519_sk_to_curve25519(
                out.bindMutableMemory(),
                signing.unsafeRawBuffer.bindMemory()
            )
            try sodiumCheck(result, "crypto_sign_ed25519_sk_to_curve25519")
        }
        self.signingKey = signing
        self.staticKey = try X25519KeyPair(privateKey: curveSecret)
        self.nodeID = try NodeID(publicKey: publicKey)
        guard staticKey.publicKey == nodeID.curve25519PublicKey else {
            throw CryptoError(.sodium, "derived X25519 key does not match the Ed25519 public key")
        }
    }

    /// Generates a new random identity.
    /// - Throws: ``CryptoError`` if guarded memory cannot be allocated.
    public static func generate() throws -> NodeIdentity {
        try NodeIdentity(seed: SecretKey(randomCount: 32))
    }

    /// The 32-byte seed, for writing the key file.
    /// - Throws: ``CryptoError`` if guarded memory cannot be allocated.
    public func seed() throws -> SecretKey {
        try SecretKey.make(count: 32) { out in
            out.copyMemory(from: UnsafeRawBufferPointer(rebasing: signingKey.unsafeRawBuffer[0..<32]))
        }
    }

    /// Signs a message (detached Ed25519 signature).
    /// - Parameter message: the bytes to sign.
    /// - Returns: 64 signature bytes.
    /// - Throws: ``CryptoError/Code/sodium`` if libsodium fails.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        let result = signature.withUnsafeMutableBytes { sig in
            message.withUnsafeBytes { m in
                crypto_sign_detached(
                    sig.bindMutableMemory(),
                    nil,
                    m.bindMemory(),
                    UInt64(m.count),
                    signingKey.unsafeRawBuffer.bindMemory()
                )
            }
        }
        try sodiumCheck(result, "crypto_sign_detached")
        return signature
    }

    /// Verifies a detached Ed25519 signature.
    /// - Parameters:
    ///   - signature: 64 bytes.
    ///   - message: the signed bytes.
    ///   - signer: the claimed signer.
    /// - Returns: whether the signature is valid.
    public static func verify(signature: [UInt8], message: [UInt8], signer: NodeID) -> Bool {
        guard signature.count == 64 else { return false }
        return signature.withUnsafeBytes { sig in
            message.withUnsafeBytes { m in
                signer.publicKey.withUnsafeBytes { pk in
                    crypto_sign_verify_detached(sig.bindMemory(), m.bindMemory(), UInt64(m.count), pk.bindMemory()) == 0
                }
            }
        }
    }
}
