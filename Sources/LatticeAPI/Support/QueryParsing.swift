import Foundation
import LatticeCRDT
package import LatticeStore

/// Parses `--where` conditions (`Docs/CLI.md`, "Queries") and names query errors for the API.
package enum QueryParsing {
    /// The operators, longest first where one is a prefix of another.
    private static let operators = [">=", "<=", ":=", "=", ">", "<", "~", "∈"]

    /// The one-line grammar, for error messages.
    package static let grammar = "write FIELD=TEXT, FIELD:=JSON, FIELD>NUM, FIELD<NUM, FIELD>=NUM, FIELD<=NUM or FIELD~a,b,c (also FIELD∈a,b,c)"

    /// Parses one condition.
    /// - Parameter text: `topic=cats`, `importance:=3`, `importance>0.5`, `tags~a,b` or `tags∈a,b`.
    /// - Returns: the condition.
    /// - Throws: a usage error starting "malformed condition" or "non-numeric range bound".
    package static func condition(_ text: String) throws(CLIError) -> QueryCondition {
        // The operator is the first operator character; the field name is what precedes it.
        guard let start = text.firstIndex(where: { "=<>~∈:".contains($0) }) else {
            throw malformed(text, "it has no operator")
        }
        let tail = text[start...]
        guard let op = operators.first(where: { tail.hasPrefix($0) }) else { throw malformed(text, "'\(tail.prefix(2))' is not an operator") }
        let field = String(text[..<start])
        let rest = String(tail.dropFirst(op.count))
        guard !field.isEmpty else { throw malformed(text, "it has no field name before '\(op)'") }
        if let c = rest.first, "=<>~∈".contains(c) { throw malformed(text, "'\(op)' is followed by another operator '\(c)'") }
        guard !rest.isEmpty else { throw malformed(text, "it has no value after '\(op)'") }
        let name = Key(field)
        switch op {
        case "=": return QueryCondition(name, .equals(try value(rest, text)))
        case ":=": return QueryCondition(name, .equals(try value(":=" + rest, text)))
        case "~", "∈":
            let parts = rest.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !parts.contains(where: \.isEmpty) else { throw malformed(text, "an element of the set list is empty") }
            var elements: [Value] = []
            for p in parts { elements.append(try value(p, text)) }
            return QueryCondition(name, .containsAny(elements))
        default:
            guard let bound = Double(rest.trimmingCharacters(in: .whitespaces)), bound.isFinite else {
                throw CLIError(message: "non-numeric range bound in '\(text)': '\(rest)' is not a number; a range needs one, for example \(field)\(op)0.5")
            }
            switch op {
            case ">": return QueryCondition(name, .greater(bound))
            case ">=": return QueryCondition(name, .greaterOrEqual(bound))
            case "<": return QueryCondition(name, .less(bound))
            default: return QueryCondition(name, .lessOrEqual(bound))
            }
        }
    }

    private static func value(_ text: String, _ condition: String) throws(CLIError) -> Value {
        do { return try parseValueArgument(text) } catch { throw malformed(condition, error.message) }
    }

    private static func malformed(_ text: String, _ why: String) -> CLIError {
        CLIError(message: "malformed condition '\(text)': \(why); \(grammar)")
    }

    /// After a query that matched nothing: a note for each `FIELD=TEXT` whose text reads as a
    /// number, boolean or null (`importance=0.9` compares with the text "0.9", never with the
    /// number 0.9: that is `importance:=0.9`).
    /// - Parameter conditions: the query's conditions.
    package static func noteTextThatLooksTyped(_ conditions: [QueryCondition]) {
        for c in conditions {
            guard case .equals(.string(let text)) = c.test, let typed = try? parseJSONScalar(text) else { continue }
            let kind: String
            switch typed {
            case .int, .double: kind = "number"
            case .bool: kind = "boolean"
            case .null: kind = "null"
            case .string, .bytes: continue
            }
            note("\(c.field)=\(text) compares with the text \"\(text)\"; for the \(kind) write \(c.field):=\(text)")
        }
    }

    /// The query error as a CLI error: an unknown collection or field exits 2.
    package static func cliError(_ e: QueryError) -> CLIError {
        CLIError(message: e.message, code: e.code == .notOrderable ? .usage : .notFound)
    }

    /// The API's error code for a failed `ls` query, from its message (nil: not a query error).
    /// - Parameter message: the CLI's error message.
    /// - Returns: `bad_condition`, `bad_bound`, `unknown_collection` or `unknown_field`.
    package static func apiCode(_ message: String) -> String? {
        if message.hasPrefix("malformed condition") { return "bad_condition" }
        if message.hasPrefix("non-numeric range bound") { return "bad_bound" }
        if message.hasPrefix("unknown collection") { return QueryError.Code.unknownCollection.rawValue }
        if message.hasPrefix("unknown field") { return QueryError.Code.unknownField.rawValue }
        if message.hasPrefix("cannot order by") { return QueryError.Code.notOrderable.rawValue }
        if message.hasPrefix("ls: --") { return "bad_request" }
        return nil
    }
}
