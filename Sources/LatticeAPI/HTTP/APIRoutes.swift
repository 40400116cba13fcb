import Foundation
import LatticeCRDT
import LatticeCrypto
package import LatticeNode
import LatticeStore
import LatticeSync

/// The first endpoints of the local HTTP/JSON API (`Docs/API.md`), answered inside the running
/// node by the same code as the CLI's `--json` output, so both always agree.
package enum APIRoutes {
    /// Answers one authenticated request (on the node's loop thread).
    package static func handle(_ request: HTTPRequest, dataDirectory: String) -> HTTPResponse {
        if request.path == StatusPage.path { return StatusPage.response(method: request.method) }
        guard let node = Hosting.node else { return .error(503, code: "unavailable", message: "no node") }
        if request.path == "/metrics" {
            guard request.method == "GET" || request.method == "HEAD" else { return notAllowed(request, ["GET"]) }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(APIMetrics.render(node).utf8))
        }
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map { percentDecoded($0) }
        guard parts.count >= 2, parts[0] == "v1", parts.allSatisfy({ $0 != nil }) else {
            return .error(404, code: "not_found", message: "no such endpoint: \(request.path) (see Docs/API.md)")
        }
        let route = Array(parts.compactMap { $0 }.dropFirst())
        let query = queryItems(request.target)
        let method = request.method == "HEAD" ? "GET" : request.method
        // The change feed is answered here; everything else by the CLI's command code.
        if route == ["changes"] || route == ["events"] {
            guard method == "GET" else { return notAllowed(request, ["GET"]) }
            return route[0] == "changes" ? APIFeed.changes(request, node: node) : APIFeed.events(request, node: node)
        }
        // (command, options, positionals) per method this path takes; a JSON body adds more.
        var table: [String: (String, [String], [String])] = [:]
        var action = ""
        var createdID: String?
        switch route.count {
        case 1 where ["status", "peers", "conflicts", "keys", "config"].contains(route[0]): table["GET"] = (route[0], [], [])
        case 2 where route[0] == "config":
            // Where the API itself listens is decided on the machine, not over the API.
            if method == "PUT", ["api", "api_public"].contains(route[1]) {
                return .error(403, code: "forbidden", message: "\(route[1]) can only be set on the node's machine: lattice config set \(route[1]) VALUE")
            }
            table["PUT"] = ("config", [], ["set", route[1]])
            action = "config-set"
        case 1 where route[0] == "sync" || route[0] == "compact": table["POST"] = (route[0], [], [])
        case 1 where route[0] == "retention":
            table["GET"] = ("retention", query["collection"].map { ["--collection", $0] } ?? [], ["list"])
        case 2 where route[0] == "retention" && route[1] == "apply":
            table["POST"] = ("retention", [], ["apply"])
            action = "retention-apply"
        case 1 where route[0] == "export":
            table["GET"] = ("export", query["collection"].map { ["--collection", $0] } ?? [], [])
        case 1 where route[0] == "import":
            table["POST"] = ("import", [], ["-"])
            action = "import"
        case 1 where route[0] == "isolation":
            table["GET"] = ("isolation", [], [])
            table["PUT"] = ("isolation", [], [])
            action = "isolation"
        case 1 where route[0] == "invite":
            table["POST"] = ("invite", [], [])
            action = "invite"
        case 1 where route[0] == "join":
            table["POST"] = ("join", [], [])
            action = "join"
        case 2 where route[0] == "keys" && ["revoke", "new", "install", "use", "remove"].contains(route[1]):
            table["POST"] = ("keys", [], [route[1]])
            action = "keys-" + route[1]
        case 2 where route[0] == "docs":
            var options: [String] = []
            for name in ["prefix", "after", "limit"] { if let v = query[name] { options += ["--\(name)", v] } }
            options += APIQuery.listOptions(request.target)
            table["GET"] = ("ls", options, [route[1]])
            // POST creates a document with a fresh, time-ordered ID.
            let id = newDocumentID()
            table["POST"] = ("put", [], [route[1], id])
            if method == "POST" { createdID = id }
        case 3 where route[0] == "docs":
            table["GET"] = ("get", [], [route[1], route[2]])
            table["DELETE"] = ("rm", [], [route[1], route[2]])
            table["PUT"] = ("put", [], [route[1], route[2]])
        case 4 where route[0] == "docs" && route[3] == "history":
            table["GET"] = ("history", [], [route[1], route[2]])
        case 4 where route[0] == "docs" && route[3] == "forget":
            table["POST"] = ("forget", [], [route[1], route[2]])
            action = "forget"
        case 5 where route[0] == "docs" && route[4] == "forget":
            table["POST"] = ("forget", [], [route[1], route[2], route[3]])
            action = "forget"
        case 5 where route[0] == "docs" && ["add", "remove", "increment", "resolve"].contains(route[4]):
            let command = ["add": "set", "remove": "set", "increment": "incr", "resolve": "resolve"][route[4]] ?? ""
            let head = route[4] == "add" ? ["add"] : route[4] == "remove" ? ["rm"] : []
            table["POST"] = (command, [], head + [route[1], route[2], route[3]])
            action = route[4]
        case 5 where route[0] == "docs" && route[4] == "splices":
            table["POST"] = ("text", [], ["apply", route[1], route[2], route[3]])
            action = "splices"
        default:
            return .error(404, code: "not_found", message: "no such endpoint: \(request.path) (see Docs/API.md)")
        }
        guard let (command, given, head) = table[method] else { return notAllowed(request, table.keys.sorted()) }
        var options = given
        var positionals = head
        if ["PUT", "POST"].contains(method), !["sync", "compact", "import", "forget"].contains(command), action != "keys-new" {
            switch bodyArguments(command: command, action: action, request.body) {
            case .success(let extra, let flags):
                positionals += extra
                options += flags
            case .failure(let message): return .error(400, code: "bad_request", message: message)
            }
        }
        // Options before `--`, then positionals: a value such as "-3" is never taken for a flag.
        let input = command == "import" ? Data(request.body) : nil
        // Writes are group-committed: the loop goes on serving (and later pipelined writes share
        // the fsync); the answer leaves once the write is durable.
        let (code, stdout, stderr, durability) = Hosting.run(
            [command] + options + ["--json", "--data", dataDirectory, "--"] + positionals, stdin: input, deferringDurability: true)
        guard code == ExitCode.ok.rawValue else {
            let message = stderr.hasPrefix("lattice: ") ? String(stderr.dropFirst(9)).trimmingCharacters(in: .newlines) : stderr
            let answer = failure(code: code, message: message, command: command)
            guard let durability else { return answer }
            // An earlier write of this command is logged: answer after it, as for a success.
            return deferred(answer, until: durability)
        }
        var body = Array(stdout.utf8)
        var status = 200
        var headers: [(name: String, value: String)] = [("Content-Type", command == "export" ? "application/x-ndjson" : "application/json")]
        if let createdID {
            // The put's result with the new ID in front.
            let rest = stdout.drop { $0 != "{" }.dropFirst()
            body = Array("{\"id\": \(JSON.string(createdID).text), \(rest)".utf8)
            status = 201
            headers.append(("Location", "/v1/docs/\(percentEncoded(route[1]))/\(createdID)"))
        }
        let answer = HTTPResponse(status: status, headers: headers, body: body)
        guard let durability else { return answer }
        return deferred(answer, until: durability)
    }

    /// `answer` once `durability` completes; a write that could not be made durable is
    /// answered with its error instead (the command's success is never reported).
    static func deferred(_ answer: HTTPResponse, until durability: DurabilityWait) -> HTTPResponse {
        let later = HTTPDeferredResponse()
        durability.whenDone { error in
            guard let error else { return later.resolve(answer) }
            let e = cliError(error)
            later.resolve(failure(code: e.code.rawValue, message: "not durable, nothing was acknowledged: \(e.message)", command: ""))
        }
        var r = HTTPResponse(status: 202)
        r.deferred = later
        return r
    }

    /// The error answer for a command's exit code and message (named codes where the message
    /// says more than the exit code).
    static func failure(code: Int32, message: String, command: String) -> HTTPResponse {
        let (status, name): (Int, String) =
            switch code {
            case ExitCode.notFound.rawValue: (404, "not_found")
            case ExitCode.usage.rawValue: (400, "bad_request")
            case ExitCode.dataError.rawValue: (422, "invalid")
            case ExitCode.unavailable.rawValue: (503, "unavailable")
            case ExitCode.permission.rawValue: (403, "forbidden")
            default: (500, "internal")
            }
        if command == "ls", let r = APIQuery.failure(message) { return r }
        if command == "retention", message.contains("add --yes") { return .error(409, code: "confirmation_required", message: message) }
        if message.hasPrefix("version_mismatch") { return .error(409, code: "version_mismatch", message: message) }
        if message.contains("outside 0...") { return .error(422, code: "position_out_of_range", message: message) }
        return .error(status, code: name, message: message)
    }

    /// 405 with the methods `request.path` takes (an `Allow` header that adds HEAD to GET).
    package static func notAllowed(_ request: HTTPRequest, _ methods: [String]) -> HTTPResponse {
        let allowed = methods.joined(separator: ", ")
        var r = HTTPResponse.error(405, code: "method_not_allowed", message: "\(request.path) takes \(allowed)")
        r.headers.append(("Allow", methods.contains("GET") ? allowed + ", HEAD" : allowed))
        return r
    }

    /// A fresh document ID: 12 hex digits of milliseconds then 8 random ones (sorts by time).
    package static func newDocumentID() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(format: "%012llx%08x", ReplicaStore.wallMilliseconds(), UInt32.random(in: 0...UInt32.max, using: &generator))
    }
}
