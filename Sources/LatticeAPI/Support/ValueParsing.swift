import Foundation
package import LatticeCRDT

/// Parses one `field=value` assignment (see Docs/CLI.md, "Values").
package func parseAssignment(_ text: String) throws(CLIError) -> (String, Value) {
    guard let eq = text.firstIndex(of: "=") else {
        throw CLIError(message: "'\(text)' is not field=value (use field=text, field:=JSON or field:b64=BASE64)")
    }
    var name = String(text[..<eq])
    let raw = String(text[text.index(after: eq)...])
    let value: Value
    if name.hasSuffix(":b64") {
        name.removeLast(4)
        value = try parseBytes(raw)
    } else if name.hasSuffix(":") {
        name.removeLast()
        value = try parseJSONScalar(raw)
    } else {
        value = .string(raw)
    }
    guard !name.isEmpty else { throw CLIError(message: "'\(text)' has an empty field name; write name=value") }
    return (name, value)
}

/// Parses a VALUE argument of `set`/`resolve`: plain text, `:=JSON` or `:b64=BASE64`.
package func parseValueArgument(_ text: String) throws(CLIError) -> Value {
    if text.hasPrefix(":b64=") { return try parseBytes(String(text.dropFirst(5))) }
    if text.hasPrefix(":=") { return try parseJSONScalar(String(text.dropFirst(2))) }
    return .string(text)
}

package func parseBytes(_ raw: String) throws(CLIError) -> Value {
    guard let data = Data(base64Encoded: raw) else {
        throw CLIError(message: "'\(raw)' is not base64; encode the bytes with `base64 -w0`", code: .dataError)
    }
    return .bytes([UInt8](data))
}

/// Parses a JSON scalar: null, true, false, an integer, a number, or a "quoted string".
package func parseJSONScalar(_ raw: String) throws(CLIError) -> Value {
    let t = raw.trimmingCharacters(in: .whitespaces)
    switch t {
    case "null": return .null
    case "true": return .bool(true)
    case "false": return .bool(false)
    default: break
    }
    if let i = Int64(t) { return .int(i) }
    if t.first == "\"" {
        if let s = try? JSONSerialization.jsonObject(with: Data(t.utf8), options: [.fragmentsAllowed]) as? String {
            return .string(s)
        }
    } else if let first = t.first, first == "-" || first.isNumber, !t.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }),
        let d = Double(t), d.isFinite
    {
        return .double(d)
    }
    throw CLIError(
        message: "'\(raw)' is not a JSON scalar; write 42, 1.5, true, false, null or \"quoted text\" after :=",
        code: .dataError)
}
