import Foundation
import LatticeNode

/// The first endpoints of the local HTTP/JSON API (`Docs/API.md`), answered inside the running
/// node by the same code as the CLI's `--json` output, so both always agree.
enum APIRoutes {
    /// Answers one authenticated request (on the node's loop thread).
    static func handle(_ request: HTTPRequest, dataDirectory: String) -> HTTPResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map { percentDecoded($0) }
        guard parts.count >= 2, parts[0] == "v1", parts.allSatisfy({ $0 != nil }) else {
            return .error(404, code: "not_found", message: "no such endpoint: \(request.path) (see Docs/API.md)")
        }
        let route = parts.compactMap { $0 }.dropFirst()
        let query = queryItems(request.target)
        var argv: [String]
        let allowed: String
        switch Array(route) {
        case ["status"]:
            allowed = "GET"
            argv = ["status"]
        case ["peers"]:
            allowed = "GET"
            argv = ["peers"]
        case ["sync"]:
            allowed = "POST"
            argv = ["sync"]
        case ["conflicts"]:
            allowed = "GET"
            argv = ["conflicts"]
        case let r where r.count == 2 && r[r.startIndex] == "docs":
            allowed = "GET"
            argv = ["ls", r[r.startIndex + 1]]
            if let prefix = query["prefix"] { argv += ["--prefix", prefix] }
        case let r where r.count == 3 && r[r.startIndex] == "docs":
            allowed = "GET"
            argv = ["get", r[r.startIndex + 1], r[r.startIndex + 2]]
        default:
            return .error(404, code: "not_found", message: "no such endpoint: \(request.path) (see Docs/API.md)")
        }
        let method = request.method == "HEAD" ? "GET" : request.method
        guard method == allowed else {
            var r = HTTPResponse.error(405, code: "method_not_allowed", message: "\(request.path) takes \(allowed)")
            r.headers.append(("Allow", allowed == "GET" ? "GET, HEAD" : allowed))
            return r
        }
        let (code, stdout, stderr) = Hosting.run(argv + ["--json", "--data", dataDirectory])
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
