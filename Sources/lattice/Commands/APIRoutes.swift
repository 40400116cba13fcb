import Foundation
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import LatticeSync

/// The first endpoints of the local HTTP/JSON API (`Docs/API.md`), answered inside the running
/// node by the same code as the CLI's `--json` output, so both always agree.
enum APIRoutes {
    /// Answers one authenticated request (on the node's loop thread).
    static func handle(_ request: HTTPRequest, dataDirectory: String) -> HTTPResponse {
        if request.path == StatusPage.path { return StatusPage.response(method: request.method) }
        if request.path == "/metrics" {
            guard request.method == "GET" || request.method == "HEAD" else {
                var r = HTTPResponse.error(405, code: "method_not_allowed", message: "/metrics takes GET")
                r.headers.append(("Allow", "GET, HEAD"))
                return r
            }
            guard let node = Hosting.node else { return .error(503, code: "unavailable", message: "no node") }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(metrics(node).utf8))
        }
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map { percentDecoded($0) }
        guard parts.count >= 2, parts[0] == "v1", parts.allSatisfy({ $0 != nil }) else {
            return .error(404, code: "not_found", message: "no such endpoint: \(request.path) (see Docs/API.md)")
        }
        let route = Array(parts.compactMap { $0 }.dropFirst())
        let query = queryItems(request.target)
        let method = request.method == "HEAD" ? "GET" : request.method
        // (command, options, positionals) per method this path takes.
        var table: [String: (String, [String], [String])] = [:]
        switch route.count {
        case 1 where route[0] == "status": table["GET"] = ("status", [], [])
        case 1 where route[0] == "peers": table["GET"] = ("peers", [], [])
        case 1 where route[0] == "sync": table["POST"] = ("sync", [], [])
        case 1 where route[0] == "conflicts": table["GET"] = ("conflicts", [], [])
        case 2 where route[0] == "docs":
            table["GET"] = ("ls", query["prefix"].map { ["--prefix", $0] } ?? [], [route[1]])
        case 3 where route[0] == "docs":
            table["GET"] = ("get", [], [route[1], route[2]])
            table["DELETE"] = ("rm", [], [route[1], route[2]])
            table["PUT"] = ("put", [], [route[1], route[2]])
        case 5 where route[0] == "docs" && ["add", "remove", "increment", "resolve"].contains(route[4]):
            let command = ["add": "set", "remove": "set", "increment": "incr", "resolve": "resolve"][route[4]] ?? ""
            let head = route[4] == "add" ? ["add"] : route[4] == "remove" ? ["rm"] : []
            table["POST"] = (command, [], head + [route[1], route[2], route[3]])
        default:
            return .error(404, code: "not_found", message: "no such endpoint: \(request.path) (see Docs/API.md)")
        }
        guard let (command, options, given) = table[method] else {
            let allowed = table.keys.sorted().joined(separator: ", ")
            var r = HTTPResponse.error(405, code: "method_not_allowed", message: "\(request.path) takes \(allowed)")
            r.headers.append(("Allow", table["GET"] == nil ? allowed : allowed + ", HEAD"))
            return r
        }
        var positionals = given
        if ["PUT", "POST"].contains(method), command != "sync" {
            switch bodyArguments(command: command, action: route.count == 5 ? route[4] : "", request.body) {
            case .success(let extra): positionals += extra
            case .failure(let message): return .error(400, code: "bad_request", message: message)
            }
        }
        // Options before `--`, then positionals: a value such as "-3" is never taken for a flag.
        let (code, stdout, stderr) = Hosting.run([command] + options + ["--json", "--data", dataDirectory, "--"] + positionals)
        guard code == ExitCode.ok.rawValue else {
            let message = stderr.hasPrefix("lattice: ") ? String(stderr.dropFirst(9)).trimmingCharacters(in: .newlines) : stderr
            let (status, name): (Int, String) =
                switch code {
                case ExitCode.notFound.rawValue: (404, "not_found")
                case ExitCode.usage.rawValue: (400, "bad_request")
                case ExitCode.dataError.rawValue: (422, "invalid")
                case ExitCode.unavailable.rawValue: (503, "unavailable")
                default: (500, "internal")
                }
            return .error(status, code: name, message: message)
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(stdout.utf8))
    }

    enum BodyResult {
        case success([String])
        case failure(String)
    }

    /// The CLI arguments a write's JSON body stands for: `PUT` a document = `{"field": scalar, …}`
    /// (`field:=JSON` each); `add`/`remove` = `[scalar, …]`; `increment` = `{"by": N}` (default
    /// 1); `resolve` = `{"value": scalar}`.
    static func bodyArguments(command: String, action: String, _ body: [UInt8]) -> BodyResult {
        let object: Any
        if body.isEmpty && action == "increment" {
            object = [String: Any]()
        } else {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
                return .failure("the body is not valid JSON")
            }
            object = parsed
        }
        func scalar(_ v: Any) -> String? {
            if v is [Any] || v is [String: Any] { return nil }
            return (try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) }
        }
        switch action {
        case "":
            guard let fields = object as? [String: Any], !fields.isEmpty else {
                return .failure("PUT takes a JSON object of fields, for example {\"title\": \"x\", \"confidence\": 0.8}")
            }
            var out: [String] = []
            for name in fields.keys.sorted() {
                guard !name.isEmpty, !name.contains("="), !name.contains(":"), let json = fields[name].flatMap(scalar) else {
                    return .failure("field \"\(name)\": a register holds a string, number, boolean or null (no '=' or ':' in names; sets: POST …/FIELD/add)")
                }
                out.append("\(name):=\(json)")
            }
            return .success(out)
        case "add", "remove":
            guard let list = object as? [Any], !list.isEmpty else { return .failure("\(action) takes a JSON array of elements, for example [\"swift\"]") }
            var out: [String] = []
            for v in list {
                guard let json = scalar(v) else { return .failure("set elements are strings, numbers, booleans or null") }
                out.append(":=" + json)
            }
            return .success(out)
        case "increment":
            guard let o = object as? [String: Any] else { return .failure("increment takes {\"by\": N}") }
            guard let by = o["by"] ?? Optional(1), let n = (by as? NSNumber).flatMap({ Int64(exactly: $0.doubleValue) }), !(by is Bool) else {
                return .failure("\"by\" must be a whole number")
            }
            return .success([String(n)])
        default:  // resolve
            guard let o = object as? [String: Any], let v = o["value"], let json = scalar(v) else {
                return .failure("resolve takes {\"value\": scalar}")
            }
            return .success([":=" + json])
        }
    }

    /// The Prometheus text exposition of the node's counters and gauges.
    static func metrics(_ node: Node) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP lattice_\(name) \(help)\n# TYPE lattice_\(name) \(type)\n"
            for (labels, value) in samples {
                let v = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
                out += "lattice_\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(v)\n"
            }
        }
        func label(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") }
        let stats = node.engine.stats
        let store = node.store
        metric("changes_local_total", "counter", "Local changes committed through this node.", [("", Double(node.localCommits))])
        metric("changes_remote_total", "counter", "Remote changes integrated (new to this node).", [("", Double(stats.integrated))])
        metric("changes_duplicate_total", "counter", "Remote changes that were already here.", [("", Double(stats.duplicates))])
        metric("changes_forbidden_total", "counter", "Remote changes refused by selective sync.", [("", Double(stats.forbidden))])
        metric("changes_sent_total", "counter", "Changes sent to peers.", [("", Double(stats.changesSent))])
        metric("catchups_total", "counter", "State catch-ups sent and received.", [
            ("direction=\"sent\"", Double(stats.catchUpsSent)), ("direction=\"received\"", Double(stats.catchUpsReceived)),
        ])
        metric("anti_entropy_rounds_total", "counter", "Anti-entropy rounds started.", [("", Double(stats.antiEntropyRounds))])
        metric("protocol_violations_total", "counter", "Peers' protocol violations (each quarantines the peer).", [("", Double(stats.violations))])
        metric("conflicts", "gauge", "Fields holding concurrent values now.", [("", Double(store.state.conflicts().count))])
        metric("documents", "gauge", "Documents in the replica.", [("", Double(store.state.documentCount))])
        metric("log_bytes", "gauge", "Bytes in the log's segments.", [("", Double(store.store.log.byteCount))])
        metric("log_syncs_total", "counter", "Group commits (fsyncs) requested by the node.", [("", Double(node.syncs))])
        let pending = Dictionary(((try? store.pending()) ?? []).map { ($0.peer, $0.pending) }, uniquingKeysWith: { a, _ in a })
        var bytes: [(String, Double)] = []
        var messages: [(String, Double)] = []
        var queued: [(String, Double)] = []
        var connected: [(String, Double)] = []
        for (info, nodeID, _) in node.peerReport {
            let peer = "peer=\"\(label(nodeID?.description ?? info.peer.description))\""
            bytes += [(peer + ",direction=\"in\"", Double(info.bytesIn)), (peer + ",direction=\"out\"", Double(info.bytesOut))]
            messages += [(peer + ",direction=\"in\"", Double(info.messagesIn)), (peer + ",direction=\"out\"", Double(info.messagesOut))]
            queued.append((peer, Double(pending[info.peer.description] ?? 0)))
            connected.append((peer, info.connection == nil ? 0 : 1))
        }
        metric("peer_bytes_total", "counter", "Sync message bytes per peer and direction.", bytes)
        metric("peer_messages_total", "counter", "Sync messages per peer and direction.", messages)
        metric("peer_pending_changes", "gauge", "Changes the peer has not acknowledged.", queued)
        metric("peer_connected", "gauge", "1 while a session with the peer is up.", connected)
        metric("connection_failures_total", "counter", "Connections refused or failed in the handshake, by reason.",
            node.connectionFailures.sorted { $0.key < $1.key }.map { ("reason=\"\(label($0.key))\"", Double($0.value)) })
        metric("beacons_total", "counter", "LAN discovery beacons by outcome.",
            node.beaconCounts.sorted { $0.key < $1.key }.map { ("outcome=\"\($0.key)\"", Double($0.value)) })
        return out
    }

    /// `%XX` decoding of one path segment; nil for a malformed escape or invalid UTF-8.
    static func percentDecoded(_ segment: Substring) -> String? {
        guard segment.contains("%") else { return String(segment) }
        return segment.removingPercentEncoding
    }

    /// The query's `name=value` pairs (percent-decoded; `+` is a space); the last one wins.
    static func queryItems(_ target: String) -> [String: String] {
        guard let q = target.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let k = decode(kv[0]), let v = kv.count > 1 ? decode(kv[1]) : "" else { continue }
            out[k] = v
        }
        return out
    }
}
