import Glibc
import Synchronization

/// The files of a data directory (see `Docs/STORE.md`):
///
/// ```
/// <dir>/LOCK                          advisory flock; holds the writer's pid
/// <dir>/log/<20-digit seq>.seg        log segments, named by their first sequence
/// <dir>/snapshots/<20-digit seq>.snap snapshots, named by the sequence they cover
/// <dir>/peers/watermarks              per-peer acknowledged version vectors
/// ```
public enum DataDirectory {
    /// The lock file path.
    public static func lockPath(_ dir: String) -> String { dir + "/LOCK" }
    /// The log directory.
    public static func logPath(_ dir: String) -> String { dir + "/log" }
    /// The snapshot directory.
    public static func snapshotsPath(_ dir: String) -> String { dir + "/snapshots" }
    /// The peers directory.
    public static func peersPath(_ dir: String) -> String { dir + "/peers" }
}

/// Tuning of a store.
public struct StoreOptions: Sendable {
    /// Log tuning (fsync policy, segment size, record size limit).
    public var log = LogOptions()
    /// How many valid snapshots to keep. Default 2.
    public var keepSnapshots = 2
    /// The system-call table: ``Syscalls/system`` except in fault-injection tests.
    public var syscalls = Syscalls.system

    /// Creates options with the defaults.
    public init() {}
}

/// What opening a store found and did.
public struct OpenReport: Sendable, Equatable {
    /// The log's recovery report (torn tail truncated, counts, gaps).
    public var log: LogOpenReport
    /// The sequence of the snapshot loaded, if any.
    public var snapshotSequence: UInt64?
    /// Damaged snapshot files skipped in favour of an older one (or none).
    public var damagedSnapshots: [SnapshotReport]
    /// How many peers have watermarks.
    public var peers: Int
}

/// One data directory opened for writing: the log, the snapshots and the peer watermarks, under
/// the directory's lock. Restart = ``recoveredSnapshot`` + ``Log/forEachRecord(from:_:)`` from the
/// snapshot's sequence + 1.
public final class Store: Sendable {
    /// The data directory.
    public let directory: String
    /// The append-only log (replaced by ``reopenLog()`` after a write failed for want of space).
    public var log: Log { current.withLock { $0 } }
    private let current: Mutex<Log>
    private let options: StoreOptions
    /// The snapshots.
    public let snapshots: SnapshotStore
    /// The per-peer watermarks.
    public let watermarks: WatermarkStore
    /// What open found and did.
    public let openReport: OpenReport
    /// The newest valid snapshot at open, or nil (replay the whole log).
    public let recoveredSnapshot: Snapshot?
    private let lock: FileLock
    private let released = Mutex(false)

    private init(
        directory: String,
        log: Log,
        snapshots: SnapshotStore,
        watermarks: WatermarkStore,
        openReport: OpenReport,
        recoveredSnapshot: Snapshot?,
        lock: FileLock,
        options: StoreOptions
    ) {
        self.directory = directory
        self.current = Mutex(log)
        self.options = options
        self.snapshots = snapshots
        self.watermarks = watermarks
        self.openReport = openReport
        self.recoveredSnapshot = recoveredSnapshot
        self.lock = lock
    }

    deinit {
        try? log.close()
        releaseLock()
    }

    private func releaseLock() {
        let first = released.withLock { was in
            defer { was = true }
            return !was
        }
        if first { lock.release() }
    }

    /// Opens (creating if needed) a data directory for writing.
    /// - Parameters:
    ///   - directory: the data directory.
    ///   - options: tuning.
    /// - Returns: the open store; see ``openReport`` for what recovery did.
    /// - Throws: `.locked` naming the holder's pid when another writer has it open; `.corrupt`
    ///   naming file and offset for damage recovery must not guess about (run ``repair(at:options:)``);
    ///   `.io`, `.noSpace`, `.permissionDenied` from the file system.
    public static func open(at directory: String, options: StoreOptions = StoreOptions()) throws -> Store {
        let fs = FileSystem(options.syscalls)
        try fs.makeDirectory(directory, mode: 0o700)
        let lock = try FileLock.acquire(DataDirectory.lockPath(directory), fs: fs)
        do {
            let snapshots = try SnapshotStore(
                directory: DataDirectory.snapshotsPath(directory),
                keep: options.keepSnapshots,
                syscalls: options.syscalls
            )
            let (snapshot, damaged) = try snapshots.loadNewest()
            let watermarks = try WatermarkStore(
                directory: DataDirectory.peersPath(directory),
                syscalls: options.syscalls
            )
            let (log, logReport) = try Log.open(
                directory: DataDirectory.logPath(directory),
                options: options.log,
                syscalls: options.syscalls,
                minimumNextSequence: (snapshot?.sequence ?? 0) + 1
            )
            let report = OpenReport(
                log: logReport,
                snapshotSequence: snapshot?.sequence,
                damagedSnapshots: damaged,
                peers: watermarks.all.count
            )
            return Store(
                directory: directory,
                log: log,
                snapshots: snapshots,
                watermarks: watermarks,
                openReport: report,
                recoveredSnapshot: snapshot,
                lock: lock,
                options: options
            )
        } catch {
            lock.release()
            throw error
        }
    }

    /// Reopens the log from what is on disk, as open does (a torn tail left by the failed write
    /// is cut), after a write failed for want of space and space came back. The lock stays held.
    /// Records after the durable ones were never acknowledged and may be gone.
    /// - Throws: what `Log.open` throws (the old log stays closed: call again later).
    public func reopenLog() throws {
        let old = log
        let next = old.durableSequence + 1  // snapshots cover only durable records
        try? old.close()  // it failed already: its error is the one the caller saw
        let (fresh, _) = try Log.open(
            directory: DataDirectory.logPath(directory), options: options.log, syscalls: options.syscalls, minimumNextSequence: next)
        current.withLock { $0 = fresh }
    }

    /// Free bytes for an unprivileged writer on the data directory's file system (nil if unknown).
    public var freeBytes: UInt64? {
        var st = statvfs()
        guard statvfs(directory, &st) == 0 else { return nil }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }

    /// Syncs and closes the log and releases the lock (also done on deinit, without errors).
    /// - Throws: the final write or sync error.
    public func close() throws {
        defer { releaseLock() }
        try log.close()
    }

    // MARK: Verify

    /// Checks every file of a data directory without modifying anything. Takes the lock, so it
    /// refuses (`.locked`) while a writer has the directory open.
    /// - Parameters:
    ///   - directory: the data directory.
    ///   - options: only `syscalls` is used.
    /// - Returns: what was found.
    /// - Throws: `.locked`, `.notFound`, `.io`.
    public static func verify(at directory: String, options: StoreOptions = StoreOptions()) throws -> VerifyReport {
        let fs = FileSystem(options.syscalls)
        guard fs.exists(directory) else {
            throw StoreError(.notFound, "no data directory at \(directory)", path: directory)
        }
        let lock = try FileLock.acquire(DataDirectory.lockPath(directory), fs: fs)
        defer { lock.release() }
        return try verifyUnlocked(directory, fs: fs)
    }

    static func verifyUnlocked(_ directory: String, fs: FileSystem) throws -> VerifyReport {
        let logDir = DataDirectory.logPath(directory)
        let scan = fs.exists(logDir) ? try Recovery.scanLog(logDir, fs: fs) : LogScan()
        var problems = scan.problems
        for leftover in scan.repairLeftovers {
            problems.append(StoreError(.corrupt, "\(leftover) is left over from an interrupted repair", path: leftover))
        }
        var snapshotReports: [SnapshotReport] = []
        let snapDir = DataDirectory.snapshotsPath(directory)
        if fs.exists(snapDir) {
            snapshotReports = try SnapshotStore(directory: snapDir, syscalls: fs.sys).verify()
        }
        var watermarkProblem: String? = nil
        let wm = DataDirectory.peersPath(directory) + "/watermarks"
        if fs.exists(wm) {
            do {
                if case .failure(let p) = WatermarkStore.decode(try fs.readFile(wm, limit: WatermarkStore.maxFileSize))
                {
                    watermarkProblem = p.description
                }
            } catch { watermarkProblem = "\(error)" }
        }
        return VerifyReport(
            segments: scan.segments,
            problems: problems,
            gaps: scan.gaps,
            snapshots: snapshotReports,
            watermarkProblem: watermarkProblem
        )
    }

    // MARK: Repair

    /// Repairs a data directory so it opens again, keeping every record that still has a valid
    /// checksum and never deleting damaged bytes:
    ///
    /// 1. finishes (or undoes) an interrupted earlier repair, removes leftover `*.tmp` files;
    /// 2. truncates a torn tail of the last segment (as open would);
    /// 3. for each damaged or overlapping segment: copies every valid record (resynchronising
    ///    after each bad spot) into fresh segments, one per run of consecutive sequences, marked
    ///    as following a gap where records were lost; renames the damaged file to
    ///    `<name>.damaged` (`.damaged.1`, … if taken);
    /// 4. marks remaining sequence gaps (lost records, or a segment file that went missing) as
    ///    accepted in the following segment's header;
    /// 5. renames damaged snapshot files and a damaged watermark file to `*.damaged`.
    /// - Parameters:
    ///   - directory: the data directory.
    ///   - options: only `syscalls` is used.
    /// - Returns: what was done, and a verify report of the result.
    /// - Throws: `.locked` while a writer has the directory open; `.io`, `.noSpace`.
    public static func repair(at directory: String, options: StoreOptions = StoreOptions()) throws -> RepairReport {
        let fs = FileSystem(options.syscalls)
        guard fs.exists(directory) else {
            throw StoreError(.notFound, "no data directory at \(directory)", path: directory)
        }
        let lock = try FileLock.acquire(DataDirectory.lockPath(directory), fs: fs)
        defer { lock.release() }
        var report = RepairReport()
        let logDir = DataDirectory.logPath(directory)
        if fs.exists(logDir) {
            try repairLog(logDir, fs: fs, report: &report)
        }
        let snapDir = DataDirectory.snapshotsPath(directory)
        if fs.exists(snapDir) {
            for s in try SnapshotStore(directory: snapDir, syscalls: fs.sys).verify() where s.damage != nil {
                report.movedAside.append(try moveAside(s.path, fs: fs))
            }
            try fs.syncDirectory(snapDir)
        }
        let peers = DataDirectory.peersPath(directory)
        let wm = peers + "/watermarks"
        if fs.exists(wm) {
            let ok: Bool
            if let bytes = try? fs.readFile(wm, limit: WatermarkStore.maxFileSize),
                case .success = WatermarkStore.decode(bytes)
            {
                ok = true
            } else {
                ok = false
            }
            if !ok {
                report.movedAside.append(try moveAside(wm, fs: fs))
                try fs.syncDirectory(peers)
            }
        }
        report.after = try verifyUnlocked(directory, fs: fs)
        return report
    }

    /// Renames `path` to `path.damaged` (or `.damaged.N` when taken).
    private static func moveAside(_ path: String, fs: FileSystem) throws -> String {
        var target = path + Recovery.damagedSuffix
        var n = 1
        while fs.exists(target) {
            target = path + Recovery.damagedSuffix + ".\(n)"
            n += 1
        }
        try fs.rename(path, to: target)
        return target
    }

    private static func repairLog(_ logDir: String, fs: FileSystem, report: inout RepairReport) throws {
        // 1. Leftovers: `<source>.repair-<seq>` files. If the source segment still exists the old
        //    repair stopped before moving it aside: discard them (they are copies). Otherwise
        //    the source is already `<source>.damaged`: finish by giving them their final names.
        var scan = try Recovery.scanLog(logDir, fs: fs)
        for leftover in scan.repairLeftovers {
            guard let dash = leftover.lastIndex(of: "-") else { continue }
            let head = leftover[..<dash]
            guard head.hasSuffix(".repair") else { continue }
            let source = String(head.dropLast(".repair".count))
            if fs.exists(source) {
                try fs.unlink(leftover)
            } else if let seq = UInt64(leftover[leftover.index(after: dash)...]) {
                try fs.rename(leftover, to: logDir + "/" + SegmentName.name(firstSequence: seq))
            }
        }
        for temp in scan.temporaryFiles { try fs.unlink(temp) }
        try fs.syncDirectory(logDir)
        scan = try Recovery.scanLog(logDir, fs: fs)

        // 2. Torn tail.
        if let last = scan.segments.last, last.tornTailBytes > 0 {
            let file = try fs.open(last.path, flags: FileSystem.readWrite)
            defer { file.closeIgnoringErrors() }
            try file.truncate(to: last.validBytes)
            try file.fsync()
            report.truncatedBytes = last.tornTailBytes
        }

        // 3. Salvage damaged and overlapping segments, oldest first.
        var previousLast: UInt64? = nil
        for (i, segment) in scan.segments.enumerated() {
            guard scan.needsSalvage.contains(i) else {
                previousLast = segment.lastSequence
                continue
            }
            let minimum = (previousLast ?? 0) + 1
            let limit = i + 1 < scan.segments.count ? scan.segments[i + 1].firstSequence : UInt64.max
            let records = try Recovery.salvage(path: segment.path, minimum: minimum, limit: limit, fs: fs)
            report.salvagedRecords += records.count
            var written: [(temp: String, final: String)] = []
            var start = 0
            while start < records.count {
                var end = start + 1
                while end < records.count && records[end].sequence == records[end - 1].sequence + 1 { end += 1 }
                let first = records[start].sequence
                let flags: UInt16 = previousLast.map { first == $0 + 1 } ?? true ? 0 : SegmentHeader.followsGapFlag
                let temp = segment.path + Recovery.repairMarker + String(first)
                try Recovery.writeSegment(
                    path: temp,
                    header: SegmentHeader(firstSequence: first, flags: flags),
                    records: records[start..<end],
                    fs: fs
                )
                written.append((temp, logDir + "/" + SegmentName.name(firstSequence: first)))
                previousLast = records[end - 1].sequence
                start = end
            }
            try fs.syncDirectory(logDir)
            report.movedAside.append(try moveAside(segment.path, fs: fs))
            for w in written {
                try fs.rename(w.temp, to: w.final)
                report.writtenSegments.append(w.final)
            }
            try fs.syncDirectory(logDir)
        }

        // 4. Accept remaining gaps by flagging the segment after each.
        scan = try Recovery.scanLog(logDir, fs: fs)
        for i in scan.segments.indices.dropFirst() {
            let expected = scan.segments[i - 1].lastSequence + 1
            let current = scan.segments[i]
            guard current.firstSequence > expected, let header = scan.headers[i],
                header.flags & SegmentHeader.followsGapFlag == 0
            else { continue }
            var flagged = header
            flagged.flags |= SegmentHeader.followsGapFlag
            let file = try fs.open(current.path, flags: FileSystem.readWrite)
            defer { file.closeIgnoringErrors() }
            try flagged.encoded.withUnsafeBytes { try file.pwriteAll($0, at: 0) }
            try file.fsync()
        }
        for i in scan.segments.indices.dropFirst() {
            let expected = scan.segments[i - 1].lastSequence + 1
            if scan.segments[i].firstSequence > expected {
                report.lostRanges.append(expected...(scan.segments[i].firstSequence - 1))
            }
        }
    }
}

/// The result of ``Store/verify(at:options:)``.
public struct VerifyReport: Sendable {
    /// Every segment, oldest first, with record counts, damage and torn-tail bytes.
    public var segments: [SegmentReport] = []
    /// Every problem that would stop open (`.corrupt`, with path and offset).
    public var problems: [StoreError] = []
    /// Sequence ranges lost to an earlier repair (accepted, not problems).
    public var gaps: [ClosedRange<UInt64>] = []
    /// Every snapshot file, newest first.
    public var snapshots: [SnapshotReport] = []
    /// Why the watermark file is unusable, or nil.
    public var watermarkProblem: String?

    /// Total valid records.
    public var records: Int { segments.reduce(0) { $0 + $1.records } }
    /// Bytes of torn tail that the next open will truncate (not a problem: those records were
    /// never acknowledged).
    public var tornTailBytes: Int64 { segments.last?.tornTailBytes ?? 0 }
    /// Whether nothing needs repair: no log problem, no damaged snapshot, a readable watermark file.
    public var isClean: Bool {
        problems.isEmpty && snapshots.allSatisfy { $0.damage == nil } && watermarkProblem == nil
    }
}

/// The result of ``Store/repair(at:options:)``.
public struct RepairReport: Sendable {
    /// Bytes of torn tail truncated.
    public var truncatedBytes: Int64 = 0
    /// Valid records copied out of damaged segments.
    public var salvagedRecords = 0
    /// Fresh segment files written.
    public var writtenSegments: [String] = []
    /// Files renamed aside (`*.damaged`): never deleted.
    public var movedAside: [String] = []
    /// Sequence ranges now missing from the log (lost to damage, or a missing file).
    public var lostRanges: [ClosedRange<UInt64>] = []
    /// A verify of the directory after repair.
    public var after = VerifyReport()
}
