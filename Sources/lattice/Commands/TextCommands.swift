import LatticeCRDT
import LatticeStore

/// `lattice text insert|delete|splice|convert`: edits of collaborative text fields.
enum TextCommands {
    static let help = """
        usage: lattice text insert  COLLECTION ID FIELD POS TEXT        [--data DIR] [--json]
               lattice text delete  COLLECTION ID FIELD POS COUNT       [--data DIR] [--json]
               lattice text splice  COLLECTION ID FIELD POS COUNT TEXT  [--data DIR] [--json]
               lattice text convert COLLECTION ID FIELD                 [--data DIR] [--json]

        Edits a text field: concurrent edits on other nodes merge character by character.
        Positions and counts are in Unicode scalars (0 is the start). insert creates the field
        when absent; convert turns a register holding a string into a text field with that
        string. `lattice get` shows the text; `lattice put` of a string into a text field
        replaces the whole text. A position past the end changes nothing and exits 65.
        """

    static func run(_ a: [String]) throws(CLIError) {
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
        let counts: [String: ClosedRange<Int>] = ["insert": 5...5, "delete": 5...5, "splice": 6...6, "convert": 3...3]
        guard let expected = counts[verb] else {
            throw CLIError(message: "text: unknown action '\(verb)'; use insert, delete, splice or convert (see lattice text --help)")
        }
        guard expected.contains(rest.count) else {
            throw CLIError(message: "text \(verb): expected \(expected.lowerBound) arguments after '\(verb)' (see lattice text --help)")
        }
        let path = FieldPath(Key(rest[0]), Key(rest[1]), Key(rest[2]))
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
}
