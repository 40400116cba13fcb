/// Constants of Lattice's handshake: `Noise_XXpsk0_25519_ChaChaPoly_SHA256`, the network key as PSK.
///
/// ```
/// -> psk, e                 payload: empty (16-byte tag only)        48 bytes
/// <- e, ee, s, es           payload: identity (101 → 117 bytes)      197 bytes
/// -> s, se                  payload: identity                         165 bytes
/// ```
/// Identity payload: `version (1) = 1 || receiver index (4, LE) || Ed25519 public key (32) ||
/// signature (64)` where the signature covers `"lattice/noise-identity/v1" || h` and `h` is the handshake
/// hash just before the payload is encrypted. The receiver also checks that the Ed25519 key converts to
/// the Noise static key it just authenticated.
public enum LatticeHandshake {
    /// The Noise protocol name.
    public static let protocolName = "Noise_XXpsk0_25519_ChaChaPoly_SHA256"
    /// Lattice wire protocol version, bound in the prologue.
    public static let protocolVersion: UInt8 = 1
    /// The prologue: ASCII `lattice` followed by the protocol version byte.
    public static let prologue: [UInt8] = Array("lattice".utf8) + [protocolVersion]
    /// Exact sizes of the three handshake messages (frame bodies).
    public static let messageLengths = [48, 197, 165]
    static let identityPayloadVersion: UInt8 = 1
    static let identityPayloadLength = 101
    static let signatureContext = Array("lattice/noise-identity/v1".utf8)
    static let parsedName: NoiseProtocolName? = try? NoiseProtocolName(protocolName)
}

/// What one call of ``HandshakeDriver/receive(_:now:)`` produced.
public struct HandshakeOutput {
    /// Framed bytes to write to the socket (possibly empty).
    public var outbound: [UInt8]
    /// The established session, once the handshake completed on this side.
    public var session: SecureSession?
    /// Bytes received after the last handshake frame (transport frames): feed them to a
    /// ``FrameDecoder`` for the session.
    public var remainingBytes: [UInt8]

    /// Creates an output value.
    public init(outbound: [UInt8], session: SecureSession?, remainingBytes: [UInt8]) {
        self.outbound = outbound
        self.session = session
        self.remainingBytes = remainingBytes
    }
}

/// An authenticated, trusted session: the peer's identity and the TCP and UDP ciphers.
public final class SecureSession {
    /// The peer's authenticated identity.
    public let peer: NodeID
    /// Whether this side initiated.
    public let isInitiator: Bool
    /// The final Noise handshake hash (channel binding).
    public let handshakeHash: [UInt8]
    /// The network key the handshake used.
    public let networkKeyID: NetworkKeyID
    /// Cipher for the TCP stream.
    public let stream: StreamCipher
    /// Cipher for UDP datagrams.
    public let datagrams: DatagramCipher

    init(
        peer: NodeID,
        isInitiator: Bool,
        handshakeHash: [UInt8],
        networkKeyID: NetworkKeyID,
        stream: StreamCipher,
        datagrams: DatagramCipher
    ) {
        self.peer = peer
        self.isInitiator = isInitiator
        self.handshakeHash = handshakeHash
        self.networkKeyID = networkKeyID
        self.stream = stream
        self.datagrams = datagrams
    }
}

/// A sans-I/O driver of Lattice's handshake over a TCP byte stream: feed received bytes, write what it
/// returns; it never touches a socket or a clock. Deadlines are checked against the `now` the caller
/// passes (``MonotonicTime/now()``) and with ``checkDeadline(now:)`` from the caller's timer.
///
/// A responder tries msg 1 under each installed network key; only symmetric crypto runs before one
/// key authenticates it, so a stranger is refused before any Diffie-Hellman and before either side
/// reveals an identity. Every peer identity is checked against the ``TrustPolicy`` before the session
/// is returned (the initiator checks the responder before revealing itself in msg 3).
public final class HandshakeDriver {
    /// Which side of the handshake.
    public enum Role: Sendable { case initiator, responder }

    /// This side's role.
    public let role: Role
    /// Monotonic time (ns) by which the handshake must complete.
    public let deadline: UInt64
    /// The receiver index this side announces for datagrams.
    public let localIndex: UInt32
    private let identity: NodeIdentity
    private let trust: TrustPolicy
    private let keys: [NetworkKey]
    private let streamRekeyInterval: UInt64
    private let datagramLimits: DatagramLimits
    private let ephemeral: X25519KeyPair?
    private var noise: NoiseHandshakeState?
    private var networkKeyID: NetworkKeyID?
    private var decoder = FrameDecoder()
    private var nextIndex = 0
    private var started = false
    /// Whether the handshake failed (every later call throws).
    public private(set) var isFailed = false
    /// Whether the session was returned.
    public private(set) var isComplete = false

    /// Creates an initiator using `networkKey` as PSK.
    /// - Parameters:
    ///   - identity: this node.
    ///   - networkKey: the key to use: normally ``KeyRing/current``. Responders accept every installed
    ///     key, so during a rotation this always works; a caller that still fails (e.g. a peer that
    ///     skipped a rotation step) may retry once with each other key of its ring.
    ///   - trust: the policy the responder must satisfy.
    ///   - deadline: monotonic ns by which the handshake must finish.
    ///   - localIndex: this session's datagram receiver index (random by default).
    ///   - streamRekeyInterval: see ``StreamCipher/rekeyInterval``.
    ///   - datagramLimits: see ``DatagramLimits``.
    public convenience init(
        initiator identity: NodeIdentity,
        networkKey: NetworkKey,
        trust: TrustPolicy,
        deadline: UInt64,
        localIndex: UInt32 = Sodium.randomUInt32(),
        streamRekeyInterval: UInt64 = StreamCipher.defaultRekeyInterval,
        datagramLimits: DatagramLimits = .standard
    ) {
        self.init(
            role: .initiator,
            identity: identity,
            keys: [networkKey],
            trust: trust,
            deadline: deadline,
            localIndex: localIndex,
            streamRekeyInterval: streamRekeyInterval,
            datagramLimits: datagramLimits,
            ephemeral: nil
        )
    }

    /// Creates a responder accepting any key of `keyRing`.
    /// - Parameters:
    ///   - identity: this node.
    ///   - keyRing: the installed network keys.
    ///   - trust: the policy the initiator must satisfy.
    ///   - deadline: monotonic ns by which the handshake must finish.
    ///   - localIndex: this session's datagram receiver index (random by default).
    ///   - streamRekeyInterval: see ``StreamCipher/rekeyInterval``.
    ///   - datagramLimits: see ``DatagramLimits``.
    public convenience init(
        responder identity: NodeIdentity,
        keyRing: KeyRing,
        trust: TrustPolicy,
        deadline: UInt64,
        localIndex: UInt32 = Sodium.randomUInt32(),
        streamRekeyInterval: UInt64 = StreamCipher.defaultRekeyInterval,
        datagramLimits: DatagramLimits = .standard
    ) {
        self.init(
            role: .responder,
            identity: identity,
            keys: keyRing.keys,
            trust: trust,
            deadline: deadline,
            localIndex: localIndex,
            streamRekeyInterval: streamRekeyInterval,
            datagramLimits: datagramLimits,
            ephemeral: nil
        )
    }

    /// Full initialiser; `ephemeral` injects the ephemeral key (fuzzing and tests only).
    init(
        role: Role,
        identity: NodeIdentity,
        keys: [NetworkKey],
        trust: TrustPolicy,
        deadline: UInt64,
        localIndex: UInt32,
        streamRekeyInterval: UInt64,
        datagramLimits: DatagramLimits,
        ephemeral: X25519KeyPair?
    ) {
        self.role = role
        self.identity = identity
        self.keys = keys
        self.trust = trust
        self.deadline = deadline
        self.localIndex = localIndex
        self.streamRekeyInterval = streamRekeyInterval
        self.datagramLimits = datagramLimits
        self.ephemeral = ephemeral
    }

    /// Throws ``CryptoError/Code/timeout`` (and fails the handshake) once `now` passes the deadline.
    /// - Parameter now: monotonic time in ns.
    public func checkDeadline(now: UInt64) throws {
        if now > deadline && !isComplete {
            isFailed = true
            throw CryptoError(.timeout, "handshake did not complete before its deadline")
        }
    }

    /// Initiator: produces framed message 1. Responder: returns no bytes.
    /// - Returns: bytes to write.
    /// - Throws: ``CryptoError/Code/invalidState`` if called twice.
    public func start() throws -> [UInt8] {
        guard !started, !isFailed else { throw CryptoError(.invalidState, "handshake already started") }
        started = true
        guard role == .initiator else { return [] }
        return try failing {
            guard let name = LatticeHandshake.parsedName, let key = keys.first else {
                throw CryptoError(.invalidState, "no network key")
            }
            let state = try NoiseHandshakeState(
                protocolName: name,
                initiator: true,
                prologue: LatticeHandshake.prologue,
                localStatic: identity.staticKey,
                localEphemeral: ephemeral,
                psks: [key.secret]
            )
            noise = state
            networkKeyID = key.id
            nextIndex = 1
            return try FrameDecoder.frame(state.writeMessage(payload: []))
        }
    }

    /// Feeds bytes read from the socket.
    /// - Parameters:
    ///   - bytes: received bytes (any split).
    ///   - now: monotonic time in ns.
    /// - Returns: bytes to send, and the session once complete.
    /// - Throws: ``CryptoError`` — ``CryptoError/Code/wrongNetworkKey`` (stranger at msg 1),
    ///   ``CryptoError/Code/malformedMessage``, ``CryptoError/Code/authenticationFailed``,
    ///   ``CryptoError/Code/identityInvalid``, ``CryptoError/Code/identityRefused``,
    ///   ``CryptoError/Code/timeout``. After an error the driver is dead; close the connection.
    public func receive(_ bytes: some Sequence<UInt8>, now: UInt64) throws -> HandshakeOutput {
        guard !isFailed else { throw CryptoError(.invalidState, "handshake already failed") }
        guard !isComplete else { throw CryptoError(.invalidState, "handshake already complete") }
        try checkDeadline(now: now)
        if !started {
            guard role == .responder else { throw CryptoError(.invalidState, "initiator must call start() first") }
            started = true
        }
        return try failing {
            decoder.append(bytes)
            var outbound: [UInt8] = []
            while !isComplete, let announced = decoder.nextFrameLength {
                let expectedIndex = role == .initiator ? (nextIndex == 1 ? 1 : -1) : (nextIndex == 0 ? 0 : 2)
                guard expectedIndex >= 0, nextIndex == expectedIndex else {
                    throw CryptoError(.malformedMessage, "unexpected handshake bytes")
                }
                guard announced == LatticeHandshake.messageLengths[expectedIndex] else {
                    throw CryptoError(
                        .malformedMessage,
                        "handshake message \(expectedIndex + 1) has \(announced) bytes, expected \(LatticeHandshake.messageLengths[expectedIndex])"
                    )
                }
                guard let frame = decoder.nextFrame() else { break }
                if let out = try process(frame, index: expectedIndex) { outbound += out }
            }
            guard isComplete, let state = noise, let peer = peerID, let keyID = networkKeyID else {
                if decoder.bufferedByteCount > 2 + 65_535 { throw CryptoError(.malformedMessage, "too many bytes") }
                return HandshakeOutput(outbound: outbound, session: nil, remainingBytes: [])
            }
            let (send, receive) = try state.split()
            let (udpSend, udpReceive) = try state.deriveKeys(label: DatagramCipher.keyLabel)
            let session = SecureSession(
                peer: peer,
                isInitiator: role == .initiator,
                handshakeHash: state.handshakeHash,
                networkKeyID: keyID,
                stream: StreamCipher(send: send, receive: receive, rekeyInterval: streamRekeyInterval),
                datagrams: try DatagramCipher(
                    sendKey: udpSend,
                    receiveKey: udpReceive,
                    localIndex: localIndex,
                    remoteIndex: remoteIndex,
                    createdAt: now,
                    limits: datagramLimits
                )
            )
            noise = nil
            return HandshakeOutput(outbound: outbound, session: session, remainingBytes: decoder.takeRemainingBytes())
        }
    }

    private var peerID: NodeID?
    private var remoteIndex: UInt32 = 0

    private func process(_ frame: [UInt8], index: Int) throws -> [UInt8]? {
        switch index {
        case 0:
            try acceptMessage1(frame)
            guard let state = noise else { throw CryptoError(.invalidState, "no handshake state") }
            let message2 = try state.writeMessage(payloadBoundTo: identityPayload)
            nextIndex = 2
            return try FrameDecoder.frame(message2)
        case 1:
            guard let state = noise else { throw CryptoError(.invalidState, "no handshake state") }
            let payload = try state.readMessage(frame)
            try verifyIdentity(payload, state: state)
            let message3 = try state.writeMessage(payloadBoundTo: identityPayload)
            nextIndex = 3
            isComplete = true
            return try FrameDecoder.frame(message3)
        default:
            guard let state = noise else { throw CryptoError(.invalidState, "no handshake state") }
            let payload = try state.readMessage(frame)
            try verifyIdentity(payload, state: state)
            nextIndex = 3
            isComplete = true
            return nil
        }
    }

    /// Tries message 1 under each installed key: symmetric crypto only (HKDF + one AEAD per key).
    private func acceptMessage1(_ frame: [UInt8]) throws {
        guard let name = LatticeHandshake.parsedName else { throw CryptoError(.invalidState, "protocol name") }
        for key in keys {
            let state = try NoiseHandshakeState(
                protocolName: name,
                initiator: false,
                prologue: LatticeHandshake.prologue,
                localStatic: identity.staticKey,
                localEphemeral: ephemeral,
                psks: [key.secret]
            )
            do {
                let payload = try state.readMessage(frame)
                guard payload.isEmpty else { throw CryptoError(.malformedMessage, "message 1 payload must be empty") }
                noise = state
                networkKeyID = key.id
                return
            } catch let error as CryptoError where error.code == .authenticationFailed {
                continue
            }
        }
        throw CryptoError(
            .wrongNetworkKey,
            "handshake message 1 did not authenticate under any installed network key (wrong network key or not a Lattice peer); rejected before any key agreement, nothing parsed"
        )
    }

    private func identityPayload(hash: [UInt8]) throws -> [UInt8] {
        var payload: [UInt8] = [LatticeHandshake.identityPayloadVersion]
        withUnsafeBytes(of: localIndex.littleEndian) { payload += $0 }
        payload += identity.nodeID.publicKey
        payload += try identity.sign(LatticeHandshake.signatureContext + hash)
        return payload
    }

    private func verifyIdentity(_ payload: [UInt8], state: NoiseHandshakeState) throws {
        guard payload.count == LatticeHandshake.identityPayloadLength,
            payload[0] == LatticeHandshake.identityPayloadVersion
        else {
            throw CryptoError(.identityInvalid, "identity payload has a wrong size or version")
        }
        let index = UInt32(payload[1]) | UInt32(payload[2]) << 8 | UInt32(payload[3]) << 16 | UInt32(payload[4]) << 24
        let peer: NodeID
        do { peer = try NodeID(publicKey: Array(payload[5..<37])) } catch {
            throw CryptoError(.identityInvalid, "identity payload carries an invalid Ed25519 key")
        }
        guard let remoteStatic = state.remoteStaticKey, constantTimeEqual(peer.curve25519PublicKey, remoteStatic) else {
            throw CryptoError(
                .identityInvalid,
                "peer's Noise static key does not belong to node \(peer.shortDescription)"
            )
        }
        let message = LatticeHandshake.signatureContext + state.hashBeforeLastPayload
        guard NodeIdentity.verify(signature: Array(payload[37..<101]), message: message, signer: peer) else {
            throw CryptoError(.identityInvalid, "identity signature of node \(peer.shortDescription) does not verify")
        }
        if case .refused(let reason) = trust.decide(peer) {
            throw CryptoError(.identityRefused, "node \(peer) refused: \(reason)")
        }
        peerID = peer
        remoteIndex = index
    }

    private func failing<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch {
            isFailed = true
            noise = nil
            throw error
        }
    }
}
