import Foundation
package import LatticeCRDT
import LatticeStore

/// `lattice text insert|delete|splice|convert`: edits of collaborative text fields.
package enum TextCommands {
    package static let help = """
        usage: lattice text insert  COLLECTION ID FIELD POS TEXT        [--data DIR] [--json]
               lattice text delete  COLLECTION ID FIELD POS COUNT       [--data DIR] [--json]
               lattice text splice  COLLECTION ID FIELD POS COUNT TEXT  [--data DIR] [--json]
               lattice text convert COLLECTION ID FIELD                 [--data DIR] [--json]
               lattice text apply   COLLECTION ID FIELD VERSION SPLICES [--data DIR] [--json]

        Edits a text field: concurrent edits on other nodes merge character by character.
        Positions and counts are in Unicode scalars (0 is the start). insert creates the field
        when absent; convert turns a register holding a string into a text field with that
        string. apply takes the field's VERSION (from get --json; "new" for an absent field) and
        a JSON array of splices [{"position": P, "delete": N, "insert": "T"}, …], applied in order,
        all or nothing; another version exits 65 with "version_mismatch" and the current one.
        `lattice get` shows the text; `lattice put` of a string into a text field
        replaces the whole text. A position past the end changes nothing and exits 65.
        """

    package static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments("text", a)
        if args.help || args.positional.isEmpty { return out(help) }
        let verb = args.positional[0]
        let rest = Array(args.positional.dropFirst())
        func number(_ s: String, _ what: String) throws(CLIError) -> Int {
            guard let n = Int(s), n >= 0 else {
                throw CLIError(message: "text \(verb): \(what) must be a whole number ≥ 0 (got '\(s)')")
            }
            return n
        }
        let counts: [String: ClosedRange<Int>] = ["insert": 5...5, "delete": 5...5, "splice": 6...6, "convert": 3...3, "apply": 5...5]
        guard let expected = counts[verb] else {
            throw CLIError(message: "text: unknown action '\(verb)'; use insert, delete, splice, convert or apply (see lattice text --help)")
        }
        guard expected.contains(rest.count) else {
            throw CLIError(message: "text \(verb): expected \(expected.lowerBound) arguments after '\(verb)' (see lattice text --help)")
        }
        let path = FieldPath(try DocumentCommands.collectionName(rest[0]), Key(rest[1]), Key(rest[2]))
        let (store, _) = try openNode(args)
        let result: CommitResult
        switch verb {
        case "insert":
            let pos = try number(rest[3], "POS")
            result = try DocumentCommands.commit(store) { r, d, now in try r.insertText(path, at: pos, rest[4], now: now, into: &d) }
        case "delete":
            let pos = try number(rest[3], "POS")
            let n = try number(rest[4], "COUNT")
            result = try DocumentCommands.commit(store) { r, d, now in try r.deleteText(path, at: pos, count: n, now: now, into: &d) }
        case "splice":
            let pos = try number(rest[3], "POS")
            let n = try number(rest[4], "COUNT")
            result = try DocumentCommands.commit(store) { r, d, now in
                try r.spliceText(path, at: pos, deleting: n, inserting: rest[5], now: now, into: &d)
            }
        case "apply":
            let splices = try parseSplices(rest[4])
            let version = rest[3]
            result = try DocumentCommands.commit(store) { r, d, now in
                let current = r.state.field(path)?.text?.versionToken ?? "new"
                guard current == version || (version == "new" && r.state.field(path) == nil) else {
                    throw CLIError(
                        message: "version_mismatch: \(path) is at version \(current), not \(version); read it again (lattice get --json) and resend",
                        code: .dataError)
                }
                try r.applySplices(path, splices, now: now, into: &d)
            }
        default:
            result = try DocumentCommands.commit(store) { r, d, now in try r.convertToText(path, now: now, into: &d) }
        }
        let field = store.state.field(path)
        let string: String
        if case .text(let s)? = field?.value { string = s } else { string = "" }
        if args.json {
            return out(
                JSON.object(
                    DocumentCommands.resultFields(result) + [
                        ("value", .string(string)), ("version", .string(field?.text?.versionToken ?? "v1")),
                    ]
                ).text)
        }
        out("\(path) = \(valueText(.string(string)))  (text, \(string.unicodeScalars.count) characters)")
    }

    /// Parses `[{"position": P, "delete": N, "insert": "T"}, …]`.
    package static func parseSplices(_ json: String) throws(CLIError) -> [TextSplice] {
        let bad = CLIError(message: "text apply: SPLICES must be a JSON array of {\"position\": P, \"delete\": N, \"insert\": \"T\"} (P, N whole numbers ≥ 0)")
        guard let data = json.data(using: .utf8), let list = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else { throw bad }
        var out: [TextSplice] = []
        for entry in list {
            guard let o = entry as? [String: Any] else { throw bad }
            func whole(_ key: String) throws(CLIError) -> Int {
                guard let v = o[key] else { return 0 }
                guard let n = v as? NSNumber, String(cString: n.objCType) != "c", let i = Int(exactly: n.doubleValue), i >= 0 else { throw bad }
                return i
            }
            let insert = o["insert"] ?? ""
            guard let text = insert as? String, o.keys.allSatisfy({ ["position", "delete", "insert"].contains($0) }) else { throw bad }
            out.append(TextSplice(position: try whole("position"), deleted: try whole("delete"), inserted: text))
        }
        return out
    }
}
