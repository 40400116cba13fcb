/// When a UDP session must be replaced (WireGuard's constants by default).
public struct DatagramLimits: Sendable, Equatable {
    /// After this many sent datagrams ``DatagramCipher/needsRehandshake(now:)`` turns true.
    public var rekeyAfterMessages: UInt64
    /// No datagram is sealed or accepted with a counter at or above this.
    public var rejectAfterMessages: UInt64
    /// Session age (ns) after which ``DatagramCipher/needsRehandshake(now:)`` turns true.
    public var rekeyAfterNanoseconds: UInt64
    /// Session age (ns) after which nothing is sealed or accepted.
    public var rejectAfterNanoseconds: UInt64

    /// WireGuard's limits: rekey after 2^60 messages or 120 s, reject after 2^64 − 2^13 − 1 or 180 s.
    public static let standard = DatagramLimits(
        rekeyAfterMessages: 1 << 60,
        rejectAfterMessages: UInt64.max - (1 << 13),
        rekeyAfterNanoseconds: 120_000_000_000,
        rejectAfterNanoseconds: 180_000_000_000
    )

    /// Creates limits.
    public init(
        rekeyAfterMessages: UInt64,
        rejectAfterMessages: UInt64,
        rekeyAfterNanoseconds: UInt64,
        rejectAfterNanoseconds: UInt64
    ) {
        self.rekeyAfterMessages = rekeyAfterMessages
        self.rejectAfterMessages = rejectAfterMessages
        self.rekeyAfterNanoseconds = rekeyAfterNanoseconds
        self.rejectAfterNanoseconds = rejectAfterNanoseconds
    }
}

/// Encrypted UDP datagrams for one session.
///
/// Layout: `type (1) = 0x04 || version (1) = 0x01 || receiver index (4, LE) || counter (8, LE) ||
/// ciphertext || tag (16)`. The 14-byte header is the AEAD associated data; the nonce is 4 zero bytes
/// followed by the counter (LE). Keys are `HKDF(ck, "lattice/udp/v1" || h, 2)` from the handshake,
/// one per direction, independent of the TCP keys. The receive side checks the counter against a
/// ``ReplayWindow`` before decrypting and marks it only after the tag verified.
/// Not thread-safe: one event loop owns it.
public final class DatagramCipher {
    /// Message type byte of a transport datagram.
    public static let messageType: UInt8 = 0x04
    /// Wire format version.
    public static let version: UInt8 = 0x01
    /// Header bytes.
    public static let headerLength = 14
    /// Tag bytes.
    public static let tagLength = 16
    /// Header plus tag.
    public static let overhead = headerLength + tagLength
    /// Largest datagram accepted (the IPv4 UDP payload limit).
    public static let maxDatagramLength = 65_507
    /// The HKDF label for datagram keys.
    public static let keyLabel = "lattice/udp/v1"

    /// The index peers put in datagrams addressed to this session.
    public let localIndex: UInt32
    /// The index this side puts in datagrams to the peer.
    public let remoteIndex: UInt32
    /// The limits in force.
    public let limits: DatagramLimits
    private let sendKey: SecretKey
    private let receiveKey: SecretKey
    private var sendCounter: UInt64 = 0
    private var window: ReplayWindow
    private let createdAt: UInt64

    /// Creates the cipher.
    /// - Parameters:
    ///   - sendKey: 32-byte key for this side's datagrams.
    ///   - receiveKey: 32-byte key for the peer's datagrams.
    ///   - localIndex: this session's receiver index.
    ///   - remoteIndex: the peer's receiver index.
    ///   - createdAt: monotonic time (ns) the handshake completed.
    ///   - limits: counter and age limits.
    /// - Throws: ``CryptoError/Code/invalidArgument`` for wrong key sizes.
    public init(
        sendKey: SecretKey,
        receiveKey: SecretKey,
        localIndex: UInt32,
        remoteIndex: UInt32,
        createdAt: UInt64,
        limits: DatagramLimits = .standard
    ) throws {
        guard sendKey.count == 32, receiveKey.count == 32 else {
            throw CryptoError(.invalidArgument, "datagram keys must be 32 bytes")
        }
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.createdAt = createdAt
        self.limits = limits
        self.window = ReplayWindow(limit: limits.rejectAfterMessages)
    }

    /// Datagrams sealed so far (the next counter).
    public var sentCount: UInt64 { sendCounter }

    /// Whether a new handshake should be started: near the counter limit or the age limit.
    /// - Parameter now: monotonic time in ns.
    public func needsRehandshake(now: UInt64) -> Bool {
        sendCounter >= limits.rekeyAfterMessages || now &- createdAt >= limits.rekeyAfterNanoseconds
    }

    /// Whether the session may no longer be used at all.
    /// - Parameter now: monotonic time in ns.
    public func isExpired(now: UInt64) -> Bool {
        sendCounter >= limits.rejectAfterMessages || now &- createdAt >= limits.rejectAfterNanoseconds
    }

    /// The receiver index of a datagram, for finding its session before decrypting; `nil` if the
    /// datagram is too short, too long or not a transport datagram.
    /// - Parameter datagram: the received bytes.
    public static func receiverIndex(of datagram: UnsafeRawBufferPointer) -> UInt32? {
        guard datagram.count >= overhead, datagram.count <= maxDatagramLength, datagram[0] == messageType,
            datagram[1] == version
        else { return nil }
        return UInt32(littleEndian: datagram.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
    }

    /// Seals in place: `buffer` holds 14 spare bytes, the payload, and at least 16 spare bytes.
    /// - Parameters:
    ///   - buffer: the datagram buffer.
    ///   - payloadLength: payload bytes at offset 14.
    ///   - now: monotonic time in ns.
    /// - Returns: the datagram length.
    /// - Throws: ``CryptoError/Code/sessionExpired`` past the limits, ``CryptoError/Code/invalidArgument``
    ///   for wrong sizes.
    @inline(__always)
    public func sealInPlace(_ buffer: UnsafeMutableRawBufferPointer, payloadLength: Int, now: UInt64) throws -> Int {
        let total = payloadLength + Self.overhead
        guard payloadLength >= 0, total <= Self.maxDatagramLength, buffer.count >= total, let base = buffer.baseAddress
        else {
            throw CryptoError(.invalidArgument, "payload too long or datagram buffer too small")
        }
        guard !isExpired(now: now) else { throw CryptoError(.sessionExpired, "datagram session expired; rehandshake") }
        let counter = sendCounter
        base.storeBytes(of: Self.messageType, as: UInt8.self)
        base.storeBytes(of: Self.version, toByteOffset: 1, as: UInt8.self)
        base.storeBytes(of: remoteIndex.littleEndian, toByteOffset: 2, as: UInt32.self)
        base.storeBytes(of: counter.littleEndian, toByteOffset: 6, as: UInt64.self)
        let payload = base + Self.headerLength
        _ = try ChaChaPoly.seal(
            key: sendKey.rawPointer,
            nonce: counter,
            ad: UnsafeRawBufferPointer(start: base, count: Self.headerLength),
            plaintext: UnsafeRawBufferPointer(start: payload, count: payloadLength),
            out: payload
        )
        sendCounter = counter + 1
        return total
    }

    /// Seals `payload` into `out` (at least `payload.count + 30` bytes). No allocation.
    /// - Returns: the datagram length.
    /// - Throws: as ``sealInPlace(_:payloadLength:now:)``.
    @inline(__always)
    public func seal(
        _ payload: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer,
        now: UInt64
    ) throws -> Int {
        guard out.count >= payload.count + Self.overhead, let base = out.baseAddress else {
            throw CryptoError(.invalidArgument, "datagram buffer too small")
        }
        if let source = payload.baseAddress, payload.count > 0 {
            (base + Self.headerLength).copyMemory(from: source, byteCount: payload.count)
        }
        return try sealInPlace(out, payloadLength: payload.count, now: now)
    }

    /// Seals `payload` into a new datagram.
    /// - Returns: the datagram.
    /// - Throws: as ``sealInPlace(_:payloadLength:now:)``.
    public func seal(_ payload: [UInt8], now: UInt64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: payload.count + Self.overhead)
        let n = try payload.withUnsafeBytes { p in try out.withUnsafeMutableBytes { try seal(p, into: $0, now: now) } }
        out.removeLast(out.count - n)
        return out
    }

    /// Authenticates and decrypts a datagram into `out` (at least `datagram.count - 30` bytes).
    /// Order: size → header → receiver index → replay window check → age → AEAD → mark counter.
    /// - Parameters:
    ///   - datagram: the received bytes.
    ///   - out: the plaintext destination (may not alias `datagram`).
    ///   - now: monotonic time in ns.
    /// - Returns: the payload length.
    /// - Throws: ``CryptoError/Code/malformedMessage``, ``CryptoError/Code/replayed``,
    ///   ``CryptoError/Code/sessionExpired`` or ``CryptoError/Code/authenticationFailed``.
    @inline(__always)
    public func open(
        _ datagram: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer,
        now: UInt64
    ) throws -> Int {
        guard let index = Self.receiverIndex(of: datagram), let base = datagram.baseAddress else {
            throw CryptoError(.malformedMessage, "not a transport datagram (\(datagram.count) bytes)")
        }
        guard index == localIndex else { throw CryptoError(.malformedMessage, "datagram for another session") }
        guard out.count >= datagram.count - Self.overhead else {
            throw CryptoError(.invalidArgument, "plaintext buffer too small")
        }
        let counter = UInt64(littleEndian: datagram.loadUnaligned(fromByteOffset: 6, as: UInt64.self))
        guard window.check(counter) else {
            throw CryptoError(.replayed, "datagram counter \(counter) replayed or too old")
        }
        guard now &- createdAt < limits.rejectAfterNanoseconds else {
            throw CryptoError(.sessionExpired, "datagram session expired; rehandshake")
        }
        let n = try ChaChaPoly.open(
            key: receiveKey.rawPointer,
            nonce: counter,
            ad: UnsafeRawBufferPointer(start: base, count: Self.headerLength),
            ciphertext: UnsafeRawBufferPointer(
                start: base + Self.headerLength,
                count: datagram.count - Self.headerLength
            ),
            out: out.baseAddress ?? UnsafeMutableRawPointer(emptyMutableBytePointer)
        )
        window.mark(counter)
        return n
    }

    /// Authenticates and decrypts a datagram.
    /// - Returns: the payload.
    /// - Throws: as ``open(_:into:now:)``.
    public func open(_ datagram: [UInt8], now: UInt64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(0, datagram.count - Self.overhead))
        let n = try datagram.withUnsafeBytes { d in try out.withUnsafeMutableBytes { try open(d, into: $0, now: now) } }
        out.removeLast(out.count - n)
        return out
    }
}
