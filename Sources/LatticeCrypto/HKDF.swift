internal import CSodium

/// HMAC-SHA256 and the Noise `HKDF` built from `crypto_auth_hmacsha256_*` (libsodium 1.0.18 has no
/// HKDF helper). Intermediate keys live on the stack only for the duration of a call and are wiped.
enum HKDF {
    /// HMAC-SHA256 of the concatenation of `parts` under `key` (any length), written to `out` (32 bytes).
    static func hmac(key: UnsafeRawBufferPointer, _ parts: [UnsafeRawBufferPointer], into out: UnsafeMutableRawPointer)
    {
        var state = crypto_auth_hmacsha256_state()
        defer { withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) } }
        _ = crypto_auth_hmacsha256_init(&state, key.bindMemory(), key.count)
        for part in parts where part.count > 0 {
            _ = crypto_auth_hmacsha256_update(&state, part.bindMemory(), UInt64(part.count))
        }
        _ = crypto_auth_hmacsha256_final(&state, out.assumingMemoryBound(to: UInt8.self))
    }

    /// Noise `HKDF(chaining_key, input_key_material, num_outputs)` (Noise spec rev 34 §4.3) with
    /// HMAC-SHA256; writes two or three 32-byte outputs.
    /// - Parameters:
    ///   - chainingKey: 32 bytes.
    ///   - inputKeyMaterial: 0 or 32 bytes (any length is accepted).
    ///   - outputs: two or three 32-byte destinations.
    static func derive(
        chainingKey: UnsafeRawBufferPointer,
        inputKeyMaterial: UnsafeRawBufferPointer,
        outputs: [UnsafeMutableRawBufferPointer]
    ) {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { scratch in
            guard let base = scratch.baseAddress else { return }
            defer { sodium_memzero(base, 64) }
            let tempKey = UnsafeRawBufferPointer(start: base, count: 32)
            let previous = UnsafeMutableRawPointer(base + 32)
            hmac(key: chainingKey, [inputKeyMaterial], into: base)
            var counter: UInt8 = 1
            for (index, output) in outputs.enumerated() {
                withUnsafeBytes(of: &counter) { counterByte in
                    let prefix = UnsafeRawBufferPointer(start: previous, count: index == 0 ? 0 : 32)
                    hmac(key: tempKey, [prefix, counterByte], into: previous)
                }
                if let destination = output.baseAddress {
                    destination.copyMemory(from: previous, byteCount: min(32, output.count))
                }
                counter &+= 1
            }
        }
    }
}
