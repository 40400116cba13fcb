/// The on-disk frame of one log record (see `Docs/STORE.md`):
///
/// ```
/// offset  size  field
///      0     4  length    payload byte count, u32 little-endian, ≤ maxPayload
///      4     1  type      record type chosen by the caller, 1...255 (0 is never valid)
///      5     4  crc32c    u32 LE, CRC-32C of bytes [0, 5) followed by bytes [9, 17 + length)
///      9     8  sequence  u64 LE, this record's sequence number
///     17     n  payload   opaque bytes
/// ```
///
/// The checksum covers the length, type, sequence and payload, so a flipped bit anywhere except in
/// the checksum itself is caught, and a valid frame copied to the wrong place fails the sequence
/// check.
public enum RecordFrame {
    /// Bytes before the payload.
    public static let headerSize = 17
    /// The format's hard limit on a payload: 16 MiB. A larger length field is damage.
    public static let maxPayload = 16 << 20

    /// The checksum of a frame given its fields.
    /// - Parameters:
    ///   - length: the payload length.
    ///   - type: the record type.
    ///   - sequence: the sequence number.
    ///   - payload: the payload bytes.
    /// - Returns: the CRC-32C stored at offset 5.
    @inlinable
    public static func checksum(length: UInt32, type: UInt8, sequence: UInt64, payload: UnsafeRawBufferPointer)
        -> UInt32
    {
        withUnsafeTemporaryAllocation(byteCount: 13, alignment: 8) { scratch in
            scratch.storeBytes(of: length.littleEndian, toByteOffset: 0, as: UInt32.self)
            scratch[4] = type
            scratch.storeBytes(of: sequence.littleEndian, toByteOffset: 5, as: UInt64.self)
            let head = CRC32C.checksum(UnsafeRawBufferPointer(scratch))
            return CRC32C.checksum(payload, continuing: head)
        }
    }

    /// Writes a complete frame at `destination`, which must have room for `headerSize + payload.count`.
    /// - Parameters:
    ///   - destination: where the frame goes.
    ///   - type: the record type (1...255).
    ///   - sequence: the sequence number.
    ///   - payload: the payload bytes.
    public static func encode(
        into destination: UnsafeMutableRawPointer,
        type: UInt8,
        sequence: UInt64,
        payload: UnsafeRawBufferPointer
    ) {
        let length = UInt32(payload.count)
        let crc = checksum(length: length, type: type, sequence: sequence, payload: payload)
        destination.storeBytes(of: length.littleEndian, toByteOffset: 0, as: UInt32.self)
        destination.storeBytes(of: type, toByteOffset: 4, as: UInt8.self)
        destination.storeBytes(of: crc.littleEndian, toByteOffset: 5, as: UInt32.self)
        destination.storeBytes(of: sequence.littleEndian, toByteOffset: 9, as: UInt64.self)
        if payload.count > 0 {
            (destination + headerSize).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
    }

    /// Encodes a frame into a new array (tests, fuzzing, repair; not the hot path).
    /// - Parameters:
    ///   - type: the record type.
    ///   - sequence: the sequence number.
    ///   - payload: the payload bytes.
    /// - Returns: the frame bytes.
    public static func encode(type: UInt8, sequence: UInt64, payload: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: headerSize + payload.count) { buffer, count in
            payload.withUnsafeBytes {
                encode(into: UnsafeMutableRawPointer(buffer.baseAddress!), type: type, sequence: sequence, payload: $0)
            }
            count = headerSize + payload.count
        }
    }

    /// Why bytes at some offset are not a valid frame.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// Fewer than `headerSize` bytes remain.
        case truncatedHeader(available: Int)
        /// The length field exceeds the format limit.
        case lengthTooLarge(Int)
        /// The payload runs past the end of the file.
        case truncatedPayload(length: Int, available: Int)
        /// The type byte is 0.
        case zeroType
        /// The stored checksum does not match the bytes.
        case checksumMismatch(stored: UInt32, computed: UInt32)
        /// The checksum is valid but the sequence number is not the one expected here.
        case unexpectedSequence(found: UInt64, expected: UInt64)

        public var description: String {
            switch self {
            case .truncatedHeader(let n): "truncated frame header (\(n) of \(headerSize) bytes)"
            case .lengthTooLarge(let n): "length \(n) exceeds the \(maxPayload)-byte limit"
            case .truncatedPayload(let length, let available):
                "truncated payload (\(available) of \(length) bytes)"
            case .zeroType: "record type 0"
            case .checksumMismatch(let stored, let computed):
                "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
            case .unexpectedSequence(let found, let expected):
                "sequence \(found) where \(expected) was expected"
            }
        }

        private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
    }

    /// A decoded frame header.
    public struct Header: Sendable, Equatable {
        /// The payload length.
        public var length: Int
        /// The record type.
        public var type: UInt8
        /// The stored checksum.
        public var crc: UInt32
        /// The sequence number.
        public var sequence: UInt64
    }

    /// Reads a frame header from at least `headerSize` bytes. Does not check anything.
    /// - Parameter bytes: the bytes starting at the frame.
    /// - Returns: the fields.
    public static func header(_ bytes: UnsafeRawBufferPointer) -> Header {
        Header(
            length: Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))),
            type: bytes[4],
            crc: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 5, as: UInt32.self)),
            sequence: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 9, as: UInt64.self))
        )
    }

    /// Validates the frame at the start of `bytes` (which may hold more frames after it).
    /// - Parameters:
    ///   - bytes: the bytes from the frame's first byte to the end of the available data.
    ///   - expectedSequence: the sequence the frame must carry, or nil to accept any.
    /// - Returns: the header, or the problem with the bytes.
    public static func validate(_ bytes: UnsafeRawBufferPointer, expectedSequence: UInt64?) -> Result<Header, Problem> {
        guard bytes.count >= headerSize else { return .failure(.truncatedHeader(available: bytes.count)) }
        let h = header(bytes)
        guard h.length <= maxPayload else { return .failure(.lengthTooLarge(h.length)) }
        guard bytes.count - headerSize >= h.length else {
            return .failure(.truncatedPayload(length: h.length, available: bytes.count - headerSize))
        }
        guard h.type != 0 else { return .failure(.zeroType) }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + h.length)])
        let computed = checksum(length: UInt32(h.length), type: h.type, sequence: h.sequence, payload: payload)
        guard computed == h.crc else {
            return .failure(.checksumMismatch(stored: h.crc, computed: computed))
        }
        if let expectedSequence, h.sequence != expectedSequence {
            return .failure(.unexpectedSequence(found: h.sequence, expected: expectedSequence))
        }
        return .success(h)
    }
}
