internal import CSodium

/// ChaCha20-Poly1305 IETF (`crypto_aead_chacha20poly1305_ietf_*`) with the Noise nonce layout:
/// 4 zero bytes followed by the 64-bit counter in little-endian order.
enum ChaChaPoly {
    /// Key length in bytes.
    static let keyByteCount = 32
    /// Authentication tag length in bytes.
    static let tagByteCount = 16

    /// Encrypts `plaintext` into `out` (which may be the same memory as `plaintext`); `out` must hold
    /// `plaintext.count + 16` bytes. Returns the number of bytes written.
    @inline(__always)
    static func seal(
        key: UnsafeRawPointer,
        nonce: UInt64,
        ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        out: UnsafeMutableRawPointer
    ) throws -> Int {
        var nonceBytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &nonceBytes) {
            $0.storeBytes(of: nonce.littleEndian, toByteOffset: 4, as: UInt64.self)
        }
        var written: UInt64 = 0
        let result = withUnsafeBytes(of: &nonceBytes) { npub in
            crypto_aead_chacha20poly1305_ietf_encrypt(
                out.assumingMemoryBound(to: UInt8.self),
                &written,
                plaintext.bindMemory(),
                UInt64(plaintext.count),
                ad.bindMemory(),
                UInt64(ad.count),
                nil,
                npub.bindMemory(),
                key.assumingMemoryBound(to: UInt8.self)
            )
        }
        try sodiumCheck(result, "crypto_aead_chacha20poly1305_ietf_encrypt")
        return Int(written)
    }

    /// Verifies and decrypts `ciphertext` (ciphertext + tag) into `out` (may alias); returns the
    /// plaintext length. Nothing is written unless the tag verifies.
    @inline(__always)
    static func open(
        key: UnsafeRawPointer,
        nonce: UInt64,
        ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        out: UnsafeMutableRawPointer
    ) throws -> Int {
        guard ciphertext.count >= tagByteCount else {
            throw CryptoError(.malformedMessage, "ciphertext shorter than the 16-byte tag")
        }
        var nonceBytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &nonceBytes) {
            $0.storeBytes(of: nonce.littleEndian, toByteOffset: 4, as: UInt64.self)
        }
        var written: UInt64 = 0
        let result = withUnsafeBytes(of: &nonceBytes) { npub in
            crypto_aead_chacha20poly1305_ietf_decrypt(
                out.assumingMemoryBound(to: UInt8.self),
                &written,
                nil,
                ciphertext.bindMemory(),
                UInt64(ciphertext.count),
                ad.bindMemory(),
                UInt64(ad.count),
                npub.bindMemory(),
                key.assumingMemoryBound(to: UInt8.self)
            )
        }
        if result != 0 { throw CryptoError(.authenticationFailed, "authentication tag did not verify") }
        return Int(written)
    }
}
