import Foundation
import LatticeAPI
import LatticeNode

#if canImport(Glibc)
    import Glibc
#endif

/// `lattice watch`: follows the running node's change feed (`GET /v1/events`) in the terminal.
enum WatchCommand {
    static let help = """
        usage: lattice watch [--since CURSOR] [--documents] [--count N] [--data DIR] [--json]

        Streams every change the running node makes durable — local or from peers — as it
        happens: cursor, origin, document and fields, and each text edit as a splice (position,
        characters deleted, text inserted). --documents adds each document's values
        now; --since starts after a cursor (0 = every change still in the log) instead of now;
        --count exits after N changes; --json prints one JSON object per change. If the node
        stops, watch waits for it and resumes where it stopped (no change is skipped).
        It reads the API's address and token from the data directory (DATA/api.address,
        DATA/api.token). Ctrl-C stops it.
        """

    static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments("watch", a, valued: ["--since", "--count"], flags: ["--documents"])
        if args.help { return out(help) }
        try args.expect(0...0, "watch [--since CURSOR] [--documents] [--count N]")
        var cursor: UInt64?
        if let s = args.value("--since") {
            guard let c = UInt64(s) else { throw CLIError(message: "watch: --since must be a cursor (a whole number; 0 = from the start)") }
            cursor = c
        }
        var remaining = Int.max
        if let c = args.value("--count") {
            guard let n = Int(c), n > 0 else { throw CLIError(message: "watch: --count must be a positive whole number") }
            remaining = n
        }
        let paths = NodePaths(root: args.dataDirectory)
        let token = try apiToken(paths)
        var waiting = false
        while true {
            guard let text = try? String(contentsOfFile: paths.root + "/api.address", encoding: .utf8),
                let address = SocketAddress(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                let fd = try? Socket.connectBlocking(address)
            else {
                if cursor == nil && !waiting {
                    throw CLIError(message: "no node with an API is running on \(paths.root); start one with `lattice run`", code: .unavailable)
                }
                if !waiting { FileHandle.standardError.write(Data("lattice watch: the node stopped; waiting for it (Ctrl-C to stop)\n".utf8)) }
                waiting = true
                usleep(500_000)
                continue
            }
            waiting = false
            defer { close(fd) }
            var request = "GET /v1/events\(args.flags.contains("--documents") ? "?documents=1" : "") HTTP/1.1\r\nHost: \(address)\r\n"
            request += "Authorization: Bearer \(token)\r\nAccept: text/event-stream\r\nConnection: close\r\n"
            if let cursor { request += "Last-Event-ID: \(cursor)\r\n" }
            request += "\r\n"
            let bytes = Array(request.utf8)
            guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { continue }
            var reader = LineReader(fd: fd)
            guard let status = reader.line(), status.hasPrefix("HTTP/1.1 ") else {
                usleep(1_000_000)  // no answer: do not hammer the node
                continue
            }
            while let h = reader.line(), !h.isEmpty {}
            guard status.hasPrefix("HTTP/1.1 200") else {
                var body = ""
                while let l = reader.line() { body += l }
                throw CLIError(message: "watch: the node answered \(status.dropFirst(9)): \(body)", code: .unavailable)
            }
            // Server-sent events: fields until a blank line.
            var id: String?
            var event = "message"
            var data = ""
            while let line = reader.line() {
                if line.isEmpty {
                    if let id, let c = UInt64(id) { cursor = c }
                    if event == "change" || event == "reset" {
                        show(event, data, json: args.json)
                        if event == "change" {
                            remaining -= 1
                            if remaining == 0 { return }
                        }
                    }
                    (id, event, data) = (nil, "message", "")
                    continue
                }
                if line.hasPrefix(":") { continue }
                let (field, value) = split(line)
                switch field {
                case "id": id = value
                case "event": event = value
                case "data": data += data.isEmpty ? value : "\n" + value
                default: break
                }
            }
            // The connection ended: reconnect from the last cursor (from now if none came yet),
            // after a pause so that a node that keeps dropping us is not hammered.
            usleep(500_000)
        }
    }

    static func split(_ line: String) -> (String, String) {
        guard let colon = line.firstIndex(of: ":") else { return (line, "") }
        var value = line[line.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        return (String(line[..<colon]), String(value))
    }

    /// One change as a line (or its JSON).
    static func show(_ event: String, _ data: String, json: Bool) {
        defer { fflush(nil) }  // a pipe must see each change at once
        if json {
            out(data)
            return
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] else { return }
        if event == "reset" {
            out("reset: \(object["message"] as? String ?? "changes were compacted; re-read the documents")")
            return
        }
        let cursor = (object["cursor"] as? NSNumber)?.stringValue ?? "?"
        let origin = object["origin"] as? String ?? "?"
        let time = object["time"] as? String ?? "-"
        for d in object["documents"] as? [[String: Any]] ?? [] {
            let fields = (d["fields"] as? [String] ?? []).joined(separator: ",")
            let erased = d["erased"] as? Bool ?? false
            let what = erased ? (fields.isEmpty ? "erased the document" : "erased") : (d["removal"] as? Bool ?? false) ? "removed" : "wrote"
            out("#\(cursor)  \(origin.padding(toLength: 8, withPad: " ", startingAt: 0)) \(time)  \(d["collection"] as? String ?? "")/\(d["id"] as? String ?? "")  \(what) \(fields)")
            for (name, change) in (d["text"] as? [String: [String: Any]] ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let splices = change["splices"] as? [[String: Any]] else {
                    out("    \(name): text changed (splices no longer known here: re-read it)")
                    continue
                }
                for sp in splices {
                    let insert = sp["insert"] as? String ?? ""
                    let quoted = (try? JSONSerialization.data(withJSONObject: insert, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "?"
                    out("    \(name) @\(sp["position"] ?? 0): -\(sp["delete"] ?? 0) +\(quoted)")
                }
            }
            if let doc = d["document"] as? [String: Any], let values = doc["fields"] as? [String: [String: Any]] {
                for name in values.keys.sorted() {
                    guard let f = values[name], let v = f["value"] else { continue }
                    let text = (try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "?"
                    out("    \(name) = \(text)\((f["conflict"] as? Bool ?? false) ? "  (conflict)" : "")")
                }
            } else if d["document"] is NSNull {
                out("    (deleted)")
            }
        }
    }

    /// Reads CRLF/LF-terminated lines from a blocking socket.
    struct LineReader {
        let fd: Int32
        var buffer: [UInt8] = []
        var start = 0

        init(fd: Int32) { self.fd = fd }

        mutating func line() -> String? {
            while true {
                if let nl = buffer[start...].firstIndex(of: 10) {
                    var end = nl
                    if end > start, buffer[end - 1] == 13 { end -= 1 }
                    let s = String(decoding: buffer[start..<end], as: UTF8.self)
                    start = nl + 1
                    if start > 65_536 {
                        buffer.removeFirst(start)
                        start = 0
                    }
                    return s
                }
                var chunk = [UInt8](repeating: 0, count: 16_384)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return nil }
                buffer += chunk[0..<n]
            }
        }
    }
}
