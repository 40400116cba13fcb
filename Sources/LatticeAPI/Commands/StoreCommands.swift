import Foundation
import LatticeNode
import LatticeCRDT
import LatticeCrypto
import LatticeStore
import LatticeSync

#if canImport(Glibc)
    import Glibc
#endif

/// `status`, `verify`, `repair`, `compact`, `export`, `import`, and the hidden `crash-writer`.
package enum StoreCommands {
    package static let statusHelp = """
        usage: lattice status [--data DIR] [--json]

        Node ID, documents, log size and records, snapshot age, and per known peer the changes
        it has not acknowledged and the age of the oldest.
        """

    package static let verifyHelp = """
        usage: lattice verify [--data DIR] [--json]

        Checks every log record, snapshot and the watermark file without changing anything.
        Exit 0 when clean, 65 with each problem (file and byte offset) when not.
        """

    package static let repairHelp = """
        usage: lattice repair [--data DIR] [--json]

        Keeps every record with a valid checksum, moves damaged files aside (*.damaged; nothing
        is deleted), and reports lost sequence ranges.
        """

    package static let compactHelp = """
        usage: lattice compact [--data DIR] [--json]

        Writes a snapshot, then drops log segments that every live peer has acknowledged (with no
        peers known, everything the snapshot covers).
        """

    package static let exportHelp = """
        usage: lattice export [--collection C] [--data DIR]

        Writes JSON lines to stdout: one per document ({"collection", "id", "fields"}, each field
        with its kind and value, registers with every sibling's dot, origin and time), then one
        final line {"lattice_state": BASE64, …} holding the encoded CRDT state — what import uses,
        so every field kind and conflict round-trips exactly. With --collection, the state holds
        those collections' entries and their dots only (it adds, never removes, on import).
        Each erase (`lattice forget`) is a line {"erased": {"collection", "id", "field", "by",
        "time"}}: who erased what and when, never the erased content; the state carries the
        erasures, so an import purges the same content on the importing node.
        """

    package static let importHelp = """
        usage: lattice import FILE|- [--data DIR] [--json]

        Joins the state of an export (its final "lattice_state" line) into this node, durably.
        Into an empty node this reproduces the exported state exactly. Document lines are checked
        to be JSON but not used ("erased" lines too: the state carries the erasures).
        """

    package static func status(_ a: [String]) throws(CLIError) {
        let args = try Arguments("status", a)
        if args.help { return out(statusHelp) }
        try args.expect(0...0, "status")
        let paths = NodePaths(root: args.dataDirectory)
        let config = try NodeConfig.load(paths)
        let (store, identity) = try openNode(args)
        let state = store.state
        let log = store.store.log
        let nowNs = Int64(ReplicaStore.wallMilliseconds()) * 1_000_000
        let snapshot = store.store.recoveredSnapshot
        let snapAge = snapshot.map { Double(nowNs - $0.createdAtNanoseconds) / 1e9 }
        let pending: [PeerPending]
        do { pending = try store.pending() } catch { throw cliError(error) }
        let records = log.lastSequence >= log.firstSequence ? Int(log.lastSequence - log.firstSequence + 1) : 0
        if args.json {
            let peers: [JSON] = pending.map { p in
                .object([
                    ("peer", .string(p.peer)), ("expired", .bool(p.expired)), ("pending", .int(Int64(p.pending))),
                    ("oldest_sequence", p.oldestSequence.map { .uint($0) } ?? .null),
                    ("oldest_age_ms", p.oldestAgeMilliseconds.map { .uint($0) } ?? .null),
                ])
            }
            out(
                JSON.object([
                    ("node_id", .string(identity.nodeID.description)), ("name", .string(config.name)), ("fsync", .string(config.fsync)),
                    ("collections", .int(Int64(state.applicationCollections.count))),
                    ("documents", .int(Int64(state.applicationDocumentCount))),
                    ("conflicts", .int(Int64(state.conflicts().count))), ("erasures", .int(Int64(state.erasures.count))),
                    ("log_bytes", .int(log.byteCount)), ("log_records", .int(Int64(records))),
                    ("log_segments", .int(Int64(log.segments.count))), ("last_sequence", .uint(log.lastSequence)),
                    ("snapshot_sequence", snapshot.map { .uint($0.sequence) } ?? .null),
                    ("snapshot_age_s", snapAge.map { .double($0) } ?? .null),
                    ("peers", .array(peers)), ("running", .bool(Hosting.node != nil)),
                    ("discovery", .bool(Hosting.node?.discovering ?? false)), ("isolated", .bool(Hosting.node?.engine.isolated ?? false)),
                    ("data", .string(paths.root)), ("listen", Hosting.node?.listenAddress.map { .string($0.description) } ?? .null),
                    ("api", Hosting.apiAddress.map { .string($0.description) } ?? .null),
                    ("live_peers", Hosting.node.map { .array(PeerCommands.livePeers($0, pending: pending).map(\.json)) } ?? .null),
                ]).text)
        } else {
            out("node       \(identity.nodeID)\(config.name.isEmpty ? "" : "  (\(config.name))")")
            out("data       \(paths.root)  (fsync \(config.fsync))")
            let collections = state.applicationCollections.count
            let erased = state.erasures.count
            out(
                "documents  \(state.applicationDocumentCount) in \(collections) collection\(collections == 1 ? "" : "s"), \(state.conflicts().count) conflict(s)\(erased > 0 ? ", \(erased) erasure\(erased == 1 ? "" : "s")" : "")"
            )
            out("log        \(log.byteCount) bytes, \(records) records in \(log.segments.count) segment(s), last sequence \(log.lastSequence)")
            if let snapshot, let snapAge {
                out("snapshot   sequence \(snapshot.sequence), \(String(format: "%.1f", snapAge)) s old")
            } else {
                out("snapshot   none")
            }
            if let node = Hosting.node {
                out("running    yes, listening on \(node.listenAddress?.description ?? "?"), discovery \(node.discovering ? "on" : "off")")
                if let api = Hosting.apiAddress { out("page       \(StatusPage.url(api, tokenFile: paths.apiToken))") }
                let live = PeerCommands.livePeers(node, pending: pending)
                if live.isEmpty { out("peers      none known yet") }
                for r in live { for (k, line) in r.lines.enumerated() { out((k == 0 ? "peer       " : "         ") + line) } }
            } else if pending.isEmpty { out("peers      none known") }
            for p in pending where Hosting.node == nil {
                let age = p.oldestAgeMilliseconds.map { ", oldest \(String(format: "%.1f", Double($0) / 1000)) s old (#\(p.oldestSequence ?? 0))" } ?? ""
                out("peer       \(p.peer)\(p.expired ? " (expired)" : ""): \(p.pending) pending\(age)")
            }
        }
        do { try closeStore(store) } catch { throw cliError(error) }
    }

    package static func verify(_ a: [String]) throws(CLIError) {
        let args = try Arguments("verify", a)
        if args.help { return out(verifyHelp) }
        try args.expect(0...0, "verify")
        let dir = args.dataDirectory
        guard FileManager.default.fileExists(atPath: dir) else {
            throw CLIError(message: "no data directory at \(dir); run `lattice init --data \(dir)`", code: .notFound)
        }
        let report: VerifyReport
        do { report = try LatticeStore.Store.verify(at: dir) } catch { throw cliError(error) }
        if args.json {
            out(
                JSON.object([
                    ("clean", .bool(report.isClean)), ("records", .int(Int64(report.records))),
                    ("segments", .int(Int64(report.segments.count))), ("snapshots", .int(Int64(report.snapshots.count))),
                    ("torn_tail_bytes", .int(report.tornTailBytes)),
                    ("problems", .array(report.problems.map { .string($0.description) })),
                ]).text)
        } else {
            out("\(report.records) records in \(report.segments.count) segment(s), \(report.snapshots.count) snapshot(s)")
            if report.tornTailBytes > 0 { out("torn tail: \(report.tornTailBytes) bytes (never acknowledged; the next open truncates them)") }
            for p in report.problems { out("problem: \(p)") }
            out(report.isClean ? "clean" : "damaged: run `lattice repair --data \(dir)`")
        }
        if !report.isClean { throw CLIError(message: "\(report.problems.count) problem(s) found; run `lattice repair --data \(dir)`", code: .dataError) }
    }

    package static func repair(_ a: [String]) throws(CLIError) {
        let args = try Arguments("repair", a)
        if args.help { return out(repairHelp) }
        try args.expect(0...0, "repair")
        let dir = args.dataDirectory
        guard FileManager.default.fileExists(atPath: dir) else {
            throw CLIError(message: "no data directory at \(dir); check --data", code: .notFound)
        }
        let r: RepairReport
        do { r = try LatticeStore.Store.repair(at: dir) } catch { throw cliError(error) }
        let lost = r.lostRanges.map { "\($0.lowerBound)-\($0.upperBound)" }
        if args.json {
            out(
                JSON.object([
                    ("clean", .bool(r.after.isClean)), ("truncated_bytes", .int(r.truncatedBytes)),
                    ("salvaged_records", .int(Int64(r.salvagedRecords))), ("moved_aside", .array(r.movedAside.map { .string($0) })),
                    ("lost_ranges", .array(lost.map { .string($0) })),
                ]).text)
        } else {
            out("truncated \(r.truncatedBytes) torn bytes; salvaged \(r.salvagedRecords) records")
            for m in r.movedAside { out("moved aside: \(m)") }
            if !lost.isEmpty { out("lost sequences: \(lost.joined(separator: ", "))") }
            out(r.after.isClean ? "clean" : "still damaged: \(r.after.problems.first.map { "\($0)" } ?? "")")
        }
        if !r.after.isClean { throw CLIError(message: "repair could not clean the directory; keep a copy and report it", code: .dataError) }
    }

    package static func compact(_ a: [String]) throws(CLIError) {
        let args = try Arguments("compact", a)
        if args.help { return out(compactHelp) }
        try args.expect(0...0, "compact")
        let (store, _) = try openNode(args)
        do {
            let (snap, report) = try store.compact()
            try closeStore(store)
            if args.json {
                return out(
                    JSON.object([
                        ("snapshot_sequence", .uint(snap)), ("removed_segments", .int(Int64(report.removedSegments.count))),
                        ("removed_bytes", .int(report.removedBytes)), ("first_sequence", .uint(report.firstSequence)),
                    ]).text)
            }
            out("snapshot at \(snap); removed \(report.removedSegments.count) segment(s), \(report.removedBytes) bytes; log starts at \(report.firstSequence)")
        } catch { throw cliError(error) }
    }

    package static func export(_ a: [String]) throws(CLIError) {
        let args = try Arguments("export", a, valued: ["--collection"])
        if args.help { return out(exportHelp) }
        try args.expect(0...0, "export [--collection C]")
        let (store, _) = try openNode(args)
        var state = store.state
        var chosen = state.applicationCollections
        if let only = args.values["--collection"] {
            var set = Set<Key>()
            for name in only { set.insert(try DocumentCommands.collectionName(name)) }
            chosen = chosen.filter { set.contains($0) }
            state = state.restricted(to: set)
        }
        for c in chosen {
            // Streamed from the store's sorted ID index (no sort per export).
            store.indexes.forEachDocument(in: c, of: store.state) { id, doc in
                out(documentJSONText(c, id, doc))
                return true
            }
        }
        // Who erased what, and when (never the content).
        for e in state.erasures {
            out(
                JSON.object([
                    (
                        "erased",
                        .object([
                            ("collection", .string(e.target.string)), ("id", .string(e.document.string)),
                            ("field", e.field.map { .string($0.string) } ?? .null),
                            ("by", .string(replicaHex(ReplicaID.node(ofScoped: e.tag.dot.replica, in: Erasure.collection)))),
                            ("time", .string(stampText(e.tag.stamp))),
                        ])
                    )
                ]).text)
        }
        out(
            JSON.object([
                ("lattice_state", .string(Data(state.encoded()).base64EncodedString())), ("format", .int(1)),
                ("collections", .array(chosen.map { .string($0.string) })),
                ("partial", .bool(args.values["--collection"] != nil)),
            ]).text)
        do { try closeStore(store) } catch { throw cliError(error) }
    }

    package static func importState(_ a: [String]) throws(CLIError) {
        let args = try Arguments("import", a)
        if args.help { return out(importHelp) }
        try args.expect(1...1, "import FILE|-")
        let data = try readInput(args.positional[0])
        let text = String(decoding: data, as: UTF8.self)
        var states: [ReplicaState] = []
        var documents = 0
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw CLIError(message: "import: line \(lineNumber) is not a JSON object; give the output of `lattice export`", code: .dataError)
            }
            if let b64 = object["lattice_state"] as? String {
                guard let bytes = Data(base64Encoded: b64) else {
                    throw CLIError(message: "import: line \(lineNumber): lattice_state is not base64", code: .dataError)
                }
                do { states.append(try ReplicaState(decoding: [UInt8](bytes))) } catch {
                    throw CLIError(message: "import: line \(lineNumber): lattice_state does not decode (\(error)); re-export it", code: .dataError)
                }
            } else if object["collection"] is String, object["id"] is String {
                documents += 1
            } else if object["erased"] is [String: Any] {
                continue  // the state line carries the erasures
            } else {
                throw CLIError(message: "import: line \(lineNumber) is neither a document nor a lattice_state line", code: .dataError)
            }
        }
        guard !states.isEmpty else {
            throw CLIError(
                message: "import: no lattice_state line found; export with `lattice export` (the last line carries the state)", code: .dataError)
        }
        let (store, _) = try openNode(args)
        var sequence: UInt64 = 0
        do {
            let now = ReplicaStore.wallMilliseconds()
            for s in states {
                let catchUp = s.delta(since: VersionVector())
                let before = store.state.context
                sequence = try store.integrate(catchUp: catchUp, now: now)
                try store.flush()
                Hosting.node?.imported(catchUp, before: before)
            }
            try closeStore(store)
        } catch { throw cliError(error) }
        if args.json {
            return out(JSON.object([("ok", .bool(true)), ("documents", .int(Int64(documents))), ("sequence", .uint(sequence))]).text)
        }
        out("imported \(documents) document(s)")
    }

    /// Hidden: commits changes in a loop, printing each acknowledged change's ID (line-buffered)
    /// only after `commit` returned, i.e. after the change is durable; with `--compact-every N`
    /// it snapshots and compacts every N changes. Used by the crash test.
    package static func crashWriter(_ a: [String]) throws(CLIError) {
        let args = try Arguments("crash-writer", a, valued: ["--count", "--prefix", "--compact-every", "--segment-size"])
        let limit = Int(args.value("--count") ?? "") ?? Int.max
        let compactEvery = Int(args.value("--compact-every") ?? "") ?? 0
        let prefix = args.value("--prefix") ?? "w\(getpid())"
        let segmentSize = Int(args.value("--segment-size") ?? "").map { max(4096, $0) }
        let (store, _) = try openNode(args, segmentSize: segmentSize)
        var i = 0
        while i < limit {
            let id = "\(prefix)-\(i)"
            let now = ReplicaStore.wallMilliseconds()
            do {
                try store.commit { replica, delta in
                    try replica.set(FieldPath("crash", Key(id), "n"), .int(Int64(i)), now: now, into: &delta)
                    if i % 7 == 0 { try replica.increment(FieldPath("crash", "counter", "n"), by: 1, now: now, into: &delta) }
                }
            } catch { throw cliError(error) }
            // The ID, then where the acknowledged part of the log ends (the crash test damages
            // only what lies after it: the unacknowledged tail a power cut may tear).
            let end = store.store.log.segments.last.map { "\t\($0.path)\t\($0.bytes)" } ?? ""
            print(id + end)
            flushOut()
            i += 1
            if compactEvery > 0, i % compactEvery == 0 {
                do { try store.compact() } catch { throw cliError(error) }
            }
        }
        do { try closeStore(store) } catch { throw cliError(error) }
    }
}
