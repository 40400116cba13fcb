import LatticeAPI
import LatticeCRDT
import LatticeSimulation

#if canImport(Glibc)
    import Glibc
#endif

/// `lattice bench`: the benchmark workloads (moved unchanged from main.swift).
func runBench(_ args: ArraySlice<String>) throws(CLIError) {
    var n = 100_000
    var json = false
    var quick = false
    var groups: Set<String> = ["crdt", "store", "crypto"]  // sim only on request
    var it = args.makeIterator()
    while let arg = it.next() {
        switch arg {
        case "--json": json = true
        case "--quick": quick = true
        case "--net": groups = ["net"]
        case "--text": groups = ["text"]
        case "--only":
            let allowed: Set<String> = ["crdt", "text", "read", "query", "store", "crypto", "sim", "net"]
            guard let v = it.next() else { throw CLIError(message: "--only takes a list such as crdt,store,crypto") }
            let chosen = Set(v.split(separator: ",").map(String.init))
            guard !chosen.isEmpty, chosen.isSubset(of: allowed) else {
                throw CLIError(message: "--only takes a comma-separated list of crdt, text, read, query, store, crypto, sim, net (got '\(v)')")
            }
            groups = chosen
        case "--n":
            guard let v = it.next(), let parsed = Int(v), parsed >= 10_000, parsed <= 10_000_000 else {
                throw CLIError(message: "--n takes a whole number from 10000 to 10000000, for example --n 100000")
            }
            n = parsed
        case "--help", "-h":
            print(
                """
                usage: lattice bench [--n N] [--only crdt,text,read,query,store,crypto,sim,net] [--net] [--text] [--quick] [--json]

                  crdt    the workloads of shared/bench/WORKLOADS.md (W1–W6), N operations (default 100000)
                  text    the editing trace (Tests/Bench/peers_text.py): 260,000 single-character edits
                          replayed as one batch and one change per edit, encoded size, load + read,
                          RSS, and a two-author divergence reconciled (--text = --only text;
                          --quick: 20,000 edits)
                  read    200,000 knowledge documents read as `ls` and `export` do: plain reads of every
                          field, and every document rendered as `export` prints it (docs/s; not in
                          the default set; --quick: 20,000)
                  query   1,000,000 memories in a store: selective queries as `ls --where` answers them
                          (p50/max ms), index builds, and the cost the indexes add to a write (not in
                          the default set; --quick: 100,000)
                  store   durable appends/s (fsync batch and always), log bytes per record, reopen of 1M records
                  crypto  seal/open MB/s at 64 B, 1 KiB, 64 KiB next to raw libsodium; handshakes/s
                  sim     simulator (virtual time): time, messages and bytes to converge for N = 2…512 nodes
                          on full, ring and random topologies; bytes to reconcile a 10k-change divergence
                          (not in the default set; --quick stops at N = 32)
                  net     two nodes in this process on 127.0.0.1, encrypted, durable on both sides:
                          write-to-visible latency p50/p99/max, sustained replicated changes/s,
                          wire bytes per change (not in the default set; --net = --only net)
                  --quick smaller store, crypto, sim and net runs
                """)
            return
        default: throw CLIError(message: "bench: unknown option '\(arg)'; see lattice bench --help")
        }
    }
    var rows: [BenchRow] = []
    if groups.contains("crdt") {
        rows += CRDTBench(n: n).run()
        rows += w6Rows(n: n)
    }
    if groups.contains("text") { rows += TextBench(ops: quick ? 20_000 : 260_000).run() }
    if groups.contains("read") { rows += ReadBench(documents: quick ? 20_000 : 200_000).run() }
    if groups.contains("query") {
        rows += QueryBench(documents: quick ? 100_000 : 1_000_000, directory: "/tmp/lattice-bench-query-\(getpid())").run()
    }
    if groups.contains("store") {
        let dir = "/tmp/lattice-bench-store-\(getpid())"
        rows += storeBenchRows(quick: quick, directory: dir)
    }
    if groups.contains("crypto") { rows += cryptoBenchRows(quick: quick) }
    if groups.contains("sim") { rows += try simBenchRows(quick: quick) }
    if groups.contains("net") { rows += try netBenchRows(quick: quick) }
    printBench(rows, n: n, json: json)
}

/// W6 runs in child processes so that each RSS figure starts from a clean heap.
func w6Rows(n: Int) -> [BenchRow] {
    var rows: [BenchRow] = []
    // The W1 encoding, for the load child.
    let bench = CRDTBench(n: n)
    var a = Replica(id: ReplicaID(1))
    _ = bench.buildBatch(&a, bench.operations())
    let file = "/tmp/lattice-bench-w6-\(getpid()).bin"
    _ = writeWholeFile(file, a.state.encoded())
    defer { unlink(file) }
    for mode in ["build", "load"] {
        var value = -1.0
        var path = [CChar](repeating: 0, count: 4096)
        let len = readlink("/proc/self/exe", &path, path.count - 1)
        let exe = len > 0 ? stringFromCBuffer(path) : CommandLine.arguments[0]
        let command = "'\(exe)' bench-w6 \(mode) \(n) \(file)"
        if let pipe = popen(command, "r") {
            var line = [CChar](repeating: 0, count: 128)
            if fgets(&line, 128, pipe) != nil {
                let text = stringFromCBuffer(line).trimmingWhitespace()
                value = Double(text) ?? -1
            }
            pclose(pipe)
        }
        rows.append(BenchRow(workload: "w6", metric: "rss_\(mode)_mib", value: value, unit: "MiB"))
    }
    return rows
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

func printBench(_ rows: [BenchRow], n: Int, json: Bool) {
    if json {
        var workloads: [String: [(String, Double)]] = [:]
        var order: [String] = []
        for r in rows {
            if workloads[r.workload] == nil { order.append(r.workload) }
            workloads[r.workload, default: []].append((r.metric, r.value))
        }
        let body = order.map { w in
            "\"\(w)\": {" + (workloads[w] ?? []).map { "\"\($0.0)\": \(formatJSON($0.1))" }.joined(separator: ", ") + "}"
        }.joined(separator: ", ")
        print("{\"n\": \(n), \"machine\": \"\(machineDescription())\", \"workloads\": {\(body)}}")
        return
    }
    print("lattice bench — N = \(n), \(machineDescription())")
    print(pad("workload", 18) + pad("metric", 22) + "value")
    for r in rows { print(pad(r.workload, 18) + pad(r.metric, 22) + formatHuman(r.value) + " " + r.unit) }
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

func formatJSON(_ v: Double) -> String {
    if v.isNaN || v.isInfinite { return "null" }
    return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
}

func formatHuman(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
    if abs(v) >= 100 { return String(Int64(v.rounded())) }
    let scaled = (v * 10_000).rounded() / 10_000
    return String(scaled)
}

func machineDescription() -> String {
    var u = utsname()
    uname(&u)
    let machine = withUnsafeBytes(of: u.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    return "\(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cpu \(machine) Linux"
}


/// `--only sim`: the simulator's scaling and divergence figures.
func simBenchRows(quick: Bool) throws(CLIError) -> [BenchRow] {
    var rows: [BenchRow] = []
    let sizes = quick ? [2, 8, 32] : [2, 8, 32, 128, 512]
    for topology in Topology.allCases {
        for n in sizes {
            if topology == .full && n > 128 { continue }  // 130k sessions: see Docs/PERFORMANCE.md
            let r = SimulationBench.scaling(nodes: n, topology: topology)
            let key = "sim_\(topology.rawValue)_\(n)"
            rows.append(BenchRow(workload: key, metric: "converge_ms", value: Double(r.convergeMs ?? 0), unit: "ms"))
            rows.append(BenchRow(workload: key, metric: "messages", value: Double(r.messages), unit: "msgs"))
            rows.append(BenchRow(workload: key, metric: "bytes_per_node_change", value: r.bytesPerNodePerChange, unit: "B"))
        }
    }
    do {
        let d = try SimulationBench.divergence(changes: 10_000)
        rows.append(BenchRow(workload: "sim_divergence_10k", metric: "wire_bytes", value: Double(d.wire), unit: "B"))
        rows.append(BenchRow(workload: "sim_divergence_10k", metric: "floor_bytes", value: Double(d.floor), unit: "B"))
        rows.append(BenchRow(workload: "sim_divergence_10k", metric: "ratio", value: Double(d.wire) / Double(max(d.floor, 1)), unit: "x"))
    } catch {
        throw CLIError(message: "bench sim: \(error)", code: .failure)
    }
    return rows
}
