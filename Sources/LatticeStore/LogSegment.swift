/// The 32-byte header at the start of every log segment file (see `Docs/STORE.md`):
///
/// ```
/// offset  size  field
///      0     8  magic          "LTCLOG\r\n" (4C 54 43 4C 4F 47 0D 0A)
///      8     2  version        u16 LE, 1
///     10     2  flags          u16 LE; bit 0 = follows a gap left by repair
///     12     4  reserved       0
///     16     8  firstSequence  u64 LE, the sequence of the first record in this file
///     24     4  reserved       0
///     28     4  crc32c         u32 LE over bytes [0, 28)
/// ```
public struct SegmentHeader: Sendable, Equatable {
    /// The header's size in bytes; the first record starts here.
    public static let size = 32
    /// The magic bytes.
    public static let magic: [UInt8] = [0x4C, 0x54, 0x43, 0x4C, 0x4F, 0x47, 0x0D, 0x0A]
    /// The format version this code writes and reads.
    public static let version: UInt16 = 1
    /// Flag: a gap in sequence numbers before this segment is expected (repair lost records there).
    public static let followsGapFlag: UInt16 = 1

    /// The sequence number of the file's first record (or of the next record, when empty).
    public var firstSequence: UInt64
    /// The flag bits.
    public var flags: UInt16

    /// Creates a header.
    /// - Parameters:
    ///   - firstSequence: the first record's sequence number.
    ///   - flags: flag bits, 0 normally.
    public init(firstSequence: UInt64, flags: UInt16 = 0) {
        self.firstSequence = firstSequence
        self.flags = flags
    }

    /// The 32 header bytes.
    public var encoded: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.replaceSubrange(0..<8, with: Self.magic)
        bytes.withUnsafeMutableBytes { p in
            p.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt16.self)
            p.storeBytes(of: flags.littleEndian, toByteOffset: 10, as: UInt16.self)
            p.storeBytes(of: firstSequence.littleEndian, toByteOffset: 16, as: UInt64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<28]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
        }
        return bytes
    }

    /// Decodes and checks a header.
    /// - Parameter bytes: at least the first 32 bytes of a file (fewer is reported as a problem).
    /// - Returns: the header, or a description of what is wrong.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<SegmentHeader, HeaderProblem> {
        guard bytes.count >= size else {
            return .failure(HeaderProblem("segment header truncated (\(bytes.count) bytes)"))
        }
        guard bytes.prefix(8).elementsEqual(magic) else { return .failure(HeaderProblem("bad segment magic")) }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<28]))
        guard stored == computed else { return .failure(HeaderProblem("segment header checksum mismatch")) }
        let version = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        guard version == Self.version else {
            return .failure(HeaderProblem("unsupported segment format version \(version)"))
        }
        return .success(
            SegmentHeader(
                firstSequence: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                flags: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
            )
        )
    }

    /// Why a segment header is not valid.
    public struct HeaderProblem: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong.
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

/// Segment file naming: `log/<first sequence, 20 decimal digits>.seg`.
enum SegmentName {
    static let suffix = ".seg"

    /// `00000000000000000001.seg` for sequence 1.
    static func name(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The first sequence encoded in a segment file name, or nil if `name` is not one.
    static func parse(_ name: String) -> UInt64? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }
}

/// Reads frames from a segment file through a reusable buffer, in chunks, with `pread`.
///
/// The buffer grows only as far as one maximal frame needs; a length field is checked against
/// ``RecordFrame/maxPayload`` before any allocation it would imply.
struct SegmentReader: ~Copyable {
    let file: FileHandle
    let fileSize: Int64
    private var buffer: UnsafeMutableRawBufferPointer
    private var bufferOffset: Int64 = 0
    private var bufferCount: Int = 0

    init(file: FileHandle, fileSize: Int64, chunk: Int = 1 << 20) {
        self.file = file
        self.fileSize = fileSize
        buffer = .allocate(byteCount: max(chunk, 4096), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The bytes from `offset` on: at least `minimum` of them unless the file ends first.
    mutating func window(at offset: Int64, minimum: Int) throws -> UnsafeRawBufferPointer {
        let wanted = Int(min(Int64(minimum), max(0, fileSize - offset)))
        var end = bufferOffset + Int64(bufferCount)
        if offset >= bufferOffset && offset <= end && end - offset >= Int64(wanted) {
            let start = Int(offset - bufferOffset)
            return UnsafeRawBufferPointer(rebasing: buffer[start..<bufferCount])
        }
        if wanted > buffer.count {
            var capacity = buffer.count
            while capacity < wanted { capacity *= 2 }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
            buffer.deallocate()
            buffer = bigger
            bufferCount = 0
            end = bufferOffset
        }
        // Keep the overlap with the old window, read the rest.
        var kept = 0
        if offset >= bufferOffset && offset < end {
            let start = Int(offset - bufferOffset)
            kept = bufferCount - start
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: kept)
        }
        bufferOffset = offset
        let readCount = Int(min(Int64(buffer.count - kept), max(0, fileSize - offset - Int64(kept))))
        let n = try file.pread(
            into: UnsafeMutableRawBufferPointer(rebasing: buffer[kept..<(kept + readCount)]),
            at: offset + Int64(kept)
        )
        bufferCount = kept + n
        return UnsafeRawBufferPointer(rebasing: buffer[0..<bufferCount])
    }

    /// One step of a scan.
    enum Step {
        /// A valid frame; `payload` is valid until the next call on the reader.
        case record(RecordFrame.Header, payload: UnsafeRawBufferPointer)
        /// The file ends exactly at `offset`.
        case end
        /// The bytes at the offset are not a valid frame.
        case invalid(RecordFrame.Problem)
    }

    /// Validates the frame at `offset`.
    mutating func frame(at offset: Int64, expectedSequence: UInt64?) throws -> Step {
        if offset >= fileSize { return .end }
        var bytes = try window(at: offset, minimum: RecordFrame.headerSize)
        if bytes.count >= RecordFrame.headerSize {
            let length = RecordFrame.header(bytes).length
            if length <= RecordFrame.maxPayload && bytes.count < RecordFrame.headerSize + length {
                bytes = try window(at: offset, minimum: RecordFrame.headerSize + length)
            }
        }
        switch RecordFrame.validate(bytes, expectedSequence: expectedSequence) {
        case .success(let h):
            let payload = UnsafeRawBufferPointer(
                rebasing: bytes[RecordFrame.headerSize..<(RecordFrame.headerSize + h.length)]
            )
            return .record(h, payload: payload)
        case .failure(let problem):
            return .invalid(problem)
        }
    }

    /// Searches, byte by byte after `offset`, for any valid frame with a sequence of at least
    /// `minimumSequence` (and plausibly close to it). Used to tell a torn tail (nothing valid
    /// follows) from damage in the middle, and by repair to resynchronise after damage.
    /// - Returns: the offset and header of the first such frame, or nil.
    mutating func findFrame(after offset: Int64, minimumSequence: UInt64) throws -> (Int64, RecordFrame.Header)? {
        var p = offset + 1
        let plausibleSpan = UInt64(fileSize / Int64(RecordFrame.headerSize)) + 1
        while p + Int64(RecordFrame.headerSize) <= fileSize {
            let bytes = try window(at: p, minimum: RecordFrame.headerSize)
            let h = RecordFrame.header(bytes)
            let remaining = fileSize - p - Int64(RecordFrame.headerSize)
            if h.type != 0, h.length <= RecordFrame.maxPayload, Int64(h.length) <= remaining,
                h.sequence >= minimumSequence, h.sequence - minimumSequence <= plausibleSpan
            {
                if case .record(let found, _) = try frame(at: p, expectedSequence: nil) { return (p, found) }
            }
            p += 1
        }
        return nil
    }
}
