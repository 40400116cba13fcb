/// A Noise `CipherState` (spec rev 34 §5.1) for ChaChaPoly: a key `k` and a 64-bit nonce `n`.
///
/// Not thread-safe: one connection owns it. The nonce only advances after a successful
/// encryption or decryption, so a tampered message does not move the receive counter.
public final class CipherState {
    private(set) var key: SecretKey?
    /// The next nonce to use.
    public private(set) var nonce: UInt64 = 0

    /// The largest nonce Noise allows (2^64 - 1 is reserved for ``rekey()``).
    public static let maxNonce: UInt64 = .max - 1

    /// Creates a cipher state, keyed or empty.
    /// - Parameter key: a 32-byte key, or `nil` for the empty state of the handshake's beginning.
    init(key: SecretKey? = nil) { self.key = key }

    /// Whether a key is installed (Noise `HasKey()`).
    public var hasKey: Bool { key != nil }

    /// Noise `InitializeKey(key)`: installs the key and resets the nonce.
    func initializeKey(_ newKey: SecretKey?) {
        key = newKey
        nonce = 0
    }

    /// Noise `InitializeKey` from raw bytes, reusing this state's guarded key memory when it has some.
    func initializeKey(bytes: UnsafeRawBufferPointer) throws {
        if let key, key.count == bytes.count {
            key.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
        } else {
            key = try SecretKey(copying: bytes)
        }
        nonce = 0
    }

    /// Sets the nonce (Noise `SetNonce`), for tests and resynchronisation.
    /// - Parameter value: the next nonce.
    public func setNonce(_ value: UInt64) { nonce = value }

    /// Noise `EncryptWithAd` into caller memory. Without a key, copies the plaintext.
    /// - Parameters:
    ///   - ad: associated data.
    ///   - plaintext: the message; may be the same memory as `out`.
    ///   - out: at least `plaintext.count + 16` bytes (with a key).
    /// - Returns: the number of bytes written.
    /// - Throws: ``CryptoError/Code/nonceExhausted`` when the nonce is spent,
    ///   ``CryptoError/Code/invalidArgument`` when `out` is too small.
    @inline(__always)
    public func seal(
        ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        guard let key else {
            guard out.count >= plaintext.count else { throw CryptoError(.invalidArgument, "output buffer too small") }
            if plaintext.count > 0, let src = plaintext.baseAddress, let dst = out.baseAddress {
                dst.copyMemory(from: src, byteCount: plaintext.count)
            }
            return plaintext.count
        }
        guard nonce <= Self.maxNonce else { throw CryptoError(.nonceExhausted, "cipher nonce exhausted") }
        guard out.count >= plaintext.count + ChaChaPoly.tagByteCount, let dst = out.baseAddress else {
            throw CryptoError(.invalidArgument, "output buffer too small")
        }
        let written = try ChaChaPoly.seal(key: key.rawPointer, nonce: nonce, ad: ad, plaintext: plaintext, out: dst)
        nonce &+= 1
        return written
    }

    /// Noise `DecryptWithAd` into caller memory. Without a key, copies the ciphertext.
    /// - Parameters:
    ///   - ad: associated data.
    ///   - ciphertext: ciphertext followed by the tag; may be the same memory as `out`.
    ///   - out: at least `ciphertext.count - 16` bytes.
    /// - Returns: the plaintext length.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` (the nonce does not advance).
    @inline(__always)
    public func open(
        ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        guard let key else {
            guard out.count >= ciphertext.count else { throw CryptoError(.invalidArgument, "output buffer too small") }
            if ciphertext.count > 0, let src = ciphertext.baseAddress, let dst = out.baseAddress {
                dst.copyMemory(from: src, byteCount: ciphertext.count)
            }
            return ciphertext.count
        }
        guard nonce <= Self.maxNonce else { throw CryptoError(.nonceExhausted, "cipher nonce exhausted") }
        guard ciphertext.count >= ChaChaPoly.tagByteCount else {
            throw CryptoError(.malformedMessage, "ciphertext shorter than the 16-byte tag")
        }
        guard out.count >= ciphertext.count - ChaChaPoly.tagByteCount else {
            throw CryptoError(.invalidArgument, "output buffer too small")
        }
        let dst = out.baseAddress ?? UnsafeMutableRawPointer(emptyMutableBytePointer)
        let written = try ChaChaPoly.open(key: key.rawPointer, nonce: nonce, ad: ad, ciphertext: ciphertext, out: dst)
        nonce &+= 1
        return written
    }

    /// Noise `EncryptWithAd` returning a new array.
    /// - Parameters:
    ///   - ad: associated data.
    ///   - plaintext: the message.
    /// - Returns: ciphertext and tag (or the plaintext when no key is set).
    /// - Throws: ``CryptoError`` as ``seal(ad:plaintext:into:)``.
    public func encrypt(ad: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + (hasKey ? ChaChaPoly.tagByteCount : 0))
        let n = try ad.withUnsafeBytes { adBytes in
            try plaintext.withUnsafeBytes { pt in
                try out.withUnsafeMutableBytes { o in try seal(ad: adBytes, plaintext: pt, into: o) }
            }
        }
        out.removeLast(out.count - n)
        return out
    }

    /// Noise `DecryptWithAd` returning a new array.
    /// - Parameters:
    ///   - ad: associated data.
    ///   - ciphertext: ciphertext and tag.
    /// - Returns: the plaintext.
    /// - Throws: ``CryptoError`` as ``open(ad:ciphertext:into:)``.
    public func decrypt(ad: [UInt8], ciphertext: [UInt8]) throws -> [UInt8] {
        if hasKey && ciphertext.count < ChaChaPoly.tagByteCount {
            throw CryptoError(.malformedMessage, "ciphertext shorter than the 16-byte tag")
        }
        var out = [UInt8](repeating: 0, count: max(0, ciphertext.count - (hasKey ? ChaChaPoly.tagByteCount : 0)))
        let n = try ad.withUnsafeBytes { adBytes in
            try ciphertext.withUnsafeBytes { ct in
                try out.withUnsafeMutableBytes { o in try open(ad: adBytes, ciphertext: ct, into: o) }
            }
        }
        out.removeLast(out.count - n)
        return out
    }

    /// Noise `Rekey()`: `k = ENCRYPT(k, 2^64 - 1, "", 32 zero bytes)[0..<32]`; the nonce is kept.
    /// - Throws: ``CryptoError/Code/invalidState`` without a key.
    public func rekey() throws {
        guard let key else { throw CryptoError(.invalidState, "rekey without a key") }
        let fresh = try SecretKey.make(count: 32) { out in
            try withUnsafeTemporaryAllocation(byteCount: 48, alignment: 16) { scratch in
                guard let base = scratch.baseAddress else { throw CryptoError(.allocation, "stack buffer") }
                defer { _ = scratch.initializeMemory(as: UInt8.self, repeating: 0) }
                _ = scratch.initializeMemory(as: UInt8.self, repeating: 0)
                _ = try ChaChaPoly.seal(
                    key: key.rawPointer,
                    nonce: .max,
                    ad: UnsafeRawBufferPointer(start: nil, count: 0),
                    plaintext: UnsafeRawBufferPointer(start: base, count: 32),
                    out: base
                )
                out.baseAddress?.copyMemory(from: base, byteCount: 32)
            }
        }
        self.key = fresh
    }
}
