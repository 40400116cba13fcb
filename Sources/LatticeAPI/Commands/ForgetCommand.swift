import LatticeCRDT
import LatticeStore

/// `forget`: a synced erase of a document or one field (Docs/SECURITY.md §10).
package enum ForgetCommand {
    package static let help = """
        usage: lattice forget COLLECTION ID [FIELD] [--data DIR] [--json]

        Erases a document (or one field of it) for good, here and on every peer the erase
        reaches: its content is purged from the log segments, snapshots, history and change
        feed (each file rewritten crash-safely), and a change that still carries it and arrives
        later (from a peer that was offline) is purged on arrival. Writes made after the erase
        are new content and stay. `history` and `export` show that an erase happened (who,
        when), never what was erased. A deleted (`rm`) document can be forgotten too: its
        content is still in the log until then.
        Exit 2 when the document (or field) is neither in the state nor in the log.
        """

    package static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments("forget", a)
        if args.help { return out(help) }
        try args.expect(2...3, "forget COLLECTION ID [FIELD]")
        let (collection, id) = try DocumentCommands.names(args)
        var field: Key?
        if args.positional.count == 3 {
            guard !args.positional[2].isEmpty else { throw CLIError(message: "forget: FIELD must not be empty (omit it to forget the whole document)") }
            field = Key(args.positional[2])
        }
        let (store, _) = try openNode(args)
        let target = field.map { "\(collection)/\(id).\($0)" } ?? "\(collection)/\(id)"

        // What is here to forget: the state, or changes in the log (a deleted document's content).
        let entries: [HistoryEntry]
        do { entries = try store.history(collection, id) } catch { throw cliError(error) }
        let written = entries.filter { e in e.kind != "erase" && e.kind != "erased" && (field.map { e.fields.contains($0.string) } ?? true) }
        let present: Bool
        if let field {
            present = store.state.document(collection, id)?.fields[field]?.value != nil
        } else {
            present = store.state.document(collection, id) != nil
        }
        if !present && written.isEmpty {
            let earlier = store.state.erasures(of: collection, id).filter { field == nil || $0.field == nil || $0.field == field }
            if let last = earlier.last {
                // Forgotten before, and nothing written since: the erase already covers it.
                if args.json {
                    return out(JSON.object([("ok", .bool(true)), ("already", .bool(true)), ("erased_at", .string(stampText(last.tag.stamp)))]).text)
                }
                return out("\(target) was already forgotten (at \(stampText(last.tag.stamp))); nothing of it is left here")
            }
            if let field, store.state.document(collection, id) != nil {
                throw CLIError(message: "\(collection)/\(id) has no field '\(field)'; see `lattice get \(collection) \(id)`", code: .notFound)
            }
            if store.state.store[collection] == nil && entries.isEmpty {
                let names = store.state.applicationCollections.map(\.string).joined(separator: ", ")
                throw CLIError(message: "no collection '\(collection)' on this node (collections: \(names.isEmpty ? "none" : names))", code: .notFound)
            }
            throw CLIError(message: "\(target) is neither in the state nor in the log; list documents with `lattice ls \(collection)`", code: .notFound)
        }

        let result = try DocumentCommands.commit(store, deferrable: false) { replica, delta, now in
            replica.erase(collection, id, field: field, now: now, into: &delta)
        }
        let records = store.lastPurge?.log.records ?? 0
        let segments = store.lastPurge?.log.segments ?? 0
        let snapshots = store.lastPurge?.snapshots ?? 0
        if args.json {
            return out(
                JSON.object(
                    DocumentCommands.resultFields(result) + [
                        ("purged_records", .int(Int64(records))), ("rewritten_segments", .int(Int64(segments))),
                        ("rewritten_snapshots", .int(Int64(snapshots))),
                    ]
                ).text)
        }
        out(
            "forgot \(target): \(records) log record\(records == 1 ? "" : "s") purged in \(segments) segment\(segments == 1 ? "" : "s"), \(snapshots) snapshot\(snapshots == 1 ? "" : "s") rewritten"
        )
    }
}
