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

    /// Noise `MixKey(input_key_material)`.
    func mixKey(_ ikm: UnsafeRawBufferPointer) throws {
        let newChainingKey = try SecretKey(zeroedCount: 32)
        let tempKey = try SecretKey(zeroedCount: 32)
        newChainingKey.withUnsafeMutableBytes { ck in
            tempKey.withUnsafeMutableBytes { tk in
                HKDF.derive(chainingKey: chainingKey.unsafeRawBuffer, inputKeyMaterial: ikm, outputs: [ck, tk])
            }
        }
        chainingKey = newChainingKey
        cipher.initializeKey(tempKey)
    }

    /// Noise `MixHash(data)`.
    func mixHash(_ data: UnsafeRawBufferPointer) {
        hash = hash.withUnsafeBytes { SHA256.hash($0, data) }
    }

    func mixHash(_ data: [UInt8]) { data.withUnsafeBytes { mixHash($0) } }

    /// Noise `MixKeyAndHash(input_key_material)` (used for `psk` tokens).
    func mixKeyAndHash(_ ikm: UnsafeRawBufferPointer) throws {
        let newChainingKey = try SecretKey(zeroedCount: 32)
        let tempKey = try SecretKey(zeroedCount: 32)
        var tempHash = [UInt8](repeating: 0, count: 32)
        newChainingKey.withUnsafeMutableBytes { ck in
            tempKey.withUnsafeMutableBytes { tk in
                tempHash.withUnsafeMutableBytes { th in
                    HKDF.derive(chainingKey: chainingKey.unsafeRawBuffer, inputKeyMaterial: ikm, outputs: [ck, th, tk])
                }
            }
        }
        chainingKey = newChainingKey
        mixHash(tempHash)
        cipher.initializeKey(tempKey)
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
                HKDF.derive(chainingKey: chainingKey.unsafeRawBuffer, inputKeyMaterial: inputKeyMaterial, outputs: [a, b])
            }
        }
        return (k1, k2)
    }
}
