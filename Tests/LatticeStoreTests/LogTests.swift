import LatticeStore
import Synchronization
import Testing

@Suite struct LogTests {
    @Test(arguments: [FsyncPolicy.always, .batch, .none])
    func roundTripAndReopen(policy: FsyncPolicy) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let store = try Store.open(at: dir.path, options: options(policy))
            #expect(store.log.lastSequence == 0)
            for i in 1...500 {
                let seq = try store.log.append(type: UInt8(i % 255 + 1), payload: payload(i, size: i % 300))
                #expect(seq == UInt64(i))
            }
            try store.log.waitDurable(upTo: 500)
            #expect(store.log.durableSequence == 500)
            let records = try store.log.records(from: 1)
            #expect(records.count == 500)
            for (i, r) in records.enumerated() {
                #expect(r.sequence == UInt64(i + 1))
                #expect(r.payload == payload(i + 1, size: (i + 1) % 300))
                #expect(r.type == UInt8((i + 1) % 255 + 1))
            }
            try store.close()
        }
        let store = try Store.open(at: dir.path, options: options(policy))
        #expect(store.openReport.log.records == 500)
        #expect(store.openReport.log.truncatedBytes == 0)
        #expect(store.log.lastSequence == 500)
        #expect(try store.log.append(type: 1, payload: [1, 2, 3]) == 501)
        try store.log.sync()
        #expect(try store.log.records(from: 499).map(\.sequence) == [499, 500, 501])
        #expect(try store.log.records(from: 10, limit: 2).map(\.sequence) == [10, 11])
        try store.close()
    }

    /// Reading from a sequence seeks to the nearest indexed record of its segment (records
    /// appended by this process); across segments, after a reopen (no index for the old
    /// segments) and after compaction, every start gives exactly the records from there.
    @Test func readingFromAnySequenceSeeksToIt() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var rng = SeededRandom(seed: 11)
        do {
            let store = try Store.open(at: dir.path, options: options(.none, segmentSize: 8_192))
            for i in 1...700 { _ = try store.log.append(type: 1, payload: payload(i, size: Int(rng.next() % 200))) }
            try store.log.sync()
            try store.close()
        }
        let store = try Store.open(at: dir.path, options: options(.none, segmentSize: 8_192))
        defer { try? store.close() }
        for i in 701...1_500 { _ = try store.log.append(type: 1, payload: payload(i, size: Int(rng.next() % 200))) }
        try store.log.sync()
        #expect(store.log.segments.count > 10)
        for start in [1, 2, 63, 64, 65, 127, 128, 699, 700, 701, 702, 767, 768, 769, 1_000, 1_499, 1_500] + (0..<40).map({ _ in Int(rng.next() % 1_500) + 1 }) {
            let got = try store.log.records(from: UInt64(start), limit: 3)
            let want = (start...min(start + 2, 1_500)).map { UInt64($0) }
            #expect(got.map(\.sequence) == want, "from \(start)")
            #expect(got.first?.payload.prefix(4) == payload(start, size: 200).prefix(4), "from \(start)")
        }
        _ = try store.log.compact(through: 900)
        let first = store.log.firstSequence
        #expect(first > 1)
        #expect(try store.log.records(from: first + 70, limit: 1).map(\.sequence) == [first + 70])
        #expect(try store.log.records(from: 1_450).count == 51)
    }

    @Test func rotationAndCompaction() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Store.open(at: dir.path, options: options(.batch, segmentSize: 4096))
        for i in 1...1000 { try store.log.append(type: 1, payload: payload(i)) }
        try store.log.sync()
        let segments = store.log.segments
        #expect(segments.count > 20)
        for s in segments.dropLast() { #expect(s.bytes <= 4096) }
        // Contiguous ranges.
        for (a, b) in zip(segments, segments.dropFirst()) { #expect(b.firstSequence == a.lastSequence + 1) }
        #expect(try store.log.records(from: 1).count == 1000)
        try store.close()

        let reopened = try Store.open(at: dir.path, options: options(.batch, segmentSize: 4096))
        #expect(reopened.log.segments.count == segments.count)
        #expect(try reopened.log.records(from: 1).map(\.payload) == (1...1000).map { payload($0) })
        // Compact through 500: whole segments whose last record ≤ 500 go.
        let report = try reopened.log.compact(through: 500)
        #expect(!report.removedSegments.isEmpty)
        #expect(reopened.log.firstSequence <= 501)
        #expect(reopened.log.firstSequence > 400)
        for path in report.removedSegments { #expect(!fileExists(path)) }
        let rest = try reopened.log.records(from: 1)
        #expect(rest.first?.sequence == reopened.log.firstSequence)
        #expect(rest.last?.sequence == 1000)
        // Compaction never removes the active segment.
        try reopened.log.compact(through: .max)
        #expect(reopened.log.segments.count == 1)
        try reopened.close()
        let again = try Store.open(at: dir.path, options: options(.batch, segmentSize: 4096))
        #expect(again.log.lastSequence == 1000)
        #expect(try again.log.append(type: 1, payload: [9]) == 1001)
        try again.close()
    }

    @Test func recordLimitsAndTypes() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = options(.always)
        o.log.maxRecordSize = 1000
        let store = try Store.open(at: dir.path, options: o)
        #expect(throws: StoreError.self) { try store.log.append(type: 0, payload: [1]) }
        do {
            try store.log.append(type: 1, payload: [UInt8](repeating: 0, count: 1001))
            Issue.record("oversized record accepted")
        } catch let e as StoreError {
            #expect(e.code == .invalidArgument)
        }
        #expect(try store.log.append(type: 1, payload: [UInt8](repeating: 7, count: 1000)) == 1)
        #expect(try store.log.append(type: 2, payload: []) == 2)
        #expect(try store.log.records(from: 1).map(\.payload.count) == [1000, 0])
        try store.close()
        #expect(throws: StoreError.self) { try store.log.append(type: 1, payload: [1]) }
    }

    @Test func callbacksAndConcurrentAppenders() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Store.open(at: dir.path, options: options(.batch))
        let acked = Mutex<[UInt64]>([])
        let log = store.log
        let threads = 8, perThread = 300
        let done = Mutex(0)
        for t in 0..<threads {
            let thread = try TestThread {
                for i in 0..<perThread {
                    let seq = try! log.append(type: 1, payload: payload(t * 10000 + i)) { result in
                        if case .success(let s) = result { acked.withLock { $0.append(s) } }
                    }
                    if i % 50 == 0 { try! log.waitDurable(upTo: seq) }
                }
                done.withLock { $0 += 1 }
            }
            thread.detach()
        }
        while done.withLock({ $0 }) < threads { usleepMs(1) }
        try log.sync()
        #expect(log.durableSequence == UInt64(threads * perThread))
        // Callbacks run after the sync that made them durable; give the last batch a moment.
        for _ in 0..<1000 where acked.withLock({ $0.count }) < threads * perThread { usleepMs(1) }
        #expect(Set(acked.withLock { $0 }) == Set(1...UInt64(threads * perThread)))
        let payloads = Set(try log.records(from: 1).map(\.payload))
        #expect(payloads.count == threads * perThread)
        try store.close()
    }

    @Test func fromSnapshotSequence() throws {
        // An empty log after a snapshot continues numbering after the snapshot.
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Store.open(at: dir.path)
        for i in 1...10 { try store.log.append(type: 1, payload: payload(i)) }
        try store.log.sync()
        try store.snapshots.write(sequence: 10, metadata: [1], payload: [2])
        try store.close()
        removeTree(dir.path + "/log")
        let reopened = try Store.open(at: dir.path)
        #expect(reopened.recoveredSnapshot?.sequence == 10)
        #expect(try reopened.log.append(type: 1, payload: [1]) == 11)
        try reopened.close()
    }
}

@Test(arguments: [FsyncPolicy.always, .batch])
func callbackMayAppendAndSync(policy: FsyncPolicy) throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    let store = try Store.open(at: dir.path, options: options(policy))
    let log = store.log
    let inner = Mutex<UInt64?>(nil)
    try log.append(type: 1, payload: [1]) { _ in
        let s = try? log.append(type: 2, payload: [2])
        try? log.sync()
        inner.withLock { $0 = s }
    }
    try log.sync()
    for _ in 0..<1000 where inner.withLock({ $0 }) == nil { usleepMs(1) }
    #expect(inner.withLock { $0 } == 2)
    try log.sync()
    #expect(try log.records(from: 1).map(\.type) == [1, 2])
    try store.close()
}

/// After a restart, reading from a cursor deep in a segment seeks near it (the recovery scan
/// notes where every 64th record starts) instead of reading the segment from its start.
@Suite struct LogSeekAfterReopenTests {
    @Test func aReopenedLogSeeksToACursor() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let store = try Store.open(at: dir.path, options: options(.none))
            for i in 1...5_000 { try store.log.append(type: 1, payload: payload(i)) }
            try store.close()
        }
        let faults = Faults()
        let read = Mutex(0)
        let store = try Store.open(at: dir.path, options: options(.none, syscalls: faults.syscalls))
        defer { try? store.close() }
        faults.plan.withLock { p in
            p.pread = { fd, buf, off in
                let n = Syscalls.system.pread(fd, buf, off)
                read.withLock { $0 += max(n, 0) }
                return n
            }
        }
        var seen: [UInt64] = []
        try store.log.forEachRecord(from: 4_990) { seq, _, body in
            seen.append(seq)
            #expect(Array(body) == payload(Int(seq)))
            return true
        }
        #expect(seen == Array(4_990...5_000))
        // The segment holds ~5,000 × 116 B = 580 KB; a seek reads from at most 64 records back
        // (plus the reader's window), never the whole file.
        let bytes = read.withLock { $0 }
        #expect(bytes < 200_000, "read \(bytes) bytes to serve 11 records")
    }
}
