import Glibc

/// When appended records are made durable.
public struct FsyncPolicy: Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable { case always, batch, none }
    let kind: Kind
    /// For `batch`: the longest a record waits in the buffer before its batch is written and synced.
    public let maxDelayNanoseconds: UInt64
    /// For `batch`: a batch is written and synced as soon as it holds this many records.
    public let maxRecords: Int

    /// Every `append` writes and `fdatasync`s before it returns (concurrent appenders still share
    /// one sync when they overlap).
    public static let always = FsyncPolicy(kind: .always, maxDelayNanoseconds: 0, maxRecords: 1)

    /// The default: a dedicated thread writes and syncs the buffer after at most 2 ms or 1024
    /// records, whichever comes first, and sooner when someone waits for durability.
    public static let batch = FsyncPolicy.batch(maxDelayMicroseconds: 2_000, maxRecords: 1024)

    /// Group commit with explicit bounds.
    /// - Parameters:
    ///   - maxDelayMicroseconds: the longest a record waits before its batch is synced (≥ 1).
    ///   - maxRecords: the batch size that triggers a sync at once (≥ 1).
    /// - Returns: the policy.
    public static func batch(maxDelayMicroseconds: UInt64, maxRecords: Int) -> FsyncPolicy {
        FsyncPolicy(
            kind: .batch,
            maxDelayNanoseconds: max(1, maxDelayMicroseconds) * 1000,
            maxRecords: max(1, maxRecords)
        )
    }

    /// **Unsafe**: records are written by the background thread but never synced; an acknowledged
    /// record can be lost by a power failure or kernel crash (not by a process crash). For tests
    /// and benchmarks only.
    public static let none = FsyncPolicy(kind: .none, maxDelayNanoseconds: 2_000_000, maxRecords: 1024)

    public var description: String {
        switch kind {
        case .always: "always"
        case .batch: "batch(\(maxDelayNanoseconds / 1000)µs, \(maxRecords) records)"
        case .none: "none"
        }
    }
}

/// A segment file as the log tracks it.
struct SegmentEntry: Sendable {
    var path: String
    var firstSequence: UInt64
    /// The last durable record's sequence (`firstSequence - 1` when empty).
    var lastSequence: UInt64
    var bytes: Int64
}

/// The file the sync thread appends to.
struct ActiveSegment {
    var file: FileHandle
    var firstSequence: UInt64
    /// Bytes written to the file (all of them durable once the write's sync succeeded).
    var size: Int64
    /// Bytes known durable; the file is truncated back here after a failed write or sync.
    var durableSize: Int64
}

/// Group commit: appenders encode frames into a shared buffer under a mutex; one flusher at a time
/// (the sync thread, or an `always` appender) swaps the buffer out, writes it with one `pwrite`,
/// `fdatasync`s, and then publishes the new durable sequence and wakes waiters.
///
/// Failure rule: if a write or sync fails, nothing in that batch is acknowledged, every waiter
/// gets the error, the active file is truncated back to its last durable size (best effort), and
/// the log refuses further appends until it is reopened (reopen runs recovery).
///
/// `@unchecked Sendable`: every mutable field is touched only while holding `lock`, except the
/// `active` segment, `spare` buffer and `breaksInFlight`, which only the flusher touches while
/// holding `ioLock`.
final class GroupCommitter: @unchecked Sendable {
    static let workCondition = 0
    static let durableCondition = 1

    let fs: FileSystem
    let directory: String
    let policy: FsyncPolicy
    let segmentSize: Int64
    let maxRecordSize: Int

    let lock = ConditionLock(conditions: 2)
    let ioLock = ConditionLock()

    // Guarded by `lock`.
    private var pending = WriteBuffer(capacity: 1 << 20)
    private var pendingBreaks: [(offset: Int, firstSequence: UInt64)] = []
    private var pendingCount = 0
    private var pendingSince: UInt64 = 0
    private var nextSequence: UInt64
    private var logicalSegmentBytes: Int64
    private var logicalSegmentRecords: Int
    private(set) var durableSequence: UInt64
    private var failure: StoreError?
    private var closing = false
    private var closed = false
    private var flushRequested = false
    private var callbacks: [(sequence: UInt64, body: @Sendable (Result<UInt64, StoreError>) -> Void)] = []
    var segments: [SegmentEntry]
    /// How long each fdatasync took.
    var fsyncLatency = Histogram()
    /// Where every `seekStride`-th record starts, per segment (keyed by the segment's first
    /// sequence), from the recovery scan and from appends: a reader seeks there instead of
    /// scanning the segment from its start (the change feed and the sync engine read from a
    /// cursor many times a second; after a restart, a peer's catch-up from a 70 MB segment
    /// re-scanned it for every batch).
    private var seekPoints: [UInt64: [(sequence: UInt64, offset: Int64)]] = [:]
    /// The first sequence of the segment `append` is filling.
    private var appendSegment: UInt64
    static let seekStride: UInt64 = 64

    // Guarded by `ioLock`.
    private var spare = WriteBuffer(capacity: 1 << 20)
    private var breaksInFlight: [(offset: Int, firstSequence: UInt64)] = []
    private var active: ActiveSegment

    private var thread: SyncThread?

    init(
        fs: FileSystem,
        directory: String,
        policy: FsyncPolicy,
        segmentSize: Int64,
        maxRecordSize: Int,
        segments: [SegmentEntry],
        active: ActiveSegment,
        activeRecords: Int,
        seekPoints: [UInt64: [(sequence: UInt64, offset: Int64)]] = [:]
    ) throws {
        self.seekPoints = seekPoints
        self.fs = fs
        self.directory = directory
        self.policy = policy
        self.segmentSize = segmentSize
        self.maxRecordSize = maxRecordSize
        self.segments = segments
        self.active = active
        let last = segments.last!.lastSequence
        nextSequence = last + 1
        durableSequence = last
        logicalSegmentBytes = active.size
        logicalSegmentRecords = activeRecords
        appendSegment = active.firstSequence
        if policy.kind != .always {
            thread = try SyncThread(name: "lattice-fsync") { [self] in self.run() }
        }
    }

    /// The next sequence number `append` will assign.
    var nextSequenceNumber: UInt64 { lock.withLock { nextSequence } }

    // MARK: Appending

    /// Encodes one record into the pending buffer and assigns its sequence number.
    func append(type: UInt8, payload: UnsafeRawBufferPointer) throws -> UInt64 {
        guard type != 0 else { throw StoreError(.invalidArgument, "record type 0 is reserved") }
        guard payload.count <= maxRecordSize else {
            throw StoreError(
                .invalidArgument,
                "record of \(payload.count) bytes exceeds the \(maxRecordSize)-byte limit"
            )
        }
        let frameSize = RecordFrame.headerSize + payload.count
        lock.lock()
        if let error = refusal() {
            lock.unlock()
            throw error
        }
        let sequence = nextSequence
        if logicalSegmentRecords > 0 && logicalSegmentBytes + Int64(frameSize) > segmentSize {
            pendingBreaks.append((pending.count, sequence))
            logicalSegmentBytes = Int64(SegmentHeader.size)
            logicalSegmentRecords = 0
            appendSegment = sequence
        }
        if sequence % Self.seekStride == 0 { seekPoints[appendSegment, default: []].append((sequence, logicalSegmentBytes)) }
        RecordFrame.encode(into: pending.reserve(frameSize), type: type, sequence: sequence, payload: payload)
        pending.commit(frameSize)
        nextSequence += 1
        pendingCount += 1
        logicalSegmentBytes += Int64(frameSize)
        logicalSegmentRecords += 1
        if pendingCount == 1 {
            pendingSince = ConditionLock.now()
            lock.signal(Self.workCondition)
        } else if pendingCount == policy.maxRecords {
            lock.signal(Self.workCondition)
        }
        lock.unlock()
        if policy.kind == .always {
            try flush()
            try waitDurable(upTo: sequence)
        }
        return sequence
    }

    /// Registers `body` to run once `sequence` is durable or has failed.
    func onDurable(_ sequence: UInt64, urgent: Bool = false, _ body: @escaping @Sendable (Result<UInt64, StoreError>) -> Void) {
        let immediate: Result<UInt64, StoreError>? = lock.withLock {
            if durableSequence >= sequence { return .success(sequence) }
            if let failure { return .failure(failure) }
            if closed { return .failure(StoreError(.closed, "log closed")) }
            callbacks.append((sequence, body))
            if urgent && policy.kind != .always && !flushRequested {
                flushRequested = true
                lock.signal(Self.workCondition)
            }
            return nil
        }
        if let immediate { body(immediate) }
    }

    /// Why appends are refused, if they are. Call holding `lock`.
    private func refusal() -> StoreError? {
        if let failure {
            var e = failure
            e.message = "log stopped after an earlier failure (\(failure.message)); reopen the store"
            return e
        }
        if closing || closed { return StoreError(.closed, "log is closed") }
        return nil
    }

    /// Blocks until every record up to `sequence` is durable.
    func waitDurable(upTo sequence: UInt64) throws {
        lock.lock()
        defer { lock.unlock() }
        guard sequence < nextSequence else {
            throw StoreError(.invalidArgument, "sequence \(sequence) has not been assigned (next is \(nextSequence))")
        }
        while durableSequence < sequence {
            if let failure { throw failure }
            if closed { throw StoreError(.closed, "log closed before sequence \(sequence) became durable") }
            if policy.kind != .always && !flushRequested {
                flushRequested = true
                lock.signal(Self.workCondition)
            }
            lock.wait(Self.durableCondition)
        }
    }

    // MARK: Flushing

    /// A callback ready to run, with its outcome.
    typealias Completion = (body: @Sendable (Result<UInt64, StoreError>) -> Void, result: Result<UInt64, StoreError>)

    /// Writes and syncs whatever is pending; one flusher at a time. Callbacks run after the I/O
    /// lock is released, so a callback may append or sync without deadlocking.
    func flush() throws {
        var completions: [Completion] = []
        var thrown: (any Error)? = nil
        ioLock.lock()
        do { try flushHoldingIOLock(&completions) } catch { thrown = error }
        ioLock.unlock()
        for c in completions { c.body(c.result) }
        if let thrown { throw thrown }
    }

    private func flushHoldingIOLock(_ completions: inout [Completion]) throws {
        lock.lock()
        if let failure {
            lock.unlock()
            throw failure
        }
        if pending.isEmpty {
            lock.unlock()
            return
        }
        pending.swapContents(with: &spare)
        swap(&pendingBreaks, &breaksInFlight)
        pendingCount = 0
        let target = nextSequence - 1
        lock.unlock()

        var durableSoFar: UInt64? = nil
        do {
            var start = 0
            for brk in breaksInFlight {
                try writeAndSync(UnsafeRawBufferPointer(rebasing: spare.bytes[start..<brk.offset]))
                durableSoFar = brk.firstSequence - 1
                try rotate(to: brk.firstSequence)
                start = brk.offset
            }
            try writeAndSync(UnsafeRawBufferPointer(rebasing: spare.bytes[start...]))
        } catch {
            let storeError = error as? StoreError ?? StoreError(.io, "\(error)")
            completions = fail(storeError, durableUpTo: durableSoFar)
            throw storeError
        }
        breaksInFlight.removeAll(keepingCapacity: true)
        spare.removeAll(shrinkAbove: 8 << 20)
        completions = publish(target, bytes: active.size)
    }

    private func writeAndSync(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count > 0 {
            try active.file.pwriteAll(bytes, at: active.size)
            active.size += Int64(bytes.count)
        }
        if policy.kind != .none {
            var start = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            try active.file.fdatasync()
            var end = timespec()
            clock_gettime(CLOCK_MONOTONIC, &end)
            let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
            lock.withLock { fsyncLatency.observe(seconds) }
        }
        active.durableSize = active.size
    }

    /// Closes the active file and starts a new segment at `firstSequence` (header written to a
    /// temporary file, synced, renamed, directory synced).
    private func rotate(to firstSequence: UInt64) throws {
        let entry = try Self.createSegment(directory: directory, firstSequence: firstSequence, flags: 0, fs: fs)
        let old = active
        active = entry
        try? old.file.close()
        lock.withLock {
            segments[segments.count - 1].lastSequence = firstSequence - 1
            segments[segments.count - 1].bytes = old.size
            segments.append(
                SegmentEntry(
                    path: entry.file.path,
                    firstSequence: firstSequence,
                    lastSequence: firstSequence - 1,
                    bytes: entry.size
                )
            )
            if durableSequence < firstSequence - 1 { durableSequence = firstSequence - 1 }
        }
    }

    /// Creates an empty segment file durably and opens it for appending.
    static func createSegment(directory: String, firstSequence: UInt64, flags: UInt16, fs: FileSystem) throws
        -> ActiveSegment
    {
        let path = directory + "/" + SegmentName.name(firstSequence: firstSequence)
        let temp = path + ".tmp"
        let header = SegmentHeader(firstSequence: firstSequence, flags: flags).encoded
        let file = try fs.open(temp, flags: FileSystem.createReadWrite | FileSystem.truncateFlag, mode: 0o644)
        do {
            try header.withUnsafeBytes { try file.pwriteAll($0, at: 0) }
            try file.fsync()
            try fs.rename(temp, to: path)
            try fs.syncDirectory(directory)
        } catch {
            file.closeIgnoringErrors()
            throw error
        }
        let opened = FileHandle(fd: file.fd, path: path, sys: file.sys)
        return ActiveSegment(
            file: opened,
            firstSequence: firstSequence,
            size: Int64(header.count),
            durableSize: Int64(header.count)
        )
    }

    private func publish(_ target: UInt64, bytes: Int64) -> [Completion] {
        var ready: [(sequence: UInt64, body: @Sendable (Result<UInt64, StoreError>) -> Void)] = []
        lock.withLock {
            durableSequence = target
            segments[segments.count - 1].lastSequence = target
            segments[segments.count - 1].bytes = bytes
            if !callbacks.isEmpty {
                let split = callbacks.partition { $0.sequence > target }
                ready = Array(callbacks[..<split])
                callbacks.removeSubrange(..<split)
            }
            lock.broadcast(Self.durableCondition)
        }
        return ready.sorted(by: { $0.sequence < $1.sequence }).map { ($0.body, .success($0.sequence)) }
    }

    private func fail(_ error: StoreError, durableUpTo: UInt64?) -> [Completion] {
        // Best effort: cut the file back to what is known durable, so a reopen in this boot sees
        // no unacknowledged bytes. Recovery handles whatever remains.
        if (try? active.file.truncate(to: active.durableSize)) != nil { active.size = active.durableSize }
        var ready: [(sequence: UInt64, body: @Sendable (Result<UInt64, StoreError>) -> Void)] = []
        let durable = lock.withLock {
            if let durableUpTo, durableUpTo > durableSequence { durableSequence = durableUpTo }
            failure = error
            ready = callbacks
            callbacks.removeAll()
            lock.broadcast(Self.durableCondition)
            lock.signal(Self.workCondition)
            return durableSequence
        }
        return ready.map { ($0.body, $0.sequence <= durable ? .success($0.sequence) : .failure(error)) }
    }

    /// The sync thread: waits for a full batch, the delay bound, a waiter, or close; then flushes.
    private func run() {
        while true {
            lock.lock()
            var exit = false
            while true {
                if failure != nil || pendingCount == 0 {
                    if closing { exit = true; break }
                    lock.wait(Self.workCondition)
                    continue
                }
                if closing || flushRequested || pendingCount >= policy.maxRecords { break }
                let deadline = pendingSince + policy.maxDelayNanoseconds
                if ConditionLock.now() >= deadline { break }
                lock.wait(Self.workCondition, untilNanoseconds: deadline)
            }
            flushRequested = false
            lock.unlock()
            if exit { return }
            try? flush()  // a failure is recorded and delivered to waiters by `flush` itself
        }
    }

    // MARK: Closing

    /// Flushes what is pending, stops the sync thread, closes the active file.
    func close() throws {
        let alreadyClosed = lock.withLock {
            let was = closing
            closing = true
            lock.signal(Self.workCondition)
            return was
        }
        if alreadyClosed { return }
        var flushError: (any Error)? = nil
        if let thread {
            thread.join()
            self.thread = nil
            if let failure = lock.withLock({ failure }) { flushError = failure }
        } else {
            do { try flush() } catch { flushError = error }
        }
        ioLock.withLock { active.file.closeIgnoringErrors() }
        var ready: [(sequence: UInt64, body: @Sendable (Result<UInt64, StoreError>) -> Void)] = []
        lock.withLock {
            closed = true
            ready = callbacks
            callbacks.removeAll()
            lock.broadcast(Self.durableCondition)
        }
        for c in ready { c.body(.failure(StoreError(.closed, "log closed"))) }
        if let flushError { throw flushError }
    }

    /// The nearest known record start at or before `sequence` in the segment starting at
    /// `segment`: (its sequence, its offset), or nil (read from the segment's start).
    func seekPoint(segment: UInt64, atOrBefore sequence: UInt64) -> (sequence: UInt64, offset: Int64)? {
        lock.withLock {
            guard let points = seekPoints[segment], let first = points.first, first.sequence <= sequence else { return nil }
            var lo = 0
            var hi = points.count - 1
            while lo < hi {  // the last point ≤ sequence
                let mid = (lo + hi + 1) / 2
                if points[mid].sequence <= sequence { lo = mid } else { hi = mid - 1 }
            }
            return points[lo]
        }
    }

    // MARK: Rewriting (erase)

    /// Makes every record appended so far durable and closes the active segment (when it holds
    /// records), so that all of them lie in closed segments, which nothing appends to.
    /// - Returns: the last sequence in a closed segment.
    func sealActiveSegment() throws -> UInt64 {
        var completions: [Completion] = []
        var thrown: (any Error)?
        var sealed: UInt64 = 0
        ioLock.lock()
        do {
            var attempts = 0
            while true {
                try flushHoldingIOLock(&completions)
                lock.lock()
                let next = nextSequence
                let quiet = pending.isEmpty
                let records = logicalSegmentRecords
                if quiet && records > 0 {
                    // Appends from here on go to the segment `rotate` creates (the flusher,
                    // which writes them, waits for the I/O lock this thread holds).
                    logicalSegmentBytes = Int64(SegmentHeader.size)
                    logicalSegmentRecords = 0
                    appendSegment = next
                }
                lock.unlock()
                if quiet {
                    if records > 0 { try rotate(to: next) }
                    sealed = next - 1
                    break
                }
                attempts += 1
                if attempts > 1_000 { throw StoreError(.io, "the log kept receiving appends while it was being sealed for an erase; retry") }
            }
        } catch { thrown = error }
        ioLock.unlock()
        for c in completions { c.body(c.result) }
        if let thrown { throw thrown }
        return sealed
    }

    /// Replaces a closed segment's file by `temporary` (already written and synced), unless
    /// compaction removed the segment meanwhile (then `temporary` is deleted).
    /// - Returns: whether the segment was replaced.
    func replaceSegment(firstSequence: UInt64, with temporary: String, bytes: Int64) throws -> Bool {
        try ioLock.withLock {
            let path: String? = lock.withLock {
                guard let i = segments.firstIndex(where: { $0.firstSequence == firstSequence }), i < segments.count - 1 else { return nil }
                return segments[i].path
            }
            guard let path else {
                try? fs.unlink(temporary)
                return false
            }
            try fs.rename(temporary, to: path)
            try fs.syncDirectory(directory)
            lock.withLock {
                if let i = segments.firstIndex(where: { $0.firstSequence == firstSequence }) { segments[i].bytes = bytes }
                // Offsets changed: readers scan the rewritten segment from its start.
                seekPoints[firstSequence] = nil
            }
            return true
        }
    }

    // MARK: Compaction

    /// Removes whole non-active segments whose last record is at or below `sequence`.
    func removeSegments(through sequence: UInt64) throws -> [SegmentEntry] {
        try ioLock.withLock {
            let removed: [SegmentEntry] = lock.withLock {
                let limit = min(sequence, durableSequence)
                var n = 0
                while n < segments.count - 1 && segments[n].lastSequence <= limit { n += 1 }
                let removed = Array(segments[..<n])
                segments.removeFirst(n)
                for entry in removed { seekPoints[entry.firstSequence] = nil }
                return removed
            }
            for entry in removed { try fs.unlink(entry.path) }
            if !removed.isEmpty { try fs.syncDirectory(directory) }
            return removed
        }
    }
}
