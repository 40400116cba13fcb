/// What a scan found in one segment file.
public struct SegmentReport: Sendable, Equatable {
    /// The file's path.
    public var path: String
    /// The first sequence number the file holds (from its header, or its name if the header is bad).
    public var firstSequence: UInt64
    /// The number of valid records before any damage.
    public var records: Int
    /// The file size in bytes.
    public var bytes: Int64
    /// The offset where valid data ends (the file size when clean).
    public var validBytes: Int64
    /// Where and why the file is damaged (not counting a torn tail), or nil.
    public var damage: Damage?
    /// Bytes of a torn tail (a partial final write) at the end of the last segment; 0 when none.
    public var tornTailBytes: Int64

    /// The sequence of the last valid record, or `firstSequence - 1` when there is none.
    public var lastSequence: UInt64 { firstSequence &+ UInt64(records) &- 1 }
}

/// A damaged spot in a file.
public struct Damage: Sendable, Equatable, CustomStringConvertible {
    /// The byte offset of the first bad byte or frame.
    public var offset: Int64
    /// What is wrong there.
    public var reason: String

    public var description: String { "at byte offset \(offset): \(reason)" }
}

/// The result of scanning the `log/` directory.
struct LogScan {
    var segments: [SegmentReport] = []
    var headers: [SegmentHeader?] = []
    /// Leftover `*.tmp` files from an interrupted segment creation (header only, no records).
    var temporaryFiles: [String] = []
    /// Leftover files from an interrupted repair.
    var repairLeftovers: [String] = []
    /// Damage and continuity errors, in file order; each `.corrupt` with path and offset.
    var problems: [StoreError] = []
    /// Sequence ranges missing between segments that repair marked as expected.
    var gaps: [ClosedRange<UInt64>] = []
    /// Indices of segments that need salvage by repair (damaged, or overlapping an earlier one).
    var needsSalvage: Set<Int> = []
    /// Where every `GroupCommitter.seekStride`-th valid record starts, per segment (keyed by its
    /// first sequence): readers after a restart seek there instead of scanning from the start.
    var seekPoints: [UInt64: [(sequence: UInt64, offset: Int64)]] = [:]
}

/// Scanning, verification and repair of log segments. Recovery rules (see `Docs/STORE.md`):
///
/// - every frame of every segment is checked (checksum, length limit, type, sequence);
/// - in the **last** segment, an invalid frame after which no valid frame can be found is a torn
///   tail: open truncates it and reports the byte count;
/// - any other invalid frame, a bad header, a sequence overlap, or a gap not marked by repair is
///   corruption: open refuses with `.corrupt` naming the file and byte offset.
enum Recovery {
    static let repairMarker = ".repair-"
    static let damagedSuffix = ".damaged"

    /// Scans one segment file without modifying it.
    static func scanSegment(path: String, nameSequence: UInt64, isLast: Bool, fs: FileSystem) throws
        -> (SegmentReport, SegmentHeader?)
    {
        var points: [(sequence: UInt64, offset: Int64)] = []
        return try scanSegment(path: path, nameSequence: nameSequence, isLast: isLast, fs: fs, seekPoints: &points)
    }

    /// ``scanSegment(path:nameSequence:isLast:fs:)``, also noting where every
    /// `GroupCommitter.seekStride`-th valid record starts.
    static func scanSegment(
        path: String, nameSequence: UInt64, isLast: Bool, fs: FileSystem, seekPoints: inout [(sequence: UInt64, offset: Int64)]
    ) throws -> (SegmentReport, SegmentHeader?) {
        let file = try fs.open(path, flags: FileSystem.readOnly)
        defer { file.closeIgnoringErrors() }
        let size = try file.size()
        var report = SegmentReport(
            path: path,
            firstSequence: nameSequence,
            records: 0,
            bytes: size,
            validBytes: 0,
            damage: nil,
            tornTailBytes: 0
        )
        var reader = SegmentReader(file: file, fileSize: size)
        let headerBytes = try reader.window(at: 0, minimum: SegmentHeader.size)
        let header: SegmentHeader
        switch SegmentHeader.decode(UnsafeRawBufferPointer(rebasing: headerBytes.prefix(SegmentHeader.size))) {
        case .failure(let problem):
            report.damage = Damage(offset: 0, reason: problem.description)
            return (report, nil)
        case .success(let h):
            header = h
        }
        guard header.firstSequence == nameSequence, header.firstSequence > 0 else {
            report.damage = Damage(
                offset: 16,
                reason: "header first sequence \(header.firstSequence) does not match the file name"
            )
            return (report, header)
        }
        var offset = Int64(SegmentHeader.size)
        var expected = header.firstSequence
        while true {
            switch try reader.frame(at: offset, expectedSequence: expected) {
            case .end:
                report.validBytes = offset
                return (report, header)
            case .record(let h, _):
                if h.sequence % GroupCommitter.seekStride == 0 { seekPoints.append((h.sequence, offset)) }
                report.records += 1
                expected += 1
                offset += Int64(RecordFrame.headerSize + h.length)
            case .invalid(let problem):
                report.validBytes = offset
                if isLast, try reader.findFrame(after: offset, minimumSequence: expected) == nil {
                    report.tornTailBytes = size - offset
                } else {
                    report.damage = Damage(offset: offset, reason: "record \(expected): \(problem)")
                }
                return (report, header)
            }
        }
    }

    /// Scans every segment in `logDirectory` without modifying anything.
    static func scanLog(_ logDirectory: String, fs: FileSystem) throws -> LogScan {
        var scan = LogScan()
        var names: [(String, UInt64)] = []
        for name in try fs.listDirectory(logDirectory) {
            if let seq = SegmentName.parse(name) {
                names.append((name, seq))
            } else if name.hasSuffix(".tmp") {
                scan.temporaryFiles.append(logDirectory + "/" + name)
            } else if name.contains(repairMarker) {
                scan.repairLeftovers.append(logDirectory + "/" + name)
            }
        }
        names.sort { $0.1 < $1.1 }
        for (i, (name, seq)) in names.enumerated() {
            var points: [(sequence: UInt64, offset: Int64)] = []
            let (report, header) = try scanSegment(
                path: logDirectory + "/" + name,
                nameSequence: seq,
                isLast: i == names.count - 1,
                fs: fs,
                seekPoints: &points
            )
            if !points.isEmpty { scan.seekPoints[report.firstSequence] = points }
            scan.segments.append(report)
            scan.headers.append(header)
            if let damage = report.damage {
                scan.needsSalvage.insert(i)
                scan.problems.append(
                    StoreError(
                        .corrupt,
                        "\(report.path) is damaged \(damage)",
                        path: report.path,
                        offset: damage.offset
                    )
                )
            }
        }
        // Continuity between segments.
        for i in scan.segments.indices.dropFirst() {
            let previous = scan.segments[i - 1], current = scan.segments[i]
            let expected = previous.lastSequence &+ 1
            if current.firstSequence < expected {
                scan.needsSalvage.insert(i)
                scan.problems.append(
                    StoreError(
                        .corrupt,
                        "\(current.path) starts at sequence \(current.firstSequence), overlapping \(previous.path) (which ends at \(previous.lastSequence))",
                        path: current.path,
                        offset: 16
                    )
                )
            } else if current.firstSequence > expected {
                let gap = expected...(current.firstSequence - 1)
                if previous.damage == nil, let h = scan.headers[i], h.flags & SegmentHeader.followsGapFlag != 0 {
                    scan.gaps.append(gap)
                } else if previous.damage == nil {
                    scan.problems.append(
                        StoreError(
                            .corrupt,
                            "records \(gap.lowerBound)...\(gap.upperBound) are missing before \(current.path) (a segment file was removed?)",
                            path: current.path,
                            offset: 0
                        )
                    )
                }
            }
        }
        return scan
    }

    /// The records of a damaged segment that still carry a valid checksum, in order, with
    /// sequences in `minimum..<limit`. Resynchronises byte by byte after each bad spot.
    static func salvage(path: String, minimum: UInt64, limit: UInt64, fs: FileSystem) throws
        -> [(sequence: UInt64, type: UInt8, payload: [UInt8])]
    {
        let file = try fs.open(path, flags: FileSystem.readOnly)
        defer { file.closeIgnoringErrors() }
        let size = try file.size()
        var reader = SegmentReader(file: file, fileSize: size)
        var kept: [(sequence: UInt64, type: UInt8, payload: [UInt8])] = []
        var offset = Int64(min(Int64(SegmentHeader.size), size))
        var next = minimum
        while offset < size {
            if case .record(let h, let payload) = try reader.frame(at: offset, expectedSequence: nil),
                h.sequence >= next, h.sequence < limit
            {
                kept.append((h.sequence, h.type, Array(payload)))
                next = h.sequence + 1
                offset += Int64(RecordFrame.headerSize + h.length)
                continue
            }
            guard let (found, h) = try reader.findFrame(after: offset, minimumSequence: next), h.sequence < limit else {
                break
            }
            offset = found
        }
        return kept
    }

    /// Writes a new segment file at `path` holding `records` (contiguous sequences), durably.
    static func writeSegment(
        path: String,
        header: SegmentHeader,
        records: ArraySlice<(sequence: UInt64, type: UInt8, payload: [UInt8])>,
        fs: FileSystem
    ) throws {
        let file = try fs.open(path, flags: FileSystem.createReadWrite | FileSystem.truncateFlag, mode: 0o644)
        defer { file.closeIgnoringErrors() }
        var bytes = header.encoded
        for r in records { bytes += RecordFrame.encode(type: r.type, sequence: r.sequence, payload: r.payload) }
        try bytes.withUnsafeBytes { try file.pwriteAll($0, at: 0) }
        try file.fsync()
    }
}
