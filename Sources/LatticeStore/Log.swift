/// Tuning of the append-only log.
public struct LogOptions: Sendable {
    /// When appends become durable. Default ``FsyncPolicy/batch``.
    public var fsyncPolicy: FsyncPolicy = .batch
    /// A segment is closed and a new one started when the next record would take it past this
    /// size (a single larger record still gets a segment of its own). Default 64 MiB.
    public var segmentSize: Int = 64 << 20
    /// The largest payload `append` accepts, at most ``RecordFrame/maxPayload`` (16 MiB, the default).
    public var maxRecordSize: Int = RecordFrame.maxPayload

    /// Creates options with the defaults.
    public init() {}
}

/// One record read back from the log.
public struct LogRecord: Sendable, Equatable {
    /// The record's sequence number.
    public var sequence: UInt64
    /// The caller-chosen type byte (1...255).
    public var type: UInt8
    /// The opaque payload.
    public var payload: [UInt8]

    /// Creates a record value.
    public init(sequence: UInt64, type: UInt8, payload: [UInt8]) {
        self.sequence = sequence
        self.type = type
        self.payload = payload
    }
}

/// What `compact(through:)` removed.
public struct CompactionReport: Sendable, Equatable {
    /// The segment files removed.
    public var removedSegments: [String]
    /// Bytes freed.
    public var removedBytes: Int64
    /// The lowest sequence still in the log afterwards.
    public var firstSequence: UInt64
}

/// What the log looked like on open, and what recovery did.
public struct LogOpenReport: Sendable, Equatable {
    /// Segment files found.
    public var segments: Int
    /// Valid records found.
    public var records: Int
    /// The lowest sequence in the log (`lastSequence + 1` when empty).
    public var firstSequence: UInt64
    /// The highest sequence in the log (0 when nothing was ever appended).
    public var lastSequence: UInt64
    /// The file whose torn tail was truncated, if any.
    public var truncatedFile: String?
    /// Bytes of torn tail removed (0 when none).
    public var truncatedBytes: Int64
    /// Leftover temporary files removed (segment headers from an interrupted rotation).
    public var removedTemporaryFiles: [String]
    /// Sequence ranges missing between segments that a past repair marked as lost.
    public var gaps: [ClosedRange<UInt64>]
}

/// The segmented, append-only, group-committed log of one data directory.
///
/// Sequence numbers start at 1 and increase by one per record (a gap can only follow a repair).
/// `append` returns a record's sequence once it is buffered; the record is **acknowledged** only
/// when ``durableSequence`` reaches it, which ``waitDurable(upTo:)``, ``appendDurably(type:payload:)``
/// and the `onDurable` callback observe. A write or sync failure is never acknowledged: it reaches
/// every waiter, and the log then refuses appends until reopened.
public final class Log: Sendable {
    let core: GroupCommitter
    /// The `log/` directory.
    public let directory: String

    init(core: GroupCommitter, directory: String) {
        self.core = core
        self.directory = directory
    }

    deinit { try? core.close() }

    /// Opens (creating if needed) the log in `directory`: recovers, then starts appending.
    ///
    /// Recovery verifies every frame of every segment, truncates a torn tail of the last segment,
    /// removes leftover `*.tmp` files, and refuses corruption anywhere else.
    /// - Parameters:
    ///   - directory: the `log/` directory.
    ///   - options: tuning.
    ///   - syscalls: the system-call table (``Syscalls/system`` outside tests).
    ///   - minimumNextSequence: when the log is empty, the first sequence to assign (a snapshot's
    ///     sequence + 1), so sequence numbers never go backwards.
    /// - Returns: the log and what recovery found.
    /// - Throws: `.corrupt` naming file and offset; `.io`, `.noSpace`… from the file system.
    public static func open(
        directory: String,
        options: LogOptions = LogOptions(),
        syscalls: Syscalls = .system,
        minimumNextSequence: UInt64 = 1
    ) throws -> (Log, LogOpenReport) {
        guard options.maxRecordSize >= 0, options.maxRecordSize <= RecordFrame.maxPayload else {
            throw StoreError(.invalidArgument, "maxRecordSize must be within 0...\(RecordFrame.maxPayload)")
        }
        guard options.segmentSize >= SegmentHeader.size + RecordFrame.headerSize else {
            throw StoreError(.invalidArgument, "segmentSize \(options.segmentSize) is too small")
        }
        let fs = FileSystem(syscalls)
        try fs.makeDirectory(directory)
        let scan = try Recovery.scanLog(directory, fs: fs)
        if let leftover = scan.repairLeftovers.first {
            throw StoreError(.corrupt, "an interrupted repair left \(leftover); run repair again", path: leftover)
        }
        if var problem = scan.problems.first {
            problem.message += "; run repair to keep every valid record and move the damaged file aside"
            throw problem
        }
        var report = LogOpenReport(
            segments: scan.segments.count,
            records: scan.segments.reduce(0) { $0 + $1.records },
            firstSequence: 0,
            lastSequence: 0,
            truncatedFile: nil,
            truncatedBytes: 0,
            removedTemporaryFiles: scan.temporaryFiles,
            gaps: scan.gaps
        )
        for temp in scan.temporaryFiles { try fs.unlink(temp) }

        var entries = scan.segments.map {
            SegmentEntry(
                path: $0.path,
                firstSequence: $0.firstSequence,
                lastSequence: $0.lastSequence,
                bytes: $0.validBytes
            )
        }
        let active: ActiveSegment
        let activeRecords: Int
        if let last = scan.segments.last {
            let file = try fs.open(last.path, flags: FileSystem.readWrite)
            if last.tornTailBytes > 0 {
                do {
                    try file.truncate(to: last.validBytes)
                    try file.fsync()
                } catch {
                    file.closeIgnoringErrors()
                    throw error
                }
                report.truncatedFile = last.path
                report.truncatedBytes = last.tornTailBytes
            }
            active = ActiveSegment(
                file: file,
                firstSequence: last.firstSequence,
                size: last.validBytes,
                durableSize: last.validBytes
            )
            activeRecords = last.records
        } else {
            let first = max(1, minimumNextSequence)
            active = try GroupCommitter.createSegment(directory: directory, firstSequence: first, flags: 0, fs: fs)
            entries = [
                SegmentEntry(path: active.file.path, firstSequence: first, lastSequence: first - 1, bytes: active.size)
            ]
            activeRecords = 0
        }
        if !scan.temporaryFiles.isEmpty { try fs.syncDirectory(directory) }
        report.firstSequence = entries.first?.firstSequence ?? 1  // never empty: an active segment always exists
        report.lastSequence = entries.last?.lastSequence ?? 0
        let core: GroupCommitter
        do {
            core = try GroupCommitter(
                fs: fs,
                directory: directory,
                policy: options.fsyncPolicy,
                segmentSize: Int64(options.segmentSize),
                maxRecordSize: options.maxRecordSize,
                segments: entries,
                active: active,
                activeRecords: activeRecords,
                seekPoints: scan.seekPoints
            )
        } catch {
            active.file.closeIgnoringErrors()
            throw error
        }
        return (Log(core: core, directory: directory), report)
    }

    // MARK: Appending

    /// Appends a record and returns its sequence number. The record is **not yet acknowledged**
    /// (except with ``FsyncPolicy/always``, where it is durable on return); use
    /// ``waitDurable(upTo:)`` or ``appendDurably(type:payload:)``.
    /// - Parameters:
    ///   - type: a caller-chosen type byte, 1...255.
    ///   - payload: opaque bytes, at most `maxRecordSize`.
    /// - Returns: the record's sequence number.
    /// - Throws: `.invalidArgument` for type 0 or an oversized payload; the earlier failure's
    ///   error after a write or sync failed; `.closed` after `close`.
    @discardableResult
    public func append(type: UInt8, payload: UnsafeRawBufferPointer) throws -> UInt64 {
        try core.append(type: type, payload: payload)
    }

    /// Appends a record from an array; see ``append(type:payload:)-(_,UnsafeRawBufferPointer)``.
    /// - Parameters:
    ///   - type: a caller-chosen type byte, 1...255.
    ///   - payload: opaque bytes.
    /// - Returns: the record's sequence number.
    @discardableResult
    public func append(type: UInt8, payload: [UInt8]) throws -> UInt64 {
        try payload.withUnsafeBytes { try core.append(type: type, payload: $0) }
    }

    /// Appends a record and calls `onDurable` once it is acknowledged (or failed), from the sync
    /// thread or the appending thread. The callback should be quick (it delays
    /// other callbacks); it may append or call `sync`.
    /// - Parameters:
    ///   - type: a caller-chosen type byte, 1...255.
    ///   - payload: opaque bytes.
    ///   - onDurable: receives the sequence when durable, or the error that prevented it.
    /// - Returns: the record's sequence number.
    @discardableResult
    public func append(
        type: UInt8,
        payload: [UInt8],
        onDurable: @escaping @Sendable (Result<UInt64, StoreError>) -> Void
    ) throws -> UInt64 {
        let sequence = try append(type: type, payload: payload)
        core.onDurable(sequence, onDurable)
        return sequence
    }

    /// Appends a record and returns once it is durable (acknowledged).
    /// - Parameters:
    ///   - type: a caller-chosen type byte, 1...255.
    ///   - payload: opaque bytes.
    /// - Returns: the record's sequence number.
    /// - Throws: the write or sync error; the record is then not acknowledged.
    @discardableResult
    public func appendDurably(type: UInt8, payload: [UInt8]) throws -> UInt64 {
        let sequence = try append(type: type, payload: payload)
        try core.waitDurable(upTo: sequence)
        return sequence
    }

    /// Calls `body` once every record up to `sequence` is durable (or with the error that
    /// prevented it), from the sync thread or at once on the calling thread; asks the sync
    /// thread to sync now instead of at the end of its batch window. Never blocks.
    /// - Parameters:
    ///   - sequence: a sequence number already returned by `append`.
    ///   - body: receives the sequence, or the failure.
    public func whenDurable(upTo sequence: UInt64, _ body: @escaping @Sendable (Result<UInt64, StoreError>) -> Void) {
        core.onDurable(sequence, urgent: true, body)
    }

    /// Blocks until every record up to `sequence` is durable, asking the sync thread to sync now.
    /// - Parameter sequence: a sequence number already returned by `append`.
    /// - Throws: the write or sync error that prevented durability (those records are not
    ///   acknowledged), `.closed`, or `.invalidArgument` for a sequence never assigned.
    public func waitDurable(upTo sequence: UInt64) throws { try core.waitDurable(upTo: sequence) }

    /// Writes and syncs everything appended so far, on the calling thread.
    /// - Throws: the write or sync error.
    public func sync() throws {
        let last = core.nextSequenceNumber - 1
        try core.flush()
        if last > 0 { try core.waitDurable(upTo: last) }
    }

    /// The highest acknowledged sequence: every record up to it is durable under the policy.
    public var durableSequence: UInt64 { core.lock.withLock { core.durableSequence } }

    /// The highest sequence assigned so far (durable or not); 0 before the first append.
    public var lastSequence: UInt64 { core.nextSequenceNumber - 1 }

    /// The largest payload one record may hold (``LogOptions/maxRecordSize``).
    public var maxRecordSize: Int { core.maxRecordSize }

    /// The lowest sequence still in the log (after compaction).
    public var firstSequence: UInt64 { core.lock.withLock { core.segments.first?.firstSequence ?? 1 } }  // active segment never dropped

    /// The segment files, oldest first, with their sequence ranges and sizes.
    public var segments: [(path: String, firstSequence: UInt64, lastSequence: UInt64, bytes: Int64)] {
        core.lock.withLock { core.segments.map { ($0.path, $0.firstSequence, $0.lastSequence, $0.bytes) } }
    }

    /// How long the log's fdatasyncs took (none under the `none` policy).
    public var fsyncLatency: Histogram { core.lock.withLock { core.fsyncLatency } }

    /// Total bytes of all segment files (durable part).
    public var byteCount: Int64 { core.lock.withLock { core.segments.reduce(0) { $0 + $1.bytes } } }

    // MARK: Reading

    /// Calls `body` for every durable record with a sequence of at least `sequence`, in order,
    /// without copying payloads. The payload pointer is valid only during the call.
    /// - Parameters:
    ///   - sequence: the first sequence wanted (lower ones are skipped).
    ///   - body: receives sequence, type and payload; returns `false` to stop.
    /// - Throws: `.notFound` if `sequence` was compacted away while reading, `.corrupt` if a
    ///   segment was damaged since open, or what `body` throws.
    public func forEachRecord(
        from sequence: UInt64,
        _ body: (_ sequence: UInt64, _ type: UInt8, _ payload: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        let (limit, entries) = core.lock.withLock { (core.durableSequence, core.segments) }
        for entry in entries where entry.lastSequence >= sequence && entry.firstSequence <= limit {
            let file: FileHandle
            do {
                file = try core.fs.open(entry.path, flags: FileSystem.readOnly)
            } catch let error as StoreError where error.code == .notFound {
                throw StoreError(
                    .notFound,
                    "records from \(entry.firstSequence) were compacted while reading",
                    path: entry.path
                )
            }
            defer { file.closeIgnoringErrors() }
            var reader = SegmentReader(file: file, fileSize: try file.size())
            var offset = Int64(SegmentHeader.size)
            var expected = entry.firstSequence
            if sequence > entry.firstSequence, let point = core.seekPoint(segment: entry.firstSequence, atOrBefore: sequence) {
                offset = point.offset
                expected = point.sequence
            }
            while expected <= limit && expected <= entry.lastSequence {
                switch try reader.frame(at: offset, expectedSequence: expected) {
                case .record(let h, let payload):
                    if h.sequence >= sequence, try !body(h.sequence, h.type, payload) { return }
                    offset += Int64(RecordFrame.headerSize + h.length)
                    expected += 1
                case .end:
                    throw StoreError(
                        .corrupt,
                        "\(entry.path) ends before record \(expected)",
                        path: entry.path,
                        offset: offset
                    )
                case .invalid(let problem):
                    throw StoreError(
                        .corrupt,
                        "\(entry.path): record \(expected): \(problem)",
                        path: entry.path,
                        offset: offset
                    )
                }
            }
        }
    }

    /// The durable records from `sequence` on, copied out (at most `limit` of them).
    /// - Parameters:
    ///   - sequence: the first sequence wanted.
    ///   - limit: the most records to return.
    /// - Returns: the records in order.
    /// - Throws: as ``forEachRecord(from:_:)``.
    public func records(from sequence: UInt64, limit: Int = .max) throws -> [LogRecord] {
        var out: [LogRecord] = []
        guard limit > 0 else { return out }
        try forEachRecord(from: sequence) { seq, type, payload in
            out.append(LogRecord(sequence: seq, type: type, payload: Array(payload)))
            return out.count < limit
        }
        return out
    }

    // MARK: Compaction and closing

    /// Deletes every whole segment whose records all have sequences ≤ `sequence` (never the active
    /// segment, never a record that is not yet durable).
    ///
    /// The caller guarantees that a durable snapshot covers those records and that every live
    /// peer has acknowledged them.
    /// - Parameter sequence: the highest sequence that may be dropped.
    /// - Returns: what was removed.
    /// - Throws: `.io` from `unlink` or the directory sync.
    @discardableResult
    public func compact(through sequence: UInt64) throws -> CompactionReport {
        let removed = try core.removeSegments(through: sequence)
        return CompactionReport(
            removedSegments: removed.map(\.path),
            removedBytes: removed.reduce(0) { $0 + $1.bytes },
            firstSequence: firstSequence
        )
    }

    /// Syncs what is pending, stops the sync thread and closes the files. Waiters of records
    /// not made durable get `.closed`. Idempotent.
    /// - Throws: the final write or sync error.
    public func close() throws { try core.close() }
}
