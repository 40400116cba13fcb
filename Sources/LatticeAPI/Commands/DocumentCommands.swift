import Foundation
import LatticeNode
package import LatticeCRDT
package import LatticeStore

/// `put`, `get`, `ls`, `rm`, `set`, `incr`, `conflicts`, `resolve`, `history`.
package enum DocumentCommands {
    package static let putHelp = """
        usage: lattice put COLLECTION ID field=value … [--data DIR] [--json]

        Writes register fields of a document (creating it if needed). Values:
          field=text          a string (everything after the first '=')
          field:=JSON         a JSON scalar: 42, -7, 1.5, true, false, null, "quoted"
          field:b64=BASE64    bytes, base64-encoded
        Each write supersedes every value of that field this node has seen.
        """

    package static let getHelp = """
        usage: lattice get COLLECTION ID [--data DIR] [--json]

        Prints a document's fields: registers (with every sibling when concurrent writes
        conflict, each with its dot, origin replica and HLC time), sets and counters.
        Exit 2 when the document does not exist.
        """

    package static let lsHelp = """
        usage: lattice ls COLLECTION [--where COND]… [--order FIELD [--desc]] [--prefix P] [--after ID]
                                     [--limit N] [--docs] [--data DIR] [--json]

        Lists the document IDs of a collection (byte order); --prefix keeps IDs starting with P.
        Paging: --limit N lists at most N; --after ID starts after ID (pass the last ID listed).
        Queries (answered from indexes; several --where must all hold):
          --where FIELD=TEXT      a register that reads as this string (FIELD:=JSON for 42, 1.5, true)
          --where FIELD>NUM       a numeric register above NUM (also <, >=, <=)
          --where FIELD~a,b,c     a set holding any of the elements (also written FIELD∈a,b,c)
          --order FIELD [--desc]  by a register: numbers numerically, strings by bytes, documents
                                  lacking it last, ties by ID (not with --after: page with --limit)
          --docs                  print the documents (as `export` does), not only their IDs
        Exit 2 for an unknown collection or a field no document holds; 64 for a malformed condition.
        """

    package static let rmHelp = """
        usage: lattice rm COLLECTION ID [--data DIR] [--json]

        Deletes a document (a concurrent update made elsewhere survives). Exit 2 if absent.
        """

    package static let setHelp = """
        usage: lattice set add|rm COLLECTION ID FIELD VALUE… [--data DIR] [--json]

        Adds elements to or removes them from a set field (add wins over a concurrent remove).
        VALUE is text, or :=JSON for a JSON scalar, or :b64=BASE64 for bytes.
        """

    package static let incrHelp = """
        usage: lattice incr COLLECTION ID FIELD [N] [--data DIR] [--json]

        Adds N (default 1) to a counter field; a negative N (for example -3) decrements.
        """

    package static let conflictsHelp = """
        usage: lattice conflicts [--data DIR] [--json]

        Lists every field that holds concurrent values (register siblings, or entries of several
        kinds), with each sibling's value, dot, origin replica and HLC time.
        """

    package static let resolveHelp = """
        usage: lattice resolve COLLECTION ID FIELD VALUE [--data DIR] [--json]

        Writes VALUE to the field, superseding every sibling this node has seen.
        VALUE is text, or :=JSON for a JSON scalar, or :b64=BASE64 for bytes.
        """

    package static let historyHelp = """
        usage: lattice history COLLECTION ID [--data DIR] [--json]

        Lists every change in the log that touched the document, oldest first: log sequence,
        local/remote, origin replica, dots and HLC time (removals carry no time). Changes already
        compacted into a snapshot are not listed.
        """

    package static func put(_ a: [String]) throws(CLIError) {
        let args = try Arguments("put", a)
        if args.help { return out(putHelp) }
        guard args.positional.count >= 3 else {
            throw CLIError(message: "usage: lattice put COLLECTION ID field=value … (see lattice put --help)")
        }
        let (collection, id) = try names(args)
        var assignments: [(String, Value)] = []
        for text in args.positional.dropFirst(2) { assignments.append(try parseAssignment(text)) }
        let (store, _) = try openNode(args)
        let result = try commit(store) { replica, delta, now in
            for (name, value) in assignments {
                let path = FieldPath(collection, id, Key(name))
                if case .string(let string) = value, replica.state.field(path)?.kind == .text {
                    // A string put into a text field replaces the whole text (as a text edit).
                    try replica.replaceText(path, with: string, now: now, into: &delta)
                } else {
                    try replica.set(path, value, now: now, into: &delta)
                }
            }
        }
        report(args, result, "wrote \(assignments.count) field\(assignments.count == 1 ? "" : "s") of \(collection)/\(id)")
    }

    package static func get(_ a: [String]) throws(CLIError) {
        let args = try Arguments("get", a)
        if args.help { return out(getHelp) }
        try args.expect(2...2, "get COLLECTION ID")
        let (collection, id) = try names(args)
        let (store, _) = try openNode(args)
        guard let doc = store.state.document(collection, id), !doc.isEmpty else {
            throw CLIError(message: "\(collection)/\(id) does not exist; list documents with `lattice ls \(collection)`", code: .notFound)
        }
        if args.json {
            // The cursor to follow the change feed from: every change after it is newer than this read.
            guard case .object(let fields) = documentJSON(collection, id, doc) else { return }
            return out(JSON.object(fields + [("cursor", .uint(store.store.log.lastSequence))]).text)
        }
        out("\(collection)/\(id)")
        for name in doc.fieldNames {
            guard let field = doc.fields[name], let value = field.value else { continue }
            let mixed = field.kinds.count > 1 ? "  (conflict: entries of kinds \(field.kinds.map(\.rawValue).joined(separator: ", ")))" : ""
            switch value {
            case .register(let v, let siblings):
                out("  \(name) = \(valueText(v))\(mixed)")
                if siblings.count > 1 {
                    out("    conflict: \(siblings.count) siblings (winner first):")
                    for s in siblings {
                        out("      \(valueText(s.value))  from \(originText(s.tag, collection))  at \(stampText(s.tag.stamp))")
                    }
                }
            case .set(let elements):
                out("  \(name) = {\(elements.map(valueText).joined(separator: ", "))}  (set)\(mixed)")
            case .counter(let n):
                out("  \(name) = \(n)  (counter)\(mixed)")
            case .text(let string):
                out("  \(name) = \(valueText(.string(string)))  (text, \(string.unicodeScalars.count) characters)\(mixed)")
            }
        }
    }

    package static func ls(_ a: [String]) throws(CLIError) {
        let args = try Arguments("ls", a, valued: ["--prefix", "--after", "--limit", "--where", "--order"], flags: ["--desc", "--docs"])
        if args.help { return out(lsHelp) }
        try args.expect(1...1, "ls COLLECTION [--where COND]… [--order FIELD [--desc]] [--prefix P] [--after ID] [--limit N]")
        var query = Query(collection: try collectionName(args.positional[0]))
        if let l = args.value("--limit") {
            guard let n = Int(l), n > 0 else { throw CLIError(message: "ls: --limit must be a positive whole number (got '\(l)')") }
            query.limit = n
        }
        for text in args.values["--where"] ?? [] { query.conditions.append(try QueryParsing.condition(text)) }
        if let order = args.value("--order") {
            guard !order.isEmpty else { throw CLIError(message: "ls: --order needs a field name") }
            guard args.value("--after") == nil else {
                throw CLIError(message: "ls: --after pages in ID order; with --order, page with --limit (or add a --where on the order field)")
            }
            query.order = Key(order)
        }
        query.descending = args.flags.contains("--desc")
        if query.descending, query.order == nil { throw CLIError(message: "ls: --desc needs --order FIELD") }
        query.prefix = args.value("--prefix") ?? ""
        query.after = args.value("--after").map { Key($0) }
        let (store, _) = try openNode(args)
        if query.conditions.isEmpty && query.order == nil && !args.json && !args.flags.contains("--docs") {
            // Streamed from the sorted ID index, line by line.
            var left = query.limit
            store.indexes.forEachID(in: query.collection, of: store.state, prefix: query.prefix, after: query.after) { id in
                out(id.string)
                left -= 1
                return left > 0
            }
            return
        }
        let ids: [Key]
        if query.conditions.isEmpty && query.order == nil {
            ids = store.indexes.documentIDs(in: query.collection, of: store.state, prefix: query.prefix, after: query.after, limit: query.limit)
        } else {
            do { ids = try store.query(query) } catch { throw QueryParsing.cliError(error) }
            if ids.isEmpty { QueryParsing.noteTextThatLooksTyped(query.conditions) }
        }
        if args.flags.contains("--docs") {
            let state = store.state
            let docs: [String] = ids.compactMap { id in state.document(query.collection, id).map { documentJSONText(query.collection, id, $0) } }
            if args.json { return out(JSON.array(docs.map(JSON.raw)).text) }
            for d in docs { out(d) }
            return
        }
        if args.json { return out(JSON.array(ids.map { .string($0.string) }).text) }
        for id in ids { out(id.string) }
    }

    package static func rm(_ a: [String]) throws(CLIError) {
        let args = try Arguments("rm", a)
        if args.help { return out(rmHelp) }
        try args.expect(2...2, "rm COLLECTION ID")
        let (collection, id) = try names(args)
        let (store, _) = try openNode(args)
        guard store.state.document(collection, id) != nil else {
            throw CLIError(message: "\(collection)/\(id) does not exist; list documents with `lattice ls \(collection)`", code: .notFound)
        }
        let result = try commit(store) { replica, delta, now in
            replica.deleteDocument(collection, id, now: now, into: &delta)
        }
        report(args, result, "deleted \(collection)/\(id)")
    }

    package static func set(_ a: [String]) throws(CLIError) {
        let args = try Arguments("set", a)
        if args.help { return out(setHelp) }
        guard args.positional.count >= 5, ["add", "rm"].contains(args.positional[0]) else {
            throw CLIError(message: "usage: lattice set add|rm COLLECTION ID FIELD VALUE… (see lattice set --help)")
        }
        let adding = args.positional[0] == "add"
        let path = try fieldPath(args, from: 1)
        var values: [Value] = []
        for v in args.positional.dropFirst(4) { values.append(try parseValueArgument(v)) }
        let (store, _) = try openNode(args)
        let result = try commit(store) { replica, delta, now in
            if adding {
                try replica.add(path, values, now: now, into: &delta)
            } else {
                try replica.remove(path, values, now: now, into: &delta)
            }
        }
        report(args, result, "\(adding ? "added" : "removed") \(values.count) element\(values.count == 1 ? "" : "s") \(adding ? "to" : "from") \(path)")
    }

    package static func incr(_ a: [String]) throws(CLIError) {
        let args = try Arguments("incr", a)
        if args.help { return out(incrHelp) }
        try args.expect(3...4, "incr COLLECTION ID FIELD [N]")
        let path = try fieldPath(args)
        var amount: Int64 = 1
        if args.positional.count == 4 {
            guard let n = Int64(args.positional[3]) else {
                throw CLIError(message: "incr: N must be a whole number such as 5 or -3 (got '\(args.positional[3])')")
            }
            amount = n
        }
        let (store, _) = try openNode(args)
        let result = try commit(store) { replica, delta, now in
            try replica.increment(path, by: amount, now: now, into: &delta)
        }
        var total: Int64 = 0
        if case .counter(let n)? = store.state.value(path) { total = n }
        if args.json {
            return out(JSON.object(resultFields(result) + [("value", .int(total))]).text)
        }
        out("\(path) = \(total)")
    }

    package static func conflicts(_ a: [String]) throws(CLIError) {
        let args = try Arguments("conflicts", a)
        if args.help { return out(conflictsHelp) }
        try args.expect(0...0, "conflicts")
        let (store, _) = try openNode(args)
        let list = store.state.conflicts()
        if args.json { return out(JSON.array(list.map { conflictJSON($0) }).text) }
        if list.isEmpty { return out("no conflicts") }
        for c in list {
            out("\(c.path)  (\(c.kinds.map(\.rawValue).joined(separator: ", ")))")
            for s in c.siblings { out("  \(valueText(s.value))  from \(originText(s.tag, c.path.collection))  at \(stampText(s.tag.stamp))") }
            if c.siblings.count < c.origins.count {
                for t in c.origins where !c.siblings.contains(where: { $0.tag == t }) {
                    out("  (non-register entry)  dot \(dotText(t.dot))  at \(stampText(t.stamp))")
                }
            }
        }
    }

    package static func resolve(_ a: [String]) throws(CLIError) {
        let args = try Arguments("resolve", a)
        if args.help { return out(resolveHelp) }
        try args.expect(4...4, "resolve COLLECTION ID FIELD VALUE")
        let path = try fieldPath(args)
        let value = try parseValueArgument(args.positional[3])
        let (store, _) = try openNode(args)
        guard store.state.field(path) != nil else {
            throw CLIError(message: "\(path) does not exist; see `lattice conflicts`", code: .notFound)
        }
        let result = try commit(store) { replica, delta, now in
            try replica.set(path, value, now: now, into: &delta)
        }
        report(args, result, "resolved \(path) = \(valueText(value))")
    }

    package static func history(_ a: [String]) throws(CLIError) {
        let args = try Arguments("history", a)
        if args.help { return out(historyHelp) }
        try args.expect(2...2, "history COLLECTION ID")
        let (collection, id) = try names(args)
        let (store, _) = try openNode(args)
        let entries: [HistoryEntry]
        do { entries = try store.history(collection, id) } catch { throw cliError(error) }
        if entries.isEmpty, store.state.document(collection, id) == nil {
            throw CLIError(message: "no change to \(collection)/\(id) in the log; list documents with `lattice ls \(collection)`", code: .notFound)
        }
        if args.json {
            let items: [JSON] = entries.map { e in
                .object([
                    ("sequence", .uint(e.sequence)), ("local", .bool(e.local)), ("origin", .string(replicaHex(e.origin))),
                    ("dots", .array(e.dots.map { .string(dotText($0)) })),
                    ("stamp", e.stamp.map { .uint($0.rawValue) } ?? .null),
                    ("time", e.stamp.map { .string(stampText($0)) } ?? .null),
                    ("kind", .string(e.kind)), ("fields", .array(e.fields.map { .string($0) })),
                ])
            }
            return out(JSON.array(items).text)
        }
        for e in entries {
            let time = e.stamp.map(stampText) ?? "-"
            out(
                "#\(e.sequence)  \(e.local ? "local " : "remote")  origin \(replicaHex(e.origin))  \(e.kind)  dots \(e.dots.map(dotText).joined(separator: ","))  at \(time)  fields \(e.fields.joined(separator: ","))"
            )
        }
    }

    // MARK: Helpers

    package static func names(_ args: Arguments, from first: Int = 0) throws(CLIError) -> (Key, Key) {
        let c = try collectionName(args.positional[first])
        let id = args.positional[first + 1]
        guard !id.isEmpty else { throw CLIError(message: "COLLECTION and ID must not be empty") }
        return (c, Key(id))
    }

    /// A collection named by the user: not empty, and not a reserved `~` one (the node's own).
    package static func collectionName(_ text: String) throws(CLIError) -> Key {
        guard !text.isEmpty else { throw CLIError(message: "COLLECTION and ID must not be empty") }
        let key = Key(text)
        guard !Erasure.isReserved(key) else {
            throw CLIError(message: "collection names starting with '~' are reserved for the node's own records (got '\(text)')")
        }
        return key
    }

    /// COLLECTION ID FIELD from the positionals starting at `first`.
    package static func fieldPath(_ args: Arguments, from first: Int = 0) throws(CLIError) -> FieldPath {
        let (c, id) = try names(args, from: first)
        return FieldPath(c, id, Key(args.positional[first + 2]))
    }

    /// Commits one change: on a stopped node's store durably (then closes it); in a running
    /// node durably on its loop, or — when the caller waits for durability itself (the HTTP
    /// API, ``Hosting/durability``) and `deferrable` — group-committed without blocking the
    /// loop for an fsync.
    /// - Parameters:
    ///   - store: the store the command opened (the running node's when hosted).
    ///   - deferrable: false for a change that must be durable before the command goes on (an
    ///     erase, which then purges files).
    ///   - body: the edit, with the wall clock.
    /// - Returns: the commit.
    package static func commit(
        _ store: ReplicaStore, deferrable: Bool = true, _ body: (inout Replica, inout Delta, UInt64) throws -> Void
    ) throws(CLIError) -> CommitResult {
        let now = ReplicaStore.wallMilliseconds()
        do {
            if let node = Hosting.node, deferrable, let wait = Hosting.durability {
                let done = wait.expect()
                do { return try node.submit({ replica, delta in try body(&replica, &delta, now) }, done: done) } catch {
                    wait.withdraw()  // nothing was committed: `done` is never called
                    throw error
                }
            }
            if let node = Hosting.node { return try node.commit { replica, delta in try body(&replica, &delta, now) } }
            let result = try store.commit { replica, delta in try body(&replica, &delta, now) }
            try store.close()
            return result
        } catch {
            throw cliError(error)
        }
    }

    package static func resultFields(_ r: CommitResult) -> [(String, JSON)] {
        [("ok", .bool(true)), ("sequence", .uint(r.sequence)), ("dots", .array(r.dots.map { .string(dotText($0)) }))]
    }

    package static func report(_ args: Arguments, _ r: CommitResult, _ text: String) {
        if args.json { return out(JSON.object(resultFields(r)).text) }
        out(text)
    }
}
