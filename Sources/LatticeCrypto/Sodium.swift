internal import CSodium

/// The libsodium library, initialised once per process.
public enum Sodium {
    /// Initialises libsodium (idempotent, thread-safe in libsodium itself).
    /// - Returns: whether libsodium is ready to use.
    @discardableResult
    public static func initialize() -> Bool { sodium_init() >= 0 }

    /// The libsodium version string, for example `1.0.18`.
    public static var versionString: String { String(cString: sodium_version_string()) }

    private static let initialized: Bool = sodium_init() >= 0

    /// Initialises libsodium on first use; cheap afterwards.
    static func ensureInitialized() -> Bool { initialized }

    /// Fills `buffer` with random bytes from libsodium's CSPRNG.
    /// - Parameter buffer: the destination.
    public static func randomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0, ensureInitialized() else { return }
        randombytes_buf(base, buffer.count)
    }

    /// A random 64-bit value from libsodium's CSPRNG.
    public static func randomUInt64() -> UInt64 {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { randomBytes($0) }
        return value
    }

    /// A random 32-bit value from libsodium's CSPRNG.
    public static func randomUInt32() -> UInt32 {
        _ = ensureInitialized()
        return randombytes_random()
    }
}
