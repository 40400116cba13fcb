internal import CSodium

/// Secret bytes held in libsodium guarded memory (`sodium_malloc`: guard pages, `mlock`ed where the
/// system allows), wiped with `sodium_memzero` when released and compared in constant time.
///
/// The bytes are only lent inside ``withUnsafeBytes(_:)``; they never exist in an `Array` or a
/// `String` owned by this type.
public final class SecretKey: @unchecked Sendable {
    // @unchecked Sendable: the bytes are written only during initialisation (or through internal
    // mutation by a single owner that is itself not shared, e.g. CipherState.rekey), then read-only.
    private let pointer: UnsafeMutableRawPointer
    /// The number of secret bytes.
    public let count: Int

    /// Allocates `count` zeroed bytes of guarded memory.
    /// - Throws: ``CryptoError/Code/allocation`` if libsodium cannot allocate.
    init(zeroedCount count: Int) throws {
        guard Sodium.ensureInitialized() else { throw CryptoError(.sodium, "sodium_init failed") }
        guard count > 0, count <= 4096, let raw = sodium_malloc(count) else {
            throw CryptoError(.allocation, "sodium_malloc(\(count)) failed")
        }
        sodium_memzero(raw, count)
        self.pointer = raw
        self.count = count
    }

    /// Creates a key of `count` random bytes from libsodium's CSPRNG.
    /// - Parameter count: the key length in bytes (1...4096).
    /// - Throws: ``CryptoError`` if memory cannot be allocated.
    public convenience init(randomCount count: Int) throws {
        try self.init(zeroedCount: count)
        randombytes_buf(pointer, count)
    }

    /// Copies secret bytes into guarded memory. The caller remains responsible for wiping `bytes`.
    /// - Parameter bytes: the secret (1...4096 bytes).
    /// - Throws: ``CryptoError`` if memory cannot be allocated.
    public convenience init(copying bytes: UnsafeRawBufferPointer) throws {
        try self.init(zeroedCount: bytes.count)
        if let base = bytes.baseAddress { pointer.copyMemory(from: base, byteCount: bytes.count) }
    }

    /// Moves secret bytes out of an array into guarded memory and wipes the array.
    /// - Parameter bytes: the secret; zeroed on return (also on failure).
    /// - Throws: ``CryptoError`` if memory cannot be allocated.
    public convenience init(wiping bytes: inout [UInt8]) throws {
        defer { wipe(&bytes) }
        try self.init(zeroedCount: bytes.count)
        let destination = pointer
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress { destination.copyMemory(from: base, byteCount: raw.count) }
        }
    }

    /// Fills new guarded memory through `body`, wiping it if `body` throws.
    static func make(
        count: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws
        -> SecretKey
    {
        let key = try SecretKey(zeroedCount: count)
        try body(UnsafeMutableRawBufferPointer(start: key.pointer, count: count))
        return key
    }

    deinit {
        sodium_memzero(pointer, count)
        sodium_free(pointer)
    }

    /// Lends the secret bytes to `body`. The pointer must not escape the closure.
    /// - Parameter body: a closure reading the bytes.
    /// - Returns: what `body` returns.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(unsafeRawBuffer)
    }

    @usableFromInline
    var unsafeRawBuffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }

    /// Lends the bytes for in-place mutation (only used by owners that are not shared, e.g. rekey).
    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// Base address for internal C calls; only valid while `self` is alive.
    var rawPointer: UnsafeRawPointer { UnsafeRawPointer(pointer) }

    /// A new key with the same bytes.
    /// - Throws: ``CryptoError`` if memory cannot be allocated.
    public func copy() throws -> SecretKey {
        try SecretKey(copying: unsafeRawBuffer)
    }

    /// Constant-time comparison with `sodium_memcmp`; keys of different lengths are unequal.
    /// - Parameter other: the key to compare with.
    /// - Returns: whether both keys hold the same bytes.
    public func constantTimeEquals(_ other: SecretKey) -> Bool {
        guard count == other.count else { return false }
        return sodium_memcmp(pointer, other.pointer, count) == 0
    }

    /// Constant-time comparison with non-secret-owned bytes.
    /// - Parameter bytes: the bytes to compare with.
    /// - Returns: whether they are equal.
    public func constantTimeEquals(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard count == bytes.count, let base = bytes.baseAddress else { return false }
        return sodium_memcmp(pointer, base, count) == 0
    }
}

extension SecretKey: Equatable {
    /// Constant-time equality (`sodium_memcmp`).
    public static func == (lhs: SecretKey, rhs: SecretKey) -> Bool { lhs.constantTimeEquals(rhs) }
}

extension SecretKey: CustomStringConvertible {
    /// Never prints the bytes.
    public var description: String { "SecretKey(\(count) bytes, redacted)" }
}

/// Wipes an array that briefly held secret bytes.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
}

/// Wipes stack scratch memory that held secrets.
func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    if let base = buffer.baseAddress { sodium_memzero(base, buffer.count) }
}

/// Constant-time equality of two public byte buffers (tags, public keys, hashes).
func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard a.count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
    return sodium_memcmp(pa, pb, a.count) == 0
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in constantTimeEqual(pa, pb) } }
}
