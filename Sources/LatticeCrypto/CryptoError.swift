/// An error from LatticeCrypto: a stable ``Code`` plus a human message.
///
/// Codes are a struct rather than an enum (swift-nio's `FileSystemError` style) so that new codes
/// can be added without breaking callers' `switch` statements. Messages never contain key material.
public struct CryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The category of a ``CryptoError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// libsodium could not be initialised or a libsodium call failed unexpectedly.
        public static let sodium = Code("sodium")
        /// Guarded memory could not be allocated.
        public static let allocation = Code("allocation")
        /// An argument had the wrong size or was otherwise unusable.
        public static let invalidArgument = Code("invalidArgument")
        /// An AEAD tag did not verify: the data was tampered with or sealed under another key.
        public static let authenticationFailed = Code("authenticationFailed")
        /// The first handshake message did not authenticate under any installed network key.
        public static let wrongNetworkKey = Code("wrongNetworkKey")
        /// A handshake or transport message was too short, too long or structurally invalid.
        public static let malformedMessage = Code("malformedMessage")
        /// A Diffie-Hellman computation failed (for example a low-order public key).
        public static let keyAgreementFailed = Code("keyAgreementFailed")
        /// An operation was called in a state that does not allow it.
        public static let invalidState = Code("invalidState")
        /// A nonce or message counter is exhausted; a new handshake is required.
        public static let nonceExhausted = Code("nonceExhausted")
        /// The peer's identity payload was missing, malformed or its signature did not verify.
        public static let identityInvalid = Code("identityInvalid")
        /// The peer's identity is refused by the trust policy (unknown or revoked).
        public static let identityRefused = Code("identityRefused")
        /// A handshake did not complete before its deadline.
        public static let timeout = Code("timeout")
        /// A datagram counter was already received or is older than the replay window.
        public static let replayed = Code("replayed")
        /// A session is too old or has sent too many messages and must be re-established.
        public static let sessionExpired = Code("sessionExpired")
        /// Too many handshakes are half-open.
        public static let tooManyHandshakes = Code("tooManyHandshakes")
        /// A key file could not be read or written.
        public static let keyFile = Code("keyFile")
        /// A key file is readable by group or others.
        public static let insecurePermissions = Code("insecurePermissions")
        /// A protocol or pattern name is not supported.
        public static let unsupported = Code("unsupported")
    }

    /// The category of the error.
    public var code: Code
    /// A one-line explanation meant for logs and users.
    public var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: the category.
    ///   - message: a one-line explanation; must not contain secrets.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// Throws ``CryptoError/Code/sodium`` unless a libsodium call returned 0.
@inline(__always)
func sodiumCheck(_ result: Int32, _ what: @autoclosure () -> String) throws {
    if result != 0 { throw CryptoError(.sodium, "\(what()) failed (\(result))") }
}
