import LatticeCRDT

#if canImport(Glibc)
    import Glibc
#endif

/// The text of a NUL-terminated C buffer.
func stringFromCBuffer(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Monotonic seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Resident set size of this process in MiB (from /proc/self/statm).
func residentMiB() -> Double {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, 128, f) != nil else { return 0 }
    let fields = stringFromCBuffer(line).split(separator: " ")
    guard fields.count > 1, let resident = Double(fields[1]) else { return 0 }
    return resident * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// The workloads of `shared/bench/WORKLOADS.md` that the CRDT layer runs.
struct CRDTBench {
    let n: Int
    let documents = 1_000
    let fields = 10
    let collection: Key = "bench"
    let now: UInt64 = 1_763_800_000_000

    /// Write i sets register q = i mod K: document `doc{q mod 1000}`, field `field{(q div 1000) mod 10}`.
    let docKeys: [Key]
    let fieldKeys: [Key]

    init(n: Int) {
        self.n = n
        docKeys = (0..<1_000).map { Key("doc\($0)") }
        fieldKeys = (0..<10).map { Key("field\($0)") }
    }

    func path(_ i: Int) -> FieldPath {
        let q = i % (documents * fields)
        return FieldPath(collection, docKeys[q % documents], fieldKeys[(q / documents) % fields])
    }

    /// A unique 32-byte ASCII value for write i of a side.
    func value(_ i: Int, side: UInt8 = 65) -> Value {
        var s = String(repeating: Character(Unicode.Scalar(side)), count: 32 - 12)
        let digits = String(i)
        s += String(repeating: "0", count: 12 - digits.count) + digits
        return .string(s)
    }

    /// The W1 operations, generated before any timing starts (as the peer harness does).
    func operations() -> [(FieldPath, Value)] { (0..<n).map { (path($0), value($0)) } }

    func buildBatch(_ replica: inout Replica, _ ops: [(FieldPath, Value)]) -> Delta {
        var delta = Delta()
        for (p, v) in ops { try? replica.set(p, v, now: now, into: &delta) }
        return delta
    }

    func run() -> [BenchRow] {
        var rows: [BenchRow] = []
        // W1 batch.
        let ops = operations()
        let readPaths = (0..<(documents * fields)).map(path)
        var a = Replica(id: ReplicaID(1))
        var t = monotonicSeconds()
        let batch = buildBatch(&a, ops)
        var s = monotonicSeconds() - t
        rows.append(BenchRow(workload: "w1_batch", metric: "seconds", value: s, unit: "s"))
        rows.append(BenchRow(workload: "w1_batch", metric: "ops_per_s", value: Double(n) / s, unit: "ops/s"))
        rows.append(BenchRow(workload: "w1_batch", metric: "delta_bytes", value: Double(batch.encoded().count), unit: "B"))
        // W1 one change per write.
        var p = Replica(id: ReplicaID(1))
        var deltaEntries = 0
        t = monotonicSeconds()
        for (path, value) in ops {
            if let d = try? p.set(path, value, now: now) { deltaEntries &+= d.context.vector.count }
        }
        s = monotonicSeconds() - t
        rows.append(BenchRow(workload: "w1_perop", metric: "seconds", value: s, unit: "s"))
        rows.append(BenchRow(workload: "w1_perop", metric: "ops_per_s", value: Double(n) / s, unit: "ops/s"))
        // W2 encode.
        t = monotonicSeconds()
        let encoded = a.state.encoded()
        s = monotonicSeconds() - t
        rows.append(BenchRow(workload: "w2", metric: "seconds", value: s, unit: "s"))
        rows.append(BenchRow(workload: "w2", metric: "bytes", value: Double(encoded.count), unit: "B"))
        rows.append(BenchRow(workload: "w2", metric: "bytes_per_op", value: Double(encoded.count) / Double(n), unit: "B/op"))
        // W3 import into a fresh replica, then read every register.
        t = monotonicSeconds()
        var fresh = Replica(id: ReplicaID(2))
        if let decoded = try? ReplicaState(decoding: encoded) { fresh.join(decoded, now: now) }
        let importSeconds = monotonicSeconds() - t
        t = monotonicSeconds()
        var read = 0
        for p in readPaths {
            if case .register(.string(let v), _) = fresh.state.value(p) { read &+= v.utf8.count }
        }
        let readSeconds = monotonicSeconds() - t
        rows.append(BenchRow(workload: "w3", metric: "import_seconds", value: importSeconds, unit: "s"))
        rows.append(BenchRow(workload: "w3", metric: "full_read_seconds", value: readSeconds, unit: "s"))
        rows.append(BenchRow(workload: "w3", metric: "check_ok", value: read == documents * fields * 32 ? 1 : 0, unit: ""))
        rows += w4(base: a, encoded: encoded)
        rows += w5()
        return rows
    }

    /// W4: shared base, N/10 concurrent offline edits per side, catch-up both ways by version vector.
    func w4(base: Replica, encoded: [UInt8]) -> [BenchRow] {
        var a = base
        var b = Replica(id: ReplicaID(2))
        if let decoded = try? ReplicaState(decoding: encoded) { b.join(decoded, now: now) }
        let m = n / 10
        let k = documents * fields
        let editsA = (0..<m).map { (path((2 * $0) % k), value(n + $0, side: 97)) }
        let editsB = (0..<m).map { (path((3 * $0) % k), value(n + $0, side: 98)) }
        var scratch = Delta()  // the offline edits' own deltas are not shipped: the catch-up is
        for j in 0..<m {
            try? a.set(editsA[j].0, editsA[j].1, now: now + 1, into: &scratch)
            try? b.set(editsB[j].0, editsB[j].1, now: now + 1, into: &scratch)
        }
        let sync = reconcile(&a, &b, now: now + 2)
        let seconds = sync.seconds
        let total = sync.bytes
        return [
            BenchRow(workload: "w4", metric: "seconds", value: seconds, unit: "s"),
            BenchRow(workload: "w4", metric: "bytes", value: Double(total), unit: "B"),
            BenchRow(workload: "w4", metric: "bytes_per_edit", value: Double(total) / Double(2 * m), unit: "B/edit"),
            BenchRow(workload: "w4", metric: "rounds", value: 2, unit: ""),
            BenchRow(workload: "w4", metric: "check_ok", value: a.state == b.state ? 1 : 0, unit: ""),
        ]
    }

    /// W5: N adds of distinct 32-byte elements to one set, N/2 removes, encode, merge into a fresh replica.
    func w5() -> [BenchRow] {
        var r = Replica(id: ReplicaID(1))
        let field = FieldPath(collection, "set", "members")
        let elements = (0..<n).map { value($0, side: 101) }
        var delta = Delta()
        var t = monotonicSeconds()
        for e in elements { try? r.add(field, [e], now: now, into: &delta) }
        let add = monotonicSeconds() - t
        t = monotonicSeconds()
        for e in elements.prefix(n / 2) { try? r.remove(field, [e], now: now, into: &delta) }
        let remove = monotonicSeconds() - t
        t = monotonicSeconds()
        let bytes = r.state.encoded()
        let encode = monotonicSeconds() - t
        t = monotonicSeconds()
        var fresh = Replica(id: ReplicaID(2))
        if let decoded = try? ReplicaState(decoding: bytes) { fresh.join(decoded, now: now) }
        let merge = monotonicSeconds() - t
        var ok = false
        if case .set(let values) = fresh.state.value(field) { ok = values.count == n - n / 2 }
        return [
            BenchRow(workload: "w5", metric: "add_seconds", value: add, unit: "s"),
            BenchRow(workload: "w5", metric: "remove_seconds", value: remove, unit: "s"),
            BenchRow(workload: "w5", metric: "encode_seconds", value: encode, unit: "s"),
            BenchRow(workload: "w5", metric: "merge_seconds", value: merge, unit: "s"),
            BenchRow(workload: "w5", metric: "bytes", value: Double(bytes.count), unit: "B"),
            BenchRow(workload: "w5", metric: "check_ok", value: ok ? 1 : 0, unit: ""),
        ]
    }

    /// W6 child, build: the RSS growth (MiB) from an empty process to one holding the W1 state,
    /// with operations generated one at a time (nothing else stays allocated).
    func w6Build() -> Double {
        let base = residentMiB()
        var a = Replica(id: ReplicaID(1))
        var delta = Delta()
        for i in 0..<n {
            try? a.set(path(i), value(i), now: now, into: &delta)
            if i % 1024 == 0 { delta = Delta() }  // the batch's delta is shipped, not kept
        }
        delta = Delta()
        let grown = residentMiB() - base
        withExtendedLifetime(a) {}
        return grown
    }

    /// W6 child, load: the RSS growth (MiB) from reading the W1 encoding from `file` and
    /// importing it into a fresh replica (the file's bytes are released before measuring).
    func w6Load(file: String) -> Double {
        let base = residentMiB()
        var fresh = Replica(id: ReplicaID(2))
        if let bytes = readWholeFile(file), let decoded = try? ReplicaState(decoding: bytes) {
            fresh.join(decoded, now: now)
        } else {
            return -1
        }
        let grown = residentMiB() - base
        withExtendedLifetime(fresh) {}
        return grown
    }
}

/// Both replicas send their version vector (encoded as an empty state: table + vector), then
/// each sends the other the catch-up for that vector and joins the one it gets (W4's sync).
/// - Returns: the bytes of all four messages, of each catch-up, and the seconds it took.
func reconcile(_ a: inout Replica, _ b: inout Replica, now: UInt64) -> (bytes: Int, aToB: Int, bToA: Int, seconds: Double) {
    let t = monotonicSeconds()
    let vvA = ReplicaState(vectorOf: a.state).encoded()
    let vvB = ReplicaState(vectorOf: b.state).encoded()
    let aToB = a.state.delta(since: b.state.versionVector).encoded()
    let bToA = b.state.delta(since: a.state.versionVector).encoded()
    if let d = try? StateDelta(decoding: aToB) { b.join(d, now: now) }
    if let d = try? StateDelta(decoding: bToA) { a.join(d, now: now) }
    let seconds = monotonicSeconds() - t
    return (vvA.count + vvB.count + aToB.count + bToA.count, aToB.count, bToA.count, seconds)
}

/// Reads a whole file (bench helper; the store has the real I/O layer).
func readWholeFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[..<n]
    }
    return out
}

/// Writes a whole file (bench helper).
func writeWholeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    defer { fclose(f) }
    return fwrite(bytes, 1, bytes.count, f) == bytes.count
}
