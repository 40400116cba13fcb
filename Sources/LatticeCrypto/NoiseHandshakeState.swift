/// A general Noise `HandshakeState` (spec rev 34 §5.3) for `25519_ChaChaPoly_SHA256`, any pattern of
/// ``NoisePattern`` including psk modifiers.
///
/// Ephemeral keys can be injected for known-answer tests; otherwise they are generated when an `e`
/// token is written. After any error the state is dead and every later call throws.
public final class NoiseHandshakeState {
    /// The largest Noise message (spec §3).
    public static let maxMessageLength = 65_535

    /// The protocol being run.
    public let protocolName: NoiseProtocolName
    /// Whether this side is the initiator.
    public let isInitiator: Bool

    private let symmetric: SymmetricState
    private let localStatic: X25519KeyPair?
    private var localEphemeral: X25519KeyPair?
    /// The remote static public key, once known (pre-message or `s` token).
    public private(set) var remoteStaticKey: [UInt8]?
    /// The remote ephemeral public key, once known.
    public private(set) var remoteEphemeralKey: [UInt8]?
    private var psks: [SecretKey]
    private var messageIndex = 0
    private var failed = false
    /// The handshake hash `h` just before the most recent payload was encrypted or decrypted.
    /// Binding a signature to this value ties it to the transcript so far (used for identities).
    public private(set) var hashBeforeLastPayload: [UInt8] = []

    /// Creates a handshake state (Noise `Initialize`).
    /// - Parameters:
    ///   - protocolName: the protocol, e.g. `Noise_XXpsk0_25519_ChaChaPoly_SHA256`.
    ///   - initiator: whether this side initiates.
    ///   - prologue: data both sides must agree on; mixed into `h`.
    ///   - localStatic: this side's static key pair, if the pattern uses one.
    ///   - localEphemeral: an injected ephemeral key (tests only); generated when `nil`.
    ///   - remoteStatic: the peer's static key if known in advance (pre-message patterns).
    ///   - remoteEphemeral: the peer's ephemeral if known in advance (not used by supported patterns).
    ///   - psks: 32-byte pre-shared keys, consumed in order by `psk` tokens.
    /// - Throws: ``CryptoError`` when a required key is missing or has the wrong size.
    public init(
        protocolName: NoiseProtocolName,
        initiator: Bool,
        prologue: [UInt8],
        localStatic: X25519KeyPair? = nil,
        localEphemeral: X25519KeyPair? = nil,
        remoteStatic: [UInt8]? = nil,
        remoteEphemeral: [UInt8]? = nil,
        psks: [SecretKey] = []
    ) throws {
        self.protocolName = protocolName
        self.isInitiator = initiator
        self.localStatic = localStatic
        self.localEphemeral = localEphemeral
        self.remoteStaticKey = remoteStatic
        self.remoteEphemeralKey = remoteEphemeral
        let pattern = protocolName.pattern
        guard psks.count == pattern.pskCount, psks.allSatisfy({ $0.count == 32 }) else {
            throw CryptoError(.invalidArgument, "\(pattern.name) needs \(pattern.pskCount) PSK(s) of 32 bytes")
        }
        self.psks = psks
        symmetric = try SymmetricState(protocolName: Array(protocolName.name.utf8))
        symmetric.mixHash(prologue)
        // Pre-messages: the initiator's first, then the responder's.
        for (tokens, isLocal) in [(pattern.initiatorPreMessage, initiator), (pattern.responderPreMessage, !initiator)] {
            for token in tokens {
                let key: [UInt8]?
                switch (token, isLocal) {
                case (.s, true): key = localStatic?.publicKey
                case (.s, false): key = remoteStatic
                case (.e, true): key = localEphemeral?.publicKey
                case (.e, false): key = remoteEphemeral
                default: key = nil
                }
                guard let key, key.count == 32 else {
                    throw CryptoError(.invalidArgument, "\(pattern.name) pre-message needs the \(token) key")
                }
                symmetric.mixHash(key)
                if pattern.usesPSK && token == .e { try key.withUnsafeBytes { k in try symmetric.mixKey(k) } }
            }
        }
        if Self.needsLocalStatic(pattern, initiator: initiator) && localStatic == nil {
            throw CryptoError(.invalidArgument, "\(pattern.name) needs a local static key")
        }
    }

    /// Whether this side's static key is used: sent (`s`), in a pre-message, or in `se`/`es`/`ss`.
    private static func needsLocalStatic(_ pattern: NoisePattern, initiator: Bool) -> Bool {
        if (initiator ? pattern.initiatorPreMessage : pattern.responderPreMessage).contains(.s) { return true }
        for (index, message) in pattern.messages.enumerated() {
            if (index % 2 == 0) == initiator && message.contains(.s) { return true }
            if message.contains(.ss) || message.contains(initiator ? .se : .es) { return true }
        }
        return false
    }

    /// Whether every handshake message has been processed.
    public var isComplete: Bool { messageIndex >= protocolName.pattern.messages.count }

    /// Whether the next handshake message is this side's to write.
    public var isMyTurnToWrite: Bool { !isComplete && (messageIndex % 2 == 0) == isInitiator }

    /// The index of the next handshake message (0-based).
    public var nextMessageIndex: Int { messageIndex }

    /// The handshake hash `h` (the final one once ``isComplete``), usable for channel binding.
    public var handshakeHash: [UInt8] { symmetric.hash }

    /// Noise `WriteMessage(payload, message_buffer)`.
    /// - Parameter payload: the payload to encrypt (if a key is established) and append.
    /// - Returns: the handshake message (≤ 65,535 bytes).
    /// - Throws: ``CryptoError`` when it is not this side's turn, keys fail, or the message is too long.
    public func writeMessage(payload: [UInt8]) throws -> [UInt8] {
        try writeMessage { _ in payload }
    }

    /// Noise `WriteMessage` with the payload computed from the handshake hash `h` as it stands just
    /// before the payload is encrypted (so the payload can carry a signature over the transcript).
    /// - Parameter makePayload: called once with `h`; returns the payload.
    /// - Returns: the handshake message.
    /// - Throws: as ``writeMessage(payload:)`` or what `makePayload` throws.
    public func writeMessage(payloadBoundTo makePayload: ([UInt8]) throws -> [UInt8]) throws -> [UInt8] {
        guard !failed else { throw CryptoError(.invalidState, "handshake already failed") }
        guard isMyTurnToWrite else { throw CryptoError(.invalidState, "not this side's turn to write") }
        failed = true  // cleared on success
        var out: [UInt8] = []
        out.reserveCapacity(256)
        for token in protocolName.pattern.messages[messageIndex] {
            switch token {
            case .e:
                let ephemeral = try localEphemeral ?? X25519KeyPair.generate()
                localEphemeral = ephemeral
                out += ephemeral.publicKey
                symmetric.mixHash(ephemeral.publicKey)
                if protocolName.pattern.usesPSK {
                    try ephemeral.publicKey.withUnsafeBytes { k in try symmetric.mixKey(k) }
                }
            case .s:
                guard let localStatic else { throw CryptoError(.invalidState, "no local static key") }
                out += try symmetric.encryptAndHash(localStatic.publicKey)
            case .psk:
                guard !psks.isEmpty else { throw CryptoError(.invalidState, "no PSK left") }
                let psk = psks.removeFirst()
                try psk.withUnsafeBytes { k in try symmetric.mixKeyAndHash(k) }
            case .ee, .es, .se, .ss:
                try mixDH(token)
            }
        }
        hashBeforeLastPayload = symmetric.hash
        let payload = try makePayload(symmetric.hash)
        out += try symmetric.encryptAndHash(payload)
        guard out.count <= Self.maxMessageLength else {
            throw CryptoError(.invalidArgument, "handshake message of \(out.count) bytes exceeds 65535")
        }
        messageIndex += 1
        failed = false
        return out
    }

    /// Noise `ReadMessage(message, payload_buffer)`.
    /// - Parameter message: the handshake message received.
    /// - Returns: the decrypted payload.
    /// - Throws: ``CryptoError/Code/malformedMessage`` for wrong sizes,
    ///   ``CryptoError/Code/authenticationFailed`` when an AEAD tag fails,
    ///   ``CryptoError/Code/keyAgreementFailed`` for bad public keys. The state is dead afterwards.
    public func readMessage(_ message: [UInt8]) throws -> [UInt8] {
        try message.withUnsafeBytes { raw in try readMessage(raw) }
    }

    /// ``readMessage(_:)-([UInt8])`` over borrowed bytes.
    public func readMessage(_ message: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard !failed else { throw CryptoError(.invalidState, "handshake already failed") }
        guard !isComplete, !isMyTurnToWrite else { throw CryptoError(.invalidState, "not this side's turn to read") }
        guard message.count <= Self.maxMessageLength else {
            throw CryptoError(.malformedMessage, "handshake message longer than 65535 bytes")
        }
        failed = true
        var offset = 0
        func take(_ n: Int) throws -> [UInt8] {
            guard message.count - offset >= n else {
                throw CryptoError(.malformedMessage, "handshake message \(messageIndex + 1) is truncated")
            }
            defer { offset += n }
            return Array(message[offset..<offset + n])
        }
        for token in protocolName.pattern.messages[messageIndex] {
            switch token {
            case .e:
                let key = try take(32)
                remoteEphemeralKey = key
                symmetric.mixHash(key)
                if protocolName.pattern.usesPSK {
                    try key.withUnsafeBytes { k in try symmetric.mixKey(k) }
                }
            case .s:
                let encrypted = try take(symmetric.cipher.hasKey ? 48 : 32)
                remoteStaticKey = try symmetric.decryptAndHash(encrypted)
            case .psk:
                guard !psks.isEmpty else { throw CryptoError(.invalidState, "no PSK left") }
                let psk = psks.removeFirst()
                try psk.withUnsafeBytes { k in try symmetric.mixKeyAndHash(k) }
            case .ee, .es, .se, .ss:
                try mixDH(token)
            }
        }
        let rest = try take(message.count - offset)
        hashBeforeLastPayload = symmetric.hash
        let payload = try symmetric.decryptAndHash(rest)
        messageIndex += 1
        failed = false
        return payload
    }

    private func mixDH(_ token: NoiseToken) throws {
        let local: X25519KeyPair?
        let remote: [UInt8]?
        switch (token, isInitiator) {
        case (.ee, _): (local, remote) = (localEphemeral, remoteEphemeralKey)
        case (.ss, _): (local, remote) = (localStatic, remoteStaticKey)
        case (.es, true), (.se, false): (local, remote) = (localEphemeral, remoteStaticKey)
        case (.es, false), (.se, true): (local, remote) = (localStatic, remoteEphemeralKey)
        default: throw CryptoError(.invalidState, "not a DH token: \(token)")
        }
        guard let local, let remote else { throw CryptoError(.invalidState, "\(token) needs a key that is not set") }
        try withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { shared in
            defer { wipe(shared) }
            try local.agree(with: remote, into: shared)
            try symmetric.mixKey(UnsafeRawBufferPointer(shared))
        }
    }

    /// Noise `Split()` after the last handshake message.
    /// - Returns: `(send, receive)` cipher states for this side.
    /// - Throws: ``CryptoError/Code/invalidState`` before the handshake is complete.
    public func split() throws -> (send: CipherState, receive: CipherState) {
        guard isComplete, !failed else { throw CryptoError(.invalidState, "split before the handshake completed") }
        let (c1, c2) = try symmetric.split()
        return isInitiator ? (c1, c2) : (c2, c1)
    }

    /// Additional keys from the final chaining key, independent of ``split()``'s:
    /// `HKDF(ck, label || h, 2)`; the first output is for initiator→responder.
    /// - Parameter label: a distinct ASCII label, e.g. `lattice/udp/v1`.
    /// - Returns: `(send, receive)` keys for this side.
    /// - Throws: ``CryptoError/Code/invalidState`` before the handshake is complete.
    public func deriveKeys(label: String) throws -> (send: SecretKey, receive: SecretKey) {
        guard isComplete, !failed else { throw CryptoError(.invalidState, "derive before the handshake completed") }
        let ikm = Array(label.utf8) + symmetric.hash
        let (k1, k2) = try ikm.withUnsafeBytes { raw in try symmetric.deriveKeys(inputKeyMaterial: raw) }
        return isInitiator ? (k1, k2) : (k2, k1)
    }
}
