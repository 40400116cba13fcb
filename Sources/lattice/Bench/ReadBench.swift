import LatticeAPI
import LatticeCRDT

/// `lattice bench --only read`: reading a replica of many documents as `ls` and `export` do —
/// plain reads of every field's value, and every document rendered as `export` prints it.
struct ReadBench {
    let documents: Int

    /// A knowledge-like replica: topic, title and body registers, a confidence number, a tag set
    /// and a counter per document.
    func build() -> ReplicaState {
        var r = Replica(id: ReplicaID(0xBE_AD))
        var delta = Delta()
        let now: UInt64 = 1_763_800_000_000
        for d in 0..<documents {
            let id = Key("k\(d)")
            func path(_ f: String) -> FieldPath { FieldPath("knowledge", id, Key(f)) }
            try? r.set(path("topic"), .string("topic\(d % 97)"), now: now, into: &delta)
            try? r.set(path("title"), .string("Title of knowledge item \(d)"), now: now, into: &delta)
            try? r.set(path("body"), .string("A body of about eighty characters of prose for item \(d), as assistants write."), now: now, into: &delta)
            try? r.set(path("confidence"), .double(Double(d % 100) / 100), now: now, into: &delta)
            try? r.add(path("tags"), [.string("t\(d % 13)"), .string("t\(d % 7)")], now: now, into: &delta)
            try? r.increment(path("used"), by: 1, now: now, into: &delta)
        }
        return r.state
    }

    func run() -> [BenchRow] {
        var rows: [BenchRow] = []
        func row(_ w: String, _ m: String, _ v: Double, _ u: String) { rows.append(BenchRow(workload: w, metric: m, value: v, unit: u)) }
        let state = build()
        row("read", "documents", Double(documents), "docs")

        var t = monotonicSeconds()
        var fields = 0
        for c in state.collections {
            for id in state.documentIDs(in: c) {
                guard let doc = state.document(c, id) else { continue }
                for f in doc.fields.values where f.value != nil { fields += 1 }
            }
        }
        var seconds = monotonicSeconds() - t
        row("read_plain", "seconds", seconds, "s")
        row("read_plain", "docs_per_s", Double(documents) / seconds, "docs/s")
        row("read_plain", "check_ok", fields == documents * 6 ? 1 : 0, "")

        t = monotonicSeconds()
        var bytes = 0
        for c in state.collections {
            for id in state.documentIDs(in: c) {
                guard let doc = state.document(c, id) else { continue }
                bytes += documentJSON(c, id, doc).text.utf8.count + 1
            }
        }
        seconds = monotonicSeconds() - t
        row("read_export", "seconds", seconds, "s")
        row("read_export", "docs_per_s", Double(documents) / seconds, "docs/s")
        row("read_export", "bytes_per_doc", Double(bytes) / Double(documents), "B")
        return rows
    }
}
