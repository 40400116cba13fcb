#if canImport(Glibc)
    import Glibc
#endif
import CLinux

/// Structured logs: one JSON object per line on stderr (`time`, `level`, `event`, fields).
public final class NodeLog: @unchecked Sendable {
    /// Severity, lowest first.
    public enum Level: Int, Comparable, Sendable {
        case debug, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        /// Parses debug|info|warn|error.
        public init?(name: String) {
            switch name {
            case "debug": self = .debug
            case "info": self = .info
            case "warn": self = .warn
            case "error": self = .error
            default: return nil
            }
        }
        var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    /// A field value.
    public enum Field: Sendable {
        case string(String), int(Int64), uint(UInt64), bool(Bool), double(Double)
        var json: String {
            switch self {
            case .string(let s): NodeLog.quote(s)
            case .int(let i): String(i)
            case .uint(let u): String(u)
            case .bool(let b): b ? "true" : "false"
            case .double(let d): d.isFinite ? String(d) : "null"
            }
        }
    }

    /// Lines below this level are dropped.
    public var level: Level
    private let sink: (String) -> Void

    /// Creates a logger writing to stderr (or to `sink`, for tests).
    public init(level: Level = .info, sink: ((String) -> Void)? = nil) {
        self.level = level
        self.sink = sink ?? { line in
            var l = line + "\n"
            l.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        }
    }

    public func debug(_ event: String, _ fields: [String: Field] = [:]) { emit(.debug, event, fields) }
    public func info(_ event: String, _ fields: [String: Field] = [:]) { emit(.info, event, fields) }
    public func warn(_ event: String, _ fields: [String: Field] = [:]) { emit(.warn, event, fields) }
    public func error(_ event: String, _ fields: [String: Field] = [:]) { emit(.error, event, fields) }

    private func emit(_ l: Level, _ event: String, _ fields: [String: Field]) {
        guard l >= level else { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let ms = Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
        var line = "{\"time\": \(ms), \"level\": \"\(l.name)\", \"event\": \(Self.quote(event))"
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { line += ", \(Self.quote(k)): \(v.json)" }
        sink(line + "}")
    }

    /// A JSON string literal (RFC 8259 escapes); also used for the HTTP API's error bodies.
    static func quote(_ s: String) -> String {
        var r = ""
        JSONText.append(s, to: &r)
        return r
    }
}

/// JSON string literals (RFC 8259 escapes), shared by the log and the CLI's and API's JSON.
public enum JSONText {
    /// Appends `s` as a JSON string literal; a string that needs no escape is copied whole.
    public static func append(_ s: String, to r: inout String) {
        r += "\""
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            r += s
        } else {
            for u in s.unicodeScalars {
                switch u {
                case "\"": r += "\\\""
                case "\\": r += "\\\\"
                case "\n": r += "\\n"
                case "\r": r += "\\r"
                case "\t": r += "\\t"
                default:
                    if u.value < 0x20 {
                        let hex = String(u.value, radix: 16)
                        r += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        r.unicodeScalars.append(u)
                    }
                }
            }
        }
        r += "\""
    }
}
