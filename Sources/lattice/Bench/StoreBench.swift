import Glibc
import LatticeStore
import Synchronization

/// Store benchmarks for `lattice bench`: durable appends per second under each fsync policy,
/// log bytes per record, and reopen (recovery scan) time of a large log with and without a
/// snapshot. Payloads are 100 bytes.
/// - Parameters:
///   - quick: smaller counts (CI smoke run).
///   - directory: a scratch directory; each workload uses (and removes) a subdirectory.
/// - Returns: the measured rows.
func storeBenchRows(quick: Bool, directory: String) -> [BenchRow] {
    var rows: [BenchRow] = []
    let payload = [UInt8](repeating: 0xAB, count: 100)
    _ = mkdir(directory, 0o755)

    func fresh(_ name: String) -> String {
        let path = directory + "/" + name
        benchRemoveTree(path)
        return path
    }

    // 1. batch, one appender pipelining: append a window, wait for its last record, repeat.
    do {
        let path = fresh("batch-pipelined")
        let total = quick ? 200_000 : 2_000_000
        let window = 4096
        if let store = try? Store.open(at: path) {
            let start = benchNow()
            var n = 0
            while n < total {
                var last: UInt64 = 0
                for _ in 0..<window { last = (try? store.log.append(type: 1, payload: payload)) ?? 0 }
                try? store.log.waitDurable(upTo: last)
                n += window
            }
            let seconds = benchSeconds(since: start)
            rows.append(
                BenchRow(
                    workload: "store_batch_pipelined",
                    metric: "durable_ops_per_s",
                    value: Double(n) / seconds,
                    unit: "ops/s"
                )
            )
            rows.append(
                BenchRow(
                    workload: "store_batch_pipelined",
                    metric: "log_bytes_per_record",
                    value: Double(store.log.byteCount) / Double(n),
                    unit: "B"
                )
            )
            try? store.close()
        }
        benchRemoveTree(path)
    }

    // 2. batch, 8 concurrent appenders each waiting for every record (one change = one ack).
    do {
        let path = fresh("batch-concurrent")
        let threads = 8
        let perThread = quick ? 2_000 : 20_000
        if let store = try? Store.open(at: path) {
            let log = store.log
            let start = benchNow()
            let handles = (0..<threads).map { _ in
                benchThread {
                    for _ in 0..<perThread {
                        if let s = try? log.append(type: 1, payload: payload) { try? log.waitDurable(upTo: s) }
                    }
                }
            }
            for h in handles { pthread_join(h, nil) }
            let seconds = benchSeconds(since: start)
            rows.append(
                BenchRow(
                    workload: "store_batch_8_appenders",
                    metric: "durable_ops_per_s",
                    value: Double(threads * perThread) / seconds,
                    unit: "ops/s"
                )
            )
            try? store.close()
        }
        benchRemoveTree(path)
    }

    // 3. always: every append fsyncs before returning.
    do {
        let path = fresh("always")
        var options = StoreOptions()
        options.log.fsyncPolicy = .always
        let total = quick ? 2_000 : 20_000
        if let store = try? Store.open(at: path, options: options) {
            let start = benchNow()
            for _ in 0..<total { _ = try? store.log.append(type: 1, payload: payload) }
            let seconds = benchSeconds(since: start)
            rows.append(
                BenchRow(
                    workload: "store_always",
                    metric: "durable_ops_per_s",
                    value: Double(total) / seconds,
                    unit: "ops/s"
                )
            )
            try? store.close()
        }
        benchRemoveTree(path)
    }

    // 4. Reopen: a log of 1M records (100k quick), then the same after a snapshot + compaction.
    do {
        let path = fresh("reopen")
        let total = quick ? 100_000 : 1_000_000
        var options = StoreOptions()
        options.log.fsyncPolicy = .none
        if let store = try? Store.open(at: path, options: options) {
            for _ in 0..<total { _ = try? store.log.append(type: 1, payload: payload) }
            try? store.log.sync()
            try? store.close()
        }
        let label = quick ? "100k" : "1M"
        var start = benchNow()
        if let store = try? Store.open(at: path) {
            let openSeconds = benchSeconds(since: start)
            rows.append(BenchRow(workload: "store_reopen_\(label)", metric: "open_s", value: openSeconds, unit: "s"))
            start = benchNow()
            var count = 0
            try? store.log.forEachRecord(from: 1) { _, _, _ in
                count += 1
                return true
            }
            rows.append(
                BenchRow(
                    workload: "store_reopen_\(label)",
                    metric: "replay_s",
                    value: benchSeconds(since: start),
                    unit: "s"
                )
            )
            rows.append(
                BenchRow(workload: "store_reopen_\(label)", metric: "records", value: Double(count), unit: "records")
            )
            // Snapshot covering everything (a stand-in state of 8 MiB), then compaction.
            _ = try? store.snapshots.write(
                sequence: store.log.lastSequence,
                metadata: [],
                payload: [UInt8](repeating: 7, count: 8 << 20)
            )
            _ = try? store.log.compact(through: store.log.lastSequence)
            try? store.close()
        }
        start = benchNow()
        if let store = try? Store.open(at: path) {
            var tail = 0
            try? store.log.forEachRecord(from: (store.recoveredSnapshot?.sequence ?? 0) + 1) { _, _, _ in
                tail += 1
                return true
            }
            rows.append(
                BenchRow(
                    workload: "store_reopen_\(label)_snapshot",
                    metric: "open_and_replay_s",
                    value: benchSeconds(since: start),
                    unit: "s"
                )
            )
            try? store.close()
        }
        benchRemoveTree(path)
    }
    // 5. The change feed reads from a cursor: the 10 records before the end of a full segment,
    //    seeking by the index of records appended in this process, then after a reopen (no
    //    index for old segments: the segment is scanned from its start).
    do {
        let path = fresh("read-from-cursor")
        let total = quick ? 50_000 : 500_000
        var o = StoreOptions()
        o.log.fsyncPolicy = .none
        o.log.segmentSize = 1 << 30
        if let store = try? Store.open(at: path, options: o) {
            for _ in 0..<total { _ = try? store.log.append(type: 1, payload: payload) }
            try? store.log.sync()
            func timed(_ label: String, _ log: Log) {
                let reads = 200
                let start = benchNow()
                for _ in 0..<reads { _ = try? log.records(from: UInt64(total - 9), limit: 10) }
                rows.append(BenchRow(workload: "log_read_from_cursor_\(label)", metric: "us_per_read", value: benchSeconds(since: start) / Double(reads) * 1e6, unit: "µs"))
            }
            timed("indexed", store.log)
            try? store.close()
            if let reopened = try? Store.open(at: path, options: o) {
                timed("scan", reopened.log)
                try? reopened.close()
            }
        }
        benchRemoveTree(path)
    }

    return rows
}

/// Nanoseconds on the monotonic clock (every bench's stopwatch).
func benchNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func benchSeconds(since start: UInt64) -> Double { Double(benchNow() - start) / 1e9 }

private final class BenchBox {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

private func benchThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    var tid = pthread_t()
    let box = Unmanaged.passRetained(BenchBox(body)).toOpaque()
    let r = pthread_create(
        &tid,
        nil,
        { arg in
            Unmanaged<BenchBox>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        },
        box
    )
    precondition(r == 0, "pthread_create")
    return tid
}

/// Removes a directory tree (bench scratch data only).
func benchRemoveTree(_ path: String) {
    guard let dir = opendir(path) else {
        unlink(path)
        return
    }
    var names: [String] = []
    while let e = readdir(dir) {
        let name = withUnsafePointer(to: &e.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    closedir(dir)
    for n in names {
        let child = path + "/" + n
        var st = stat()
        if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { benchRemoveTree(child) } else { unlink(child) }
    }
    rmdir(path)
}
