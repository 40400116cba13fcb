internal import CSodium

/// BLAKE2b (`crypto_generichash`), keyed or not, for fingerprints, checksums and key derivation.
enum Blake2b {
    /// Hashes the concatenation of `parts` to `length` bytes (16...64), optionally keyed (16...64 bytes).
    static func hash(length: Int, key: UnsafeRawBufferPointer? = nil, _ parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        // crypto_generichash_state is 64-byte aligned and not importable: use raw aligned memory.
        withUnsafeTemporaryAllocation(byteCount: crypto_generichash_statebytes(), alignment: 64) { raw in
            guard let base = raw.baseAddress else { return [] }
            defer { sodium_memzero(base, raw.count) }
            let state = OpaquePointer(base)
            _ = crypto_generichash_init(state, key?.bindMemory(), key?.count ?? 0, length)
            for part in parts where part.count > 0 {
                _ = crypto_generichash_update(state, part.bindMemory(), UInt64(part.count))
            }
            var out = [UInt8](repeating: 0, count: length)
            out.withUnsafeMutableBytes { _ = crypto_generichash_final(state, $0.bindMutableMemory(), length) }
            return out
        }
    }

    /// Unkeyed hash of a label followed by data.
    static func hash(length: Int, label: String, _ data: [UInt8]) -> [UInt8] {
        let labelBytes = Array(label.utf8)
        return labelBytes.withUnsafeBytes { l in data.withUnsafeBytes { d in hash(length: length, [l, d]) } }
    }
}
