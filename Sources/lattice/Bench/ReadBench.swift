import Glibc
import LatticeAPI
import LatticeCRDT
import LatticeStore

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
        // The store's sorted ID index, as `ls`, `export` and the API's listings walk it (built
        // on the first listing, then kept up to date; the build is reported on its own).
        let indexes = QueryIndexes()
        var t = monotonicSeconds()
        _ = indexes.documentIDs(in: "knowledge", of: state, limit: 1)
        row("read_index_build", "seconds", monotonicSeconds() - t, "s")
        guard let sink = fopen("/dev/null", "w") else { return rows }
        defer { fclose(sink) }

        // `ls`: every ID streamed to a file as `ls` writes it (`out`, C's buffered stdout).
        t = monotonicSeconds()
        var listed = 0
        indexes.forEachID(in: "knowledge", of: state) { id in
            writeLine(id.string, to: sink)
            listed += 1
            return true
        }
        fflush(sink)
        var seconds = monotonicSeconds() - t
        row("read_ls", "docs_per_s", Double(listed) / seconds, "docs/s")
        row("read_ls", "check_ok", listed == documents ? 1 : 0, "")

        // Plain reading: every document from the index, every field's read value.
        t = monotonicSeconds()
        var fields = 0
        indexes.forEachDocument(in: "knowledge", of: state) { _, doc in
            for f in doc.fields.values where f.value != nil { fields += 1 }
            return true
        }
        seconds = monotonicSeconds() - t
        row("read_plain", "seconds", seconds, "s")
        row("read_plain", "docs_per_s", Double(documents) / seconds, "docs/s")
        row("read_plain", "check_ok", fields == documents * 6 ? 1 : 0, "")

        // Rendered as `export` prints it, to the same sink.
        t = monotonicSeconds()
        var bytes = 0
        indexes.forEachDocument(in: "knowledge", of: state) { id, doc in
            let line = documentJSONText("knowledge", id, doc)
            bytes += line.utf8.count + 1
            writeLine(line, to: sink)
            return true
        }
        fflush(sink)
        seconds = monotonicSeconds() - t
        row("read_export", "seconds", seconds, "s")
        row("read_export", "docs_per_s", Double(documents) / seconds, "docs/s")
        row("read_export", "bytes_per_doc", Double(bytes) / Double(documents), "B")
        return rows
    }
}
