internal import CSodium

/// The libsodium library, initialised once per process.
public enum Sodium {
    /// Initialises libsodium (idempotent, thread-safe in libsodium itself).
    /// - Returns: whether libsodium is ready to use.
    @discardableResult
    public static func initialize() -> Bool { sodium_init() >= 0 }

    /// The libsodium version string, for example `1.0.18`.
    public static var versionString: String { String(cString: sodium_version_string()) }
}
