/// A Noise `SymmetricState` (spec rev 34 §5.2): chaining key `ck`, handshake hash `h` and a
/// ``CipherState``. The chaining key lives in guarded memory.
final class SymmetricState {
    private(set) var chainingKey: SecretKey
    private(set) var hash: [UInt8]
    let cipher: CipherState

    /// Noise `InitializeSymmetric(protocol_name)`.
    init(protocolName: [UInt8]) throws {
        if protocolName.count <= SHA256.byteCount {
            hash = protocolName + [UInt8](repeating: 0, count: SHA256.byteCount - protocolName.count)
        } else {
            hash = SHA256.hash(protocolName)
        }
        chainingKey = try hash.withUnsafeBytes { raw in try SecretKey(copying: raw) }
        cipher = CipherState()
    }

    /// Noise `MixKey(input_key_material)`. The chaining key and cipher key are updated in place (no
    /// new guarded allocation per call); intermediates live on the stack and are wiped.
    func mixKey(_ ikm: UnsafeRawBufferPointer) throws {
        try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { scratch in
            defer { wipe(scratch) }
            let ck = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<32])
            let tk = UnsafeMutableRawBufferPointer(rebasing: scratch[32..<64])
            HKDF.derive(chainingKey: chainingKey.unsafeRawBuffer, inputKeyMaterial: ikm, outputs: [ck, tk])
            chainingKey.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(ck)) }
            try cipher.initializeKey(bytes: UnsafeRawBufferPointer(tk))
        }
    }

    /// Noise `MixHash(data)`.
    func mixHash(_ data: UnsafeRawBufferPointer) {
        hash = hash.withUnsafeBytes { SHA256.hash($0, data) }
    }

    func mixHash(_ data: [UInt8]) { data.withUnsafeBytes { mixHash($0) } }

    /// Noise `MixKeyAndHash(input_key_material)` (used for `psk` tokens).
    func mixKeyAndHash(_ ikm: UnsafeRawBufferPointer) throws {
        try withUnsafeTemporaryAllocation(byteCount: 96, alignment: 16) { scratch in
            defer { wipe(scratch) }
            let ck = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<32])
            let th = UnsafeMutableRawBufferPointer(rebasing: scratch[32..<64])
            let tk = UnsafeMutableRawBufferPointer(rebasing: scratch[64..<96])
            HKDF.derive(chainingKey: chainingKey.unsafeRawBuffer, inputKeyMaterial: ikm, outputs: [ck, th, tk])
            chainingKey.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(ck)) }
            mixHash(UnsafeRawBufferPointer(th))
            try cipher.initializeKey(bytes: UnsafeRawBufferPointer(tk))
        }
    }

    /// Noise `EncryptAndHash(plaintext)`.
    func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let ciphertext = try cipher.encrypt(ad: hash, plaintext: plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    /// Noise `DecryptAndHash(ciphertext)`.
    func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext = try cipher.decrypt(ad: hash, ciphertext: ciphertext)
        mixHash(ciphertext)
        return plaintext
    }

    /// Noise `Split()`: two cipher states, initiator→responder first.
    func split() throws -> (CipherState, CipherState) {
        let (k1, k2) = try deriveKeys(inputKeyMaterial: UnsafeRawBufferPointer(start: nil, count: 0))
        return (CipherState(key: k1), CipherState(key: k2))
    }

    /// `HKDF(ck, input_key_material, 2)`, for `Split()` and for additional labelled keys.
    func deriveKeys(inputKeyMaterial: UnsafeRawBufferPointer) throws -> (SecretKey, SecretKey) {
        let k1 = try SecretKey(zeroedCount: 32)
        let k2 = try SecretKey(zeroedCount: 32)
        k1.withUnsafeMutableBytes { a in
            k2.withUnsafeMutableBytes { b in
                HKDF.derive(
                    chainingKey: chainingKey.unsafeRawBuffer,
                    inputKeyMaterial: inputKeyMaterial,
                    outputs: [a, b]
                )
            }
        }
        return (k1, k2)
    }
}
