import Foundation
import LatticeCRDT

#if canImport(Glibc)
    import Glibc
#endif

/// `lattice bench --only text`: the editing trace of `EditingTrace` replayed as local edits,
/// encoded, loaded, and a two-author divergence reconciled (the same work as
/// `Tests/Bench/peers_text.py` gives Yrs, Loro and Automerge).
struct TextBench {
    let ops: Int
    let path = FieldPath("bench", "doc", "body")
    let now: UInt64 = 1_763_800_000_000

    /// Replays `trace` on `replica`; one delta for everything (`batch`) or one per operation.
    func replay(_ replica: inout Replica, _ trace: [EditingTrace.Op], batch: Bool) {
        var delta = Delta()
        for op in trace {
            if !batch { delta = Delta() }
            if op.insert {
                try? replica.insertText(path, at: op.position, String(Unicode.Scalar(op.char)), now: now, into: &delta)
            } else {
                try? replica.deleteText(path, at: op.position, count: 1, now: now, into: &delta)
            }
        }
        withExtendedLifetime(delta) {}
    }

    func string(_ state: ReplicaState) -> String {
        if case .text(let s)? = state.value(path) { return s }
        return ""
    }

    func run() -> [BenchRow] {
        var rows: [BenchRow] = []
        func row(_ w: String, _ m: String, _ v: Double, _ u: String) { rows.append(BenchRow(workload: w, metric: m, value: v, unit: u)) }
        let trace = EditingTrace.generate(seed: EditingTrace.seed, ops: ops)
        let expected = EditingTrace.apply(trace)
        row("text", "ops", Double(ops), "ops")
        row("text", "trace_hash_low32", Double(EditingTrace.hash(trace) & 0xFFFF_FFFF), "")
        row("text", "final_length", Double(expected.count), "chars")

        var a = Replica(id: ReplicaID(1))
        var t = monotonicSeconds()
        replay(&a, trace, batch: true)
        let batchSeconds = monotonicSeconds() - t
        let ok = Array(string(a.state).utf8) == expected
        row("text_replay_batch", "seconds", batchSeconds, "s")
        row("text_replay_batch", "ops_per_s", Double(ops) / batchSeconds, "ops/s")
        row("text_replay_batch", "check_ok", ok ? 1 : 0, "")

        var p = Replica(id: ReplicaID(1))
        t = monotonicSeconds()
        replay(&p, trace, batch: false)
        let perOpSeconds = monotonicSeconds() - t
        row("text_replay_perop", "seconds", perOpSeconds, "s")
        row("text_replay_perop", "ops_per_s", Double(ops) / perOpSeconds, "ops/s")
        row("text_replay_perop", "check_ok", p.state == a.state || Array(string(p.state).utf8) == expected ? 1 : 0, "")

        t = monotonicSeconds()
        let encoded = a.state.encoded()
        row("text_encode", "seconds", monotonicSeconds() - t, "s")
        row("text_encode", "bytes", Double(encoded.count), "B")
        row("text_encode", "bytes_per_op", Double(encoded.count) / Double(ops), "B/op")
        t = monotonicSeconds()
        let decoded = try? ReplicaState(decoding: encoded)
        let importSeconds = monotonicSeconds() - t
        t = monotonicSeconds()
        let loaded = decoded.map(string) ?? ""
        let readSeconds = monotonicSeconds() - t
        row("text_load", "import_seconds", importSeconds, "s")
        row("text_load", "read_seconds", readSeconds, "s")
        row("text_load", "total_seconds", importSeconds + readSeconds, "s")
        row("text_load", "check_ok", Array(loaded.utf8) == expected ? 1 : 0, "")
        // What loading defers: the runs are built on the first edit (TextSequence+Load.swift).
        if let decoded {
            var editor = Replica(id: ReplicaID(3), state: decoded)
            let middle = loaded.unicodeScalars.count / 2
            t = monotonicSeconds()
            let edited = (try? editor.insertText(path, at: middle, "!", now: now)) != nil
            row("text_load", "first_edit_seconds", monotonicSeconds() - t, "s")
            row("text_load", "first_edit_ok", edited && string(editor.state).unicodeScalars.count == middle * 2 + (loaded.unicodeScalars.count % 2) + 1 ? 1 : 0, "")
        }

        rows += concurrent(trace)
        rows += memoryRows(encoded)
        return rows
    }

    /// Two authors share the first half of the trace, each makes a quarter more offline, then
    /// both exchange version vectors and catch-ups (as W4 does for registers).
    func concurrent(_ trace: [EditingTrace.Op]) -> [BenchRow] {
        var a = Replica(id: ReplicaID(1))
        replay(&a, Array(trace[..<(trace.count / 2)]), batch: true)
        var b = Replica(id: ReplicaID(2))
        if let s = try? ReplicaState(decoding: a.state.encoded()) { b.join(s, now: now) }
        let length = string(a.state).unicodeScalars.count
        let ta = EditingTrace.generate(seed: EditingTrace.seed + 1, ops: trace.count / 4, length: length, cursor: length / 2)
        let tb = EditingTrace.generate(seed: EditingTrace.seed + 2, ops: trace.count / 4, length: length, cursor: length / 3)
        replay(&a, ta, batch: false)
        replay(&b, tb, batch: false)
        // Both may delete the same base character, so the merged length lies between "every
        // deletion distinct" and "every deletion of the smaller side shared".
        let insertsA = ta.filter(\.insert).count
        let insertsB = tb.filter(\.insert).count
        let minLength = length + 2 * insertsA - ta.count + 2 * insertsB - tb.count
        let maxLength = length + insertsA + insertsB - max(ta.count - insertsA, tb.count - insertsB)
        let sync = reconcile(&a, &b, now: now + 2)
        let sa = string(a.state)
        let ok = sa == string(b.state) && (minLength...maxLength).contains(sa.unicodeScalars.count) && a.state == b.state
        if !ok, getenv("LATTICE_BENCH_DEBUG") != nil {
            print("debug: strings equal \(sa == string(b.state)), length \(sa.unicodeScalars.count) vs \(minLength)...\(maxLength) / b \(string(b.state).unicodeScalars.count), states equal \(a.state == b.state)")
        }
        return [
            BenchRow(workload: "text_concurrent", metric: "sync_seconds", value: sync.seconds, unit: "s"),
            BenchRow(workload: "text_concurrent", metric: "bytes", value: Double(sync.bytes), unit: "B"),
            BenchRow(workload: "text_concurrent", metric: "a_to_b_bytes", value: Double(sync.aToB), unit: "B"),
            BenchRow(workload: "text_concurrent", metric: "b_to_a_bytes", value: Double(sync.bToA), unit: "B"),
            BenchRow(workload: "text_concurrent", metric: "check_ok", value: ok ? 1 : 0, unit: ""),
        ]
    }

    /// RSS held after the replay and after a load, each in a fresh child process.
    func memoryRows(_ encoded: [UInt8]) -> [BenchRow] {
        let file = "/tmp/lattice-bench-text-\(getpid()).bin"
        _ = writeWholeFile(file, encoded)
        defer { unlink(file) }
        var rows: [BenchRow] = []
        for mode in ["replay", "load"] {
            var value = -1.0
            var exe = [CChar](repeating: 0, count: 4096)
            let len = readlink("/proc/self/exe", &exe, exe.count - 1)
            let binary = len > 0 ? stringFromCBuffer(exe) : CommandLine.arguments[0]
            if let pipe = popen("'\(binary)' bench-text-rss \(mode) \(ops) \(file)", "r") {
                var line = [CChar](repeating: 0, count: 128)
                if fgets(&line, 128, pipe) != nil { value = Double(stringFromCBuffer(line).trimmingWhitespace()) ?? -1 }
                pclose(pipe)
            }
            rows.append(BenchRow(workload: "text_memory", metric: "rss_\(mode)_mib", value: value, unit: "MiB"))
        }
        return rows
    }

    /// The child of `memoryRows`: RSS growth (MiB) of holding the replayed or loaded document.
    func rssChild(mode: String, file: String) -> Double {
        let trace = mode == "replay" ? EditingTrace.generate(seed: EditingTrace.seed, ops: ops) : []
        let base = residentMiB()
        var r = Replica(id: ReplicaID(3))
        if mode == "replay" {
            replay(&r, trace, batch: false)
        } else {
            guard let bytes = readWholeFile(file), let s = try? ReplicaState(decoding: bytes) else { return -1 }
            r.join(s, now: now)
            _ = string(r.state)
        }
        let grown = residentMiB() - base
        withExtendedLifetime(r) {}
        return grown
    }
}
