/// Splits a TCP byte stream into frames with a 2-byte big-endian length prefix (handshake messages and
/// transport messages both use it). The length is checked before any buffering beyond 65,535 bytes.
public struct FrameDecoder: Sendable {
    /// The largest frame body.
    public static let maxFrameLength = 65_535
    private var buffer: [UInt8] = []
    private var start = 0

    /// Creates an empty decoder.
    public init() {}

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Appends bytes read from the socket.
    /// - Parameter bytes: the bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The length announced by the next frame's prefix, once its 2 bytes have arrived.
    public var nextFrameLength: Int? {
        guard buffer.count - start >= 2 else { return nil }
        return Int(buffer[start]) << 8 | Int(buffer[start + 1])
    }

    /// Returns the next complete frame body, or `nil` if more bytes are needed.
    public mutating func nextFrame() -> [UInt8]? {
        guard buffer.count - start >= 2 else { return nil }
        let length = Int(buffer[start]) << 8 | Int(buffer[start + 1])
        guard buffer.count - start - 2 >= length else { return nil }
        let frame = Array(buffer[(start + 2)..<(start + 2 + length)])
        start += 2 + length
        if start > 65_536 || start == buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        return frame
    }

    /// Removes and returns all bytes not yet consumed as frames.
    public mutating func takeRemainingBytes() -> [UInt8] {
        let rest = Array(buffer[start...])
        buffer.removeAll()
        start = 0
        return rest
    }

    /// Prefixes `body` with its 2-byte big-endian length.
    /// - Parameter body: at most 65,535 bytes.
    /// - Returns: the frame.
    /// - Throws: ``CryptoError/Code/invalidArgument`` for a longer body.
    public static func frame(_ body: [UInt8]) throws -> [UInt8] {
        guard body.count <= maxFrameLength else {
            throw CryptoError(.invalidArgument, "frame of \(body.count) bytes exceeds 65535")
        }
        return [UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }
}
