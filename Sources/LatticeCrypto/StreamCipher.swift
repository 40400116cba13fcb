/// Encrypted TCP transport: Noise transport messages (ChaChaPoly, 64-bit nonce counter, empty AD),
/// each framed as `length (2, big-endian) || ciphertext || tag (16)` with the whole message ≤ 65,535.
///
/// Both directions call Noise `Rekey()` after every ``rekeyInterval`` messages, at the same message on
/// both sides, so no signalling is needed. ``rekeySending()``/``rekeyReceiving()`` rekey on demand; the
/// application must tell the peer in-band (e.g. a "rekey" control message as the last message under
/// the old key) so that both sides switch at the same message. Not thread-safe: one connection owns it.
public final class StreamCipher {
    /// Tag bytes per message.
    public static let tagLength = 16
    /// Bytes of the length prefix.
    public static let prefixLength = 2
    /// The largest plaintext per message (65,535 − 16).
    public static let maxPlaintextLength = 65_535 - 16
    /// Default number of messages between automatic rekeys.
    public static let defaultRekeyInterval: UInt64 = 1 << 20

    private let sender: CipherState
    private let receiver: CipherState
    /// Messages per direction between automatic rekeys (0 disables automatic rekeying).
    public let rekeyInterval: UInt64

    /// Creates the cipher from the `Split()` of a completed handshake.
    /// - Parameters:
    ///   - send: the cipher state for this side's outgoing messages.
    ///   - receive: the cipher state for incoming messages.
    ///   - rekeyInterval: messages between automatic rekeys (0 = never).
    public init(send: CipherState, receive: CipherState, rekeyInterval: UInt64 = StreamCipher.defaultRekeyInterval) {
        self.sender = send
        self.receiver = receive
        self.rekeyInterval = rekeyInterval
    }

    /// Messages sent so far (the next send nonce).
    public var sentCount: UInt64 { sender.nonce }
    /// Messages received so far (the next receive nonce).
    public var receivedCount: UInt64 { receiver.nonce }

    /// Seals in place: `buffer` holds 2 spare bytes, then `plaintextLength` bytes of plaintext, then at
    /// least 16 spare bytes; on return it holds the complete frame. No allocation.
    /// - Parameters:
    ///   - buffer: the frame buffer.
    ///   - plaintextLength: the plaintext length at offset 2.
    /// - Returns: the frame length (`plaintextLength + 18`).
    /// - Throws: ``CryptoError/Code/invalidArgument`` when sizes are wrong,
    ///   ``CryptoError/Code/nonceExhausted`` when the session must be replaced.
    @inline(__always)
    public func sealFrameInPlace(_ buffer: UnsafeMutableRawBufferPointer, plaintextLength: Int) throws -> Int {
        guard plaintextLength >= 0, plaintextLength <= Self.maxPlaintextLength,
            buffer.count >= plaintextLength + Self.prefixLength + Self.tagLength, let base = buffer.baseAddress
        else { throw CryptoError(.invalidArgument, "plaintext too long or frame buffer too small") }
        let body = UnsafeMutableRawBufferPointer(
            start: base + Self.prefixLength,
            count: plaintextLength + Self.tagLength
        )
        let written = try sender.seal(
            ad: UnsafeRawBufferPointer(start: nil, count: 0),
            plaintext: UnsafeRawBufferPointer(start: base + Self.prefixLength, count: plaintextLength),
            into: body
        )
        base.storeBytes(of: UInt16(written).bigEndian, as: UInt16.self)
        if rekeyInterval != 0 && sender.nonce % rekeyInterval == 0 { try sender.rekey() }
        return written + Self.prefixLength
    }

    /// Seals `plaintext` into `frame` (`plaintext.count + 18` bytes or more). No allocation.
    /// - Returns: the frame length.
    /// - Throws: as ``sealFrameInPlace(_:plaintextLength:)``.
    @inline(__always)
    public func seal(_ plaintext: UnsafeRawBufferPointer, into frame: UnsafeMutableRawBufferPointer) throws -> Int {
        guard plaintext.count <= Self.maxPlaintextLength, frame.count >= plaintext.count + 18,
            let base = frame.baseAddress
        else {
            throw CryptoError(.invalidArgument, "plaintext too long or frame buffer too small")
        }
        if let source = plaintext.baseAddress, plaintext.count > 0 {
            (base + Self.prefixLength).copyMemory(from: source, byteCount: plaintext.count)
        }
        return try sealFrameInPlace(frame, plaintextLength: plaintext.count)
    }

    /// Seals `plaintext` into a new frame.
    /// - Parameter plaintext: at most ``maxPlaintextLength`` bytes.
    /// - Returns: the frame, length prefix included.
    /// - Throws: as ``sealFrameInPlace(_:plaintextLength:)``.
    public func seal(_ plaintext: [UInt8]) throws -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: plaintext.count + Self.prefixLength + Self.tagLength)
        let n = try plaintext.withUnsafeBytes { p in try frame.withUnsafeMutableBytes { try seal(p, into: $0) } }
        frame.removeLast(frame.count - n)
        return frame
    }

    /// Opens a frame body (the bytes after the length prefix) in place; on success the plaintext is at
    /// the start of `body`. A failed open changes nothing (the receive counter does not advance).
    /// - Parameter body: ciphertext and tag.
    /// - Returns: the plaintext length.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` for a tampered or foreign message.
    @inline(__always)
    public func openInPlace(_ body: UnsafeMutableRawBufferPointer) throws -> Int {
        guard body.count >= Self.tagLength, body.count <= 65_535 else {
            throw CryptoError(.malformedMessage, "transport message of \(body.count) bytes is outside 16...65535")
        }
        let n = try receiver.open(
            ad: UnsafeRawBufferPointer(start: nil, count: 0),
            ciphertext: UnsafeRawBufferPointer(body),
            into: body
        )
        if rekeyInterval != 0 && receiver.nonce % rekeyInterval == 0 { try receiver.rekey() }
        return n
    }

    /// Opens a frame body into `out` (at least `body.count - 16` bytes).
    /// - Returns: the plaintext length.
    /// - Throws: as ``openInPlace(_:)``.
    @inline(__always)
    public func open(_ body: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard body.count >= Self.tagLength, body.count <= 65_535 else {
            throw CryptoError(.malformedMessage, "transport message of \(body.count) bytes is outside 16...65535")
        }
        let n = try receiver.open(ad: UnsafeRawBufferPointer(start: nil, count: 0), ciphertext: body, into: out)
        if rekeyInterval != 0 && receiver.nonce % rekeyInterval == 0 { try receiver.rekey() }
        return n
    }

    /// Opens a frame body (as returned by ``FrameDecoder/nextFrame()``).
    /// - Parameter body: ciphertext and tag.
    /// - Returns: the plaintext.
    /// - Throws: as ``openInPlace(_:)``.
    public func open(_ body: [UInt8]) throws -> [UInt8] {
        var copy = body
        let n = try copy.withUnsafeMutableBytes { try openInPlace($0) }
        copy.removeLast(copy.count - n)
        return copy
    }

    /// Rekeys the sending direction now (Noise `Rekey()`); the peer must call ``rekeyReceiving()`` at
    /// the same message.
    /// - Throws: ``CryptoError`` if libsodium fails.
    public func rekeySending() throws { try sender.rekey() }

    /// Rekeys the receiving direction now; see ``rekeySending()``.
    /// - Throws: ``CryptoError`` if libsodium fails.
    public func rekeyReceiving() throws { try receiver.rekey() }
}
