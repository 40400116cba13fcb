import LatticeCrypto
import LatticeSync

/// One TCP connection's bytes, sans I/O: the XXpsk0 handshake, then sync messages inside Noise
/// transport frames. A message larger than one frame is split: every frame's plaintext starts
/// with a flags byte (bit 0: more fragments follow), and a reassembled message is capped at
/// `Message.maxSize` before any allocation beyond it.
final class SecureChannel {
    enum State {
        case handshaking(HandshakeDriver)
        case open(SecureSession)
        case failed
    }

    /// What the connection produced from received bytes.
    enum Output {
        /// The handshake finished: the peer is authenticated.
        case established(SecureSession)
        /// A complete sync message.
        case message([UInt8])
    }

    private(set) var state: State
    private var decoder = FrameDecoder()
    private var partial: [UInt8] = []
    static let fragmentPayload = StreamCipher.maxPlaintextLength - 1

    init(driver: HandshakeDriver) { state = .handshaking(driver) }

    /// The first handshake message (initiator only).
    func start() throws -> [UInt8] {
        guard case .handshaking(let d) = state else { return [] }
        return try d.start()
    }

    /// Feeds received bytes; returns bytes to send and what completed.
    func receive(_ bytes: [UInt8], now: UInt64) throws -> (send: [UInt8], outputs: [Output]) {
        var send: [UInt8] = []
        var outputs: [Output] = []
        var input = bytes
        if case .handshaking(let driver) = state {
            let out: HandshakeOutput
            do { out = try driver.receive(input, now: now) } catch {
                state = .failed
                throw error
            }
            send += out.outbound
            guard let session = out.session else { return (send, outputs) }
            state = .open(session)
            outputs.append(.established(session))
            input = out.remainingBytes
        }
        guard case .open(let session) = state else { return (send, outputs) }
        decoder.append(input)
        while let frame = decoder.nextFrame() {
            let plain: [UInt8]
            do { plain = try session.stream.open(frame) } catch {
                state = .failed
                throw error
            }
            guard let flags = plain.first, flags & ~1 == 0 else {
                state = .failed
                throw ChannelError("a frame has invalid flags")
            }
            guard partial.count + plain.count - 1 <= Message.maxSize else {
                state = .failed
                throw ChannelError("a message exceeds \(Message.maxSize) bytes")
            }
            partial += plain[1...]
            if flags & 1 == 0 {
                outputs.append(.message(partial))
                partial = []
            }
        }
        if decoder.bufferedByteCount > FrameDecoder.maxFrameLength + 2 {
            state = .failed
            throw ChannelError("oversized frame")
        }
        return (send, outputs)
    }

    /// True when the connection holds the start of a frame, or fragments of a message, that
    /// never completed: if it ends now, what the peer sent was cut short.
    var endsMidFrame: Bool {
        guard case .open = state else { return false }
        return decoder.bufferedByteCount > 0 || !partial.isEmpty
    }

    /// Seals one message into as many frames as it needs.
    func seal(_ message: [UInt8]) throws -> [UInt8] {
        guard case .open(let session) = state else { throw ChannelError("the channel is not open") }
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 19 * (1 + message.count / Self.fragmentPayload))
        var offset = 0
        repeat {
            let end = min(message.count, offset + Self.fragmentPayload)
            var plain: [UInt8] = [end < message.count ? 1 : 0]
            plain += message[offset..<end]
            out += try session.stream.seal(plain)
            offset = end
        } while offset < message.count
        return out
    }
}

/// A connection-level protocol failure.
struct ChannelError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
