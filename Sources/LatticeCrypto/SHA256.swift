internal import CSodium

/// SHA-256 (`crypto_hash_sha256`), the Noise `HASH` function.
enum SHA256 {
    /// Output length in bytes (Noise `HASHLEN`).
    static let byteCount = 32

    /// Hashes the concatenation of `parts`.
    static func hash(_ parts: UnsafeRawBufferPointer...) -> [UInt8] {
        var state = crypto_hash_sha256_state()
        defer { withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) } }
        _ = crypto_hash_sha256_init(&state)
        for part in parts where part.count > 0 {
            _ = crypto_hash_sha256_update(&state, part.bindMemory(), UInt64(part.count))
        }
        var out = [UInt8](repeating: 0, count: byteCount)
        out.withUnsafeMutableBytes { _ = crypto_hash_sha256_final(&state, $0.bindMutableMemory()) }
        return out
    }

    /// Hashes a byte array.
    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }
}

extension UnsafeRawBufferPointer {
    /// The base address typed as bytes, or a pointer to a static zero byte for empty buffers (so that
    /// C functions never receive NULL together with a zero length they might not expect).
    @inline(__always)
    func bindMemory() -> UnsafePointer<UInt8> {
        if let base = baseAddress { return base.assumingMemoryBound(to: UInt8.self) }
        return emptyBytePointer
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The base address typed as bytes (see `UnsafeRawBufferPointer.bindMemory()`).
    @inline(__always)
    func bindMutableMemory() -> UnsafeMutablePointer<UInt8> {
        if let base = baseAddress { return base.assumingMemoryBound(to: UInt8.self) }
        return emptyMutableBytePointer
    }
}

/// A one-byte scratch allocation passed to C for empty inputs (never read or written with length > 0).
nonisolated(unsafe) let emptyMutableBytePointer: UnsafeMutablePointer<UInt8> = {
    let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
    pointer.initialize(repeating: 0, count: 16)
    return pointer
}()
nonisolated(unsafe) let emptyBytePointer = UnsafePointer<UInt8>(emptyMutableBytePointer)
