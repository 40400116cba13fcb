import Foundation
import LatticeNode
import LatticeCRDT
import LatticeCrypto
import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// Exit codes (documented in Docs/CLI.md), following sysexits(3) where one fits.
enum ExitCode: Int32 {
    case ok = 0
    case failure = 1
    case notFound = 2
    case usage = 64  // EX_USAGE
    case dataError = 65  // EX_DATAERR
    case unavailable = 69  // EX_UNAVAILABLE
    case permission = 77  // EX_NOPERM
    case interrupted = 130  // 128 + SIGINT: `demo` stopped by a signal (its nodes stopped)
}

/// A command-line error: one line that says what to do, and an exit code.
struct CLIError: Error {
    var message: String
    var code: ExitCode = .usage
    /// The data directory is locked by another process (a node, or another command).
    var locked = false
}

func writeError(_ line: String) {
    let oneLine = line.replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("lattice: \(oneLine)\n".utf8))
}

/// Parsed arguments: positionals, valued options (repeatable) and boolean flags.
struct Arguments {
    var command: String
    var positional: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    var json: Bool { flags.contains("--json") }
    var help: Bool { flags.contains("--help") }
    func value(_ name: String) -> String? { values[name]?.last }

    /// Parses `args` for `command`. `--data`, `--json` and `--help`/`-h` are accepted everywhere.
    /// `--` ends options; a token like `-5` or `-1.5` is a positional (a negative number).
    init(_ command: String, _ args: [String], valued: Set<String> = [], flags: Set<String> = []) throws(CLIError) {
        self.command = command
        let valued = valued.union(["--data"])
        let allFlags = flags.union(["--json", "--help"])
        var i = 0
        var onlyPositional = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositional || !arg.hasPrefix("-") || arg == "-" || Double(arg) != nil {
                positional.append(arg)
                continue
            }
            if arg == "--" {
                onlyPositional = true
                continue
            }
            var name = arg
            var inline: String?
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            if name == "-h" { name = "--help" }
            if valued.contains(name) {
                if let inline {
                    values[name, default: []].append(inline)
                } else if i < args.count {
                    values[name, default: []].append(args[i])
                    i += 1
                } else {
                    throw CLIError(message: "\(command): \(name) needs a value; see lattice \(command) --help")
                }
            } else if allFlags.contains(name), inline == nil {
                self.flags.insert(name)
            } else {
                throw CLIError(message: "\(command): unknown option '\(arg)'; see lattice \(command) --help")
            }
        }
    }

    /// Throws a usage error unless the positional count is in `range`.
    func expect(_ range: ClosedRange<Int>, _ synopsis: String) throws(CLIError) {
        guard range.contains(positional.count) else {
            throw CLIError(message: "usage: lattice \(synopsis) (see lattice \(command) --help)")
        }
    }

    /// The data directory: `--data`, else `LATTICE_DATA`, else `~/.lattice`.
    var dataDirectory: String {
        if let d = value("--data"), !d.isEmpty { return d }
        if let d = ProcessInfo.processInfo.environment["LATTICE_DATA"], !d.isEmpty { return d }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.lattice"
    }
}

/// The files of a node's data directory that the CLI owns (the store ignores them).
struct NodePaths {
    let root: String
    var identity: String { root + "/identity.key" }
    var networkKey: String { root + "/network.key" }
    var trust: String { root + "/trust" }
    var config: String { root + "/config.json" }
    var apiToken: String { root + "/api.token" }
}

/// The HTTP API's bearer token (`DATA/api.token`, 0600): read, or created with 32 random bytes
/// (hex) when missing. A file readable by group or others is refused.
func apiToken(_ paths: NodePaths) throws(CLIError) -> String {
    let path = paths.apiToken
    if let data = FileManager.default.contents(atPath: path) {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw CLIError(message: "\(path) is readable by group or others; chmod 600 it (it grants full access to the API)", code: .permission)
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 32, token.allSatisfy({ $0.isHexDigit }) else {
            throw CLIError(message: "\(path) does not hold a token (64 hex digits); delete it to get a new one", code: .dataError)
        }
        return token
    }
    var generator = SystemRandomNumberGenerator()  // getrandom(2)
    let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
        throw CLIError(message: "cannot write \(path); check the directory's permissions", code: .failure)
    }
    return token
}

/// Loads the node identity; a missing node is exit 2 with the command to create it.
func loadIdentity(_ paths: NodePaths) throws(CLIError) -> NodeIdentity {
    guard FileManager.default.fileExists(atPath: paths.identity) else {
        throw CLIError(message: "no node in \(paths.root); run `lattice init --data \(paths.root)` first", code: .notFound)
    }
    do {
        return try KeyFile.loadIdentity(from: paths.identity)
    } catch {
        throw cliError(error)
    }
}

/// Opens the node's replica store (identity + config + store).
/// - Parameter segmentSize: a log segment size override (the crash test uses small segments so
///   that compaction really deletes files).
func openNode(_ args: Arguments, segmentSize: Int? = nil) throws(CLIError) -> (ReplicaStore, NodeIdentity) {
    if let node = Hosting.node { return (node.store, node.identity) }
    let paths = NodePaths(root: args.dataDirectory)
    let identity = try loadIdentity(paths)
    let config = try NodeConfig.load(paths)
    var options = StoreOptions()
    options.log.fsyncPolicy = config.policy
    if let segmentSize { options.log.segmentSize = segmentSize }
    do {
        let store = try ReplicaStore.open(at: paths.root, replicaID: ReplicaID(identity.nodeID.replicaRawValue), options: options)
        return (store, identity)
    } catch {
        throw cliError(error)
    }
}

/// Maps any error to a one-line CLI error with the documented exit code.
func cliError(_ error: any Error) -> CLIError {
    switch error {
    case let e as CLIError:
        return e
    case let e as StoreError:
        switch e.code {
        case .locked: return CLIError(message: e.message, code: .unavailable, locked: true)
        case .corrupt: return CLIError(message: "\(e.message)", code: .dataError)
        case .permissionDenied: return CLIError(message: "\(e.message); check the data directory's owner and mode", code: .permission)
        case .notFound: return CLIError(message: e.message, code: .notFound)
        case .noSpace: return CLIError(message: "\(e.message); free disk space and retry (the change was not saved)", code: .failure)
        default: return CLIError(message: e.message, code: .failure)
        }
    case let e as ReplicaStoreError:
        return CLIError(message: e.message, code: .dataError)
    case let e as CryptoError:
        if e.code == .insecurePermissions { return CLIError(message: e.description, code: .permission) }
        if e.code == .keyFile { return CLIError(message: e.description, code: .dataError) }
        return CLIError(message: e.description, code: .failure)
    case let e as EditError where e.code != .kindMismatch:
        return CLIError(message: e.description, code: .dataError)
    case let e as EditError:
        return CLIError(
            message: "\(e.path) is a \(e.existing.rawValue), not a \(e.attempted.rawValue); use the \(e.existing.rawValue) command or another field name",
            code: .dataError)
    default:
        return CLIError(message: "\(error)", code: .failure)
    }
}

// MARK: Output

/// Writes a line to stdout.
func out(_ line: String) {
    if Hosting.captured != nil {
        Hosting.captured?.append(line)
    } else {
        print(line)
    }
}

/// Closes a store the command opened (not the running node's).
func closeStore(_ store: ReplicaStore) throws {
    if Hosting.node == nil { try store.close() }
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    var r = ""
    writeJSONString(s, into: &r)
    return r
}

/// Appends `s` as a JSON string literal.
func writeJSONString(_ s: String, into r: inout String) { JSONText.append(s, to: &r) }

/// `value` in lower-case hex, zero-padded to `width` digits.
func hexDigits(_ value: UInt64, width: Int) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var bytes = [UInt8](repeating: UInt8(ascii: "0"), count: max(width, 16))
    var v = value
    var i = bytes.count
    while v > 0 || i == bytes.count {
        i -= 1
        bytes[i] = digits[Int(v & 15)]
        v >>= 4
    }
    let start = min(i, bytes.count - width)
    return String(decoding: bytes[start...], as: UTF8.self)
}

/// A tiny JSON builder (keeps key order).
/// JSONSerialization's booleans are NSNumbers of type `c` (on Linux `1 is Bool` holds too, so
/// `as? Bool` cannot tell `true` from `1`).
func isJSONBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// Appends this value's text (one buffer for the whole tree).
    func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d):
            if d.isNaN || d.isInfinite {
                writeJSONString(String(d), into: &out)
            } else if d == d.rounded(), abs(d) < 1e15 {
                out += (d == 0 && d.sign == .minus ? "-0" : String(Int64(d))) + ".0"
            } else {
                out += "\(d)"
            }
        case .string(let s): writeJSONString(s, into: &out)
        case .array(let a):
            out += "["
            for (k, v) in a.enumerated() {
                if k > 0 { out += ", " }
                v.write(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (k, (key, v)) in o.enumerated() {
                if k > 0 { out += ", " }
                writeJSONString(key, into: &out)
                out += ": "
                v.write(into: &out)
            }
            out += "}"
        }
    }
}

// MARK: Values

/// Parses one `field=value` assignment (see Docs/CLI.md, "Values").
func parseAssignment(_ text: String) throws(CLIError) -> (String, Value) {
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
func parseValueArgument(_ text: String) throws(CLIError) -> Value {
    if text.hasPrefix(":b64=") { return try parseBytes(String(text.dropFirst(5))) }
    if text.hasPrefix(":=") { return try parseJSONScalar(String(text.dropFirst(2))) }
    return .string(text)
}

func parseBytes(_ raw: String) throws(CLIError) -> Value {
    guard let data = Data(base64Encoded: raw) else {
        throw CLIError(message: "'\(raw)' is not base64; encode the bytes with `base64 -w0`", code: .dataError)
    }
    return .bytes([UInt8](data))
}

/// Parses a JSON scalar: null, true, false, an integer, a number, or a "quoted string".
func parseJSONScalar(_ raw: String) throws(CLIError) -> Value {
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

/// A value as JSON (bytes as {"$bytes": base64}; non-finite doubles as {"$double": "nan"}).
func valueJSON(_ v: Value) -> JSON {
    switch v {
    case .null: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .double(let d):
        return d.isFinite ? .double(d) : .object([("$double", .string(String(d)))])
    case .string(let s): return .string(s)
    case .bytes(let b): return .object([("$bytes", .string(Data(b).base64EncodedString()))])
    }
}

/// A value for humans: strings quoted, bytes as b64:….
func valueText(_ v: Value) -> String {
    switch v {
    case .bytes(let b): return "b64:" + Data(b).base64EncodedString()
    case .double(let d) where !d.isFinite: return String(d)
    default: return valueJSON(v).text
    }
}

func replicaHex(_ r: ReplicaID) -> String { hexDigits(r.rawValue, width: 16) }

func dotText(_ d: Dot) -> String { "\(replicaHex(d.replica)):\(d.counter)" }

/// An HLC stamp as ISO-8601 UTC with milliseconds, plus the logical counter when non-zero.
func stampText(_ t: Timestamp) -> String {
    let s = isoTime(milliseconds: t.milliseconds)
    return t.logical == 0 ? s : "\(s)+\(t.logical)"
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), without a formatter object
/// (building an `ISO8601DateFormatter` per value cost ~0.1 ms: a listing of documents spent most
/// of its time there). Days to civil date: Howard Hinnant's `civil_from_days`.
func isoTime(milliseconds: UInt64) -> String {
    let ms = Int64(clamping: milliseconds)
    let days = ms / 86_400_000
    let inDay = ms % 86_400_000
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
    return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(inDay / 3_600_000, 2) + ":" + pad(inDay / 60_000 % 60, 2) + ":"
        + pad(inDay / 1_000 % 60, 2) + "." + pad(inDay % 1_000, 3) + "Z"
}

/// A tag as JSON: its dot (with the per-collection author ID it was minted under), `origin` =
/// the node replica that wrote it (as `lattice peers` and `status` print replicas), `node` = that
/// node's ID when the running node knows it (itself or a peer it has met), stamp and time.
func tagJSON(_ t: Tag, in collection: Key) -> [(String, JSON)] {
    let origin = ReplicaID.node(ofScoped: t.dot.replica, in: collection)
    var out: [(String, JSON)] = [("dot", .string(dotText(t.dot))), ("origin", .string(replicaHex(origin)))]
    if let node = Hosting.node?.nodeID(of: origin) { out.append(("node", .string(node.description))) }
    return out + [("stamp", .uint(t.stamp.rawValue)), ("time", .string(stampText(t.stamp)))]
}

/// Who wrote a tagged value, for people: the node ID when the running node knows it, else the
/// node replica (as `lattice peers` prints it), with the dot.
func originText(_ t: Tag, _ collection: Key) -> String {
    let origin = ReplicaID.node(ofScoped: t.dot.replica, in: collection)
    let who = Hosting.node?.nodeID(of: origin)?.description ?? replicaHex(origin)
    return "\(who) (dot \(dotText(t.dot)))"
}

/// A field as JSON: kind, value, and for registers every sibling with dot, stamp and origin.
func fieldJSON(_ field: Field, in collection: Key) -> JSON {
    guard let fv = field.value else { return .null }
    var kinds: [(String, JSON)] = []
    if field.kinds.count > 1 { kinds = [("kinds", .array(field.kinds.map { .string($0.rawValue) }))] }
    switch fv {
    case .register(let v, let siblings):
        return .object(
            [("kind", .string("register")), ("value", valueJSON(v))] + kinds + [
                ("conflict", .bool(siblings.count > 1 || field.kinds.count > 1)),
                ("siblings", .array(siblings.map { .object([("value", valueJSON($0.value))] + tagJSON($0.tag, in: collection)) })),
            ])
    case .set(let elements):
        return .object([("kind", .string("set")), ("value", .array(elements.map(valueJSON)))] + kinds)
    case .counter(let n):
        return .object([("kind", .string("counter")), ("value", .int(n))] + kinds)
    case .text(let string):
        return .object(
            [("kind", .string("text")), ("value", .string(string)), ("version", .string(field.text?.versionToken ?? "v1"))] + kinds
                + [("conflict", .bool(field.kinds.count > 1))])
    }
}

/// A conflict as `lattice conflicts --json` prints it: the field, the kinds present, and every
/// register sibling with its value and tag.
/// - Parameters:
///   - c: the conflict.
///   - about: more keys for a sibling, after its value (the demo names the node that wrote it).
/// - Returns: the JSON object.
func conflictJSON(_ c: Conflict, about: (RegisterEntry) -> [(String, JSON)] = { _ in [] }) -> JSON {
    .object([
        ("collection", .string(c.path.collection.string)), ("id", .string(c.path.document.string)),
        ("field", .string(c.path.field.string)), ("kinds", .array(c.kinds.map { .string($0.rawValue) })),
        ("siblings", .array(c.siblings.map { .object([("value", valueJSON($0.value))] + about($0) + tagJSON($0.tag, in: c.path.collection)) })),
    ])
}

func documentJSON(_ collection: Key, _ id: Key, _ doc: Document) -> JSON {
    var fields: [(String, JSON)] = []
    for name in doc.fieldNames {
        if let f = doc.fields[name] { fields.append((name.string, fieldJSON(f, in: collection))) }
    }
    return .object([("collection", .string(collection.string)), ("id", .string(id.string)), ("fields", .object(fields))])
}

/// Reads a whole file or stdin ("-").
func readInput(_ path: String) throws(CLIError) -> Data {
    if path == "-" { return Hosting.stdin ?? FileHandle.standardInput.readDataToEndOfFile() }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError(message: "cannot read \(path); check the path", code: .notFound)
    }
    return data
}

/// Flushes stdout (used by the crash writer, whose lines must be out before it acknowledges more).
func flushOut() { fflush(nil) }
