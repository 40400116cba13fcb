import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real `lattice run` processes on loopback: sync, multi-hop, crash and catch-up, offline
/// writes on both sides, a wrong network key, a revoked node, a second run on one data dir.
/// Each wait has a generous deadline (liveness, not speed: speed is `lattice bench --net`).
@Suite("Node processes on loopback", .serialized)
struct NodeProcessTests {
    /// A running `lattice run`.
    final class Daemon {
        let process = Process()
        let data: String
        let logPath: String
        init(data: String, args: [String] = []) throws {
            self.data = data
            logPath = data + ".log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = ["run", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "debug", "--no-discovery", "--api", "127.0.0.1:0"] + args
            var env = ProcessInfo.processInfo.environment
            env["LATTICE_DATA"] = nil
            process.environment = env
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: logPath)
            try process.run()
        }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        /// The port from the "started" log line.
        func port() throws -> Int {
            var found: Int?
            try NodeProcessTests.waitFor("\(data) to start") {
                for line in log.split(separator: "\n") where line.contains("\"event\": \"started\"") {
                    if let r = line.range(of: "127.0.0.1:"), let end = line[r.upperBound...].firstIndex(of: "\"") { found = Int(line[r.upperBound..<end]) }
                }
                return found != nil
            }
            return found ?? 0
        }
        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func waitFor(_ what: String, seconds: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }

    static func nodeID(_ data: String) throws -> String {
        let r = try CLI.run(["status", "--json"], data: data)
        return ((CLI.json(r) as? [String: Any])?["node_id"] as? String) ?? ""
    }

    /// `count` nodes sharing one network key.
    static func network(_ scratch: Scratch, _ count: Int) throws -> [String] {
        let first = scratch.data("n0")
        #expect(try CLI.run(["init"], data: first).code == 0)
        let invite = ((CLI.json(try CLI.run(["invite", "--json"], data: first)) as? [String: Any])?["invite"] as? String) ?? ""
        var dirs = [first]
        for i in 1..<count {
            let d = scratch.data("n\(i)")
            #expect(try CLI.run(["init", "--join", invite], data: d).code == 0)
            dirs.append(d)
        }
        return dirs
    }

    /// Two nodes of one network running, the second dialing the first: (dirs, first, second).
    static func runningPair(_ scratch: Scratch) throws -> ([String], Daemon, Daemon) {
        let dirs = try network(scratch, 2)
        let a = try Daemon(data: dirs[0])
        let port = try a.port()
        let b = try Daemon(data: dirs[1], args: ["--peer", "\(try nodeID(dirs[0]))@127.0.0.1:\(port)"])
        return (dirs, a, b)
    }

    static func value(_ data: String, _ collection: String, _ id: String) throws -> String {
        try CLI.run(["get", collection, id, "--json"], data: data).stdout
    }

    @Test func twoNodesSyncBothWaysThroughTheRunningNodes() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let (dirs, a, b) = try Self.runningPair(s)
        defer {
            b.stop()
            a.stop()
        }
        #expect(try CLI.run(["put", "knowledge", "k1", "title=from a"], data: dirs[0]).code == 0)
        try Self.waitFor("k1 on b") { try Self.value(dirs[1], "knowledge", "k1").contains("from a") }
        #expect(try CLI.run(["incr", "knowledge", "k1", "successes", "3"], data: dirs[1]).code == 0)
        try Self.waitFor("the counter on a") { try Self.value(dirs[0], "knowledge", "k1").contains("3") }
        let peers = try CLI.run(["peers", "--json"], data: dirs[0])
        let list = (CLI.json(peers) as? [String: Any])?["peers"] as? [[String: Any]] ?? []
        #expect(list.count == 1 && list.first?["connected"] as? Bool == true)
        #expect(try CLI.run(["sync"], data: dirs[1]).code == 0)
    }

    @Test func aChangeCrossesTwoHopsAndAKilledNodeCatchesUp() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try Self.network(s, 3)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let pa = try a.port()
        let b = try Daemon(data: dirs[1], args: ["--peer", "\(try Self.nodeID(dirs[0]))@127.0.0.1:\(pa)"])
        defer { b.stop() }
        let pb = try b.port()
        var c = try Daemon(data: dirs[2], args: ["--peer", "\(try Self.nodeID(dirs[1]))@127.0.0.1:\(pb)"])
        #expect(try CLI.run(["put", "memories", "m1", "text=hop"], data: dirs[0]).code == 0)
        try Self.waitFor("m1 on c through b") { try Self.value(dirs[2], "memories", "m1").contains("hop") }
        c.kill9()
        for i in 0..<20 { #expect(try CLI.run(["put", "memories", "w\(i)", "text=while c was down"], data: dirs[0]).code == 0) }
        c = try Daemon(data: dirs[2], args: ["--peer", "\(try Self.nodeID(dirs[1]))@127.0.0.1:\(pb)"])
        defer { c.stop() }
        try Self.waitFor("c to catch up") { try CLI.run(["ls", "memories"], data: dirs[2]).lines.count == 21 }
    }

    @Test func offlineWritesOnBothSidesConvergeWithConflictsListed() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try Self.network(s, 2)
        // Both write while apart (no node running: the CLI writes to the stores directly).
        #expect(try CLI.run(["put", "knowledge", "k", "title=A's title", "body=a"], data: dirs[0]).code == 0)
        #expect(try CLI.run(["put", "knowledge", "k", "title=B's title"], data: dirs[1]).code == 0)
        #expect(try CLI.run(["put", "knowledge", "only-b", "title=b"], data: dirs[1]).code == 0)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let port = try a.port()
        let b = try Daemon(data: dirs[1], args: ["--peer", "\(try Self.nodeID(dirs[0]))@127.0.0.1:\(port)"])
        defer { b.stop() }
        try Self.waitFor("convergence") {
            return try CLI.run(["export"], data: dirs[0]).stdout == (try CLI.run(["export"], data: dirs[1]).stdout)
        }
        #expect(try Self.value(dirs[0], "knowledge", "only-b").contains("b"))
        for d in dirs {
            let conflicts = try CLI.run(["conflicts", "--json"], data: d)
            #expect(conflicts.stdout.contains("A's title") && conflicts.stdout.contains("B's title"), "conflict listed on \(d)")
        }
        // Each value names the node that wrote it (both nodes know each other's IDs now).
        let listed = try CLI.run(["conflicts"], data: dirs[0]).stdout
        for d in dirs { #expect(listed.contains("from \(try Self.nodeID(d))"), "\(listed)") }
    }

    @Test func aWrongNetworkKeyNeverSyncsAndTheLogSaysWhy() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try Self.network(s, 1)
        let stranger = s.data("stranger")
        #expect(try CLI.run(["init"], data: stranger).code == 0)
        #expect(try CLI.run(["put", "knowledge", "secret", "title=x"], data: stranger).code == 0)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let port = try a.port()
        let x = try Daemon(data: stranger, args: ["--peer", "\(try Self.nodeID(dirs[0]))@127.0.0.1:\(port)"])
        defer { x.stop() }
        try Self.waitFor("a refusal in a's log") { a.log.contains("connection-refused") }
        #expect(a.log.contains("network key") || a.log.contains("authentic") || a.log.contains("decrypt"), "\(a.log)")
        #expect(try CLI.run(["get", "knowledge", "secret"], data: dirs[0]).code == 2)
    }

    @Test func aRevokedNodeIsRefused() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try Self.network(s, 2)
        let bID = try Self.nodeID(dirs[1])
        #expect(try CLI.run(["keys", "revoke", bID], data: dirs[0]).code == 0)
        #expect(try CLI.run(["put", "knowledge", "k", "title=not for b"], data: dirs[0]).code == 0)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let port = try a.port()
        let b = try Daemon(data: dirs[1], args: ["--peer", "\(try Self.nodeID(dirs[0]))@127.0.0.1:\(port)"])
        defer { b.stop() }
        try Self.waitFor("the refusal in a's log") { a.log.contains("revoked") }
        #expect(try CLI.run(["get", "knowledge", "k"], data: dirs[1]).code == 2)
    }

    @Test func aSecondRunOnOneDataDirectoryFailsClearly() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try Self.network(s, 1)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        _ = try a.port()
        let second = try CLI.run(["run", "--listen", "127.0.0.1:0", "--no-discovery"], data: dirs[0])
        #expect(second.code == 69)
        #expect(second.stderr.contains("in use"))
    }

    /// One HTTP/1.1 request over a fresh loopback connection; the status and body.
    static func http(_ port: Int, _ method: String, _ target: String, token: String?, body: String = "") -> (status: Int, body: String) {
        guard let fd = connectLoopback(port, timeout: timeval(tv_sec: 10, tv_usec: 0)) else { return (0, "connect failed") }
        defer { close(fd) }
        let request = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n" + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "")
            + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    /// The node serves the local HTTP API on loopback with the token from `DATA/api.token`
    /// (0600): documents written through the CLI read back over HTTP; no token, a wrong token,
    /// a wrong method and an unknown path get JSON errors with the right status.
    @Test func theLocalHTTPAPIServesWithTheTokenOnly() throws {
        let scratch = Scratch()
        defer { scratch.cleanup() }
        let dirs = try Self.network(scratch, 1)
        let node = try Daemon(data: dirs[0])
        defer { node.stop() }
        _ = try node.port()
        var api = 0
        try Self.waitFor("the api log line") {
            for line in node.log.split(separator: "\n") where line.contains("\"event\": \"api\"") {
                if let r = line.range(of: "127.0.0.1:"), let end = line[r.upperBound...].firstIndex(of: "\"") { api = Int(line[r.upperBound..<end]) ?? 0 }
            }
            return api != 0
        }
        var info = stat()
        #expect(stat(dirs[0] + "/api.token", &info) == 0 && info.st_mode & 0o777 == 0o600)
        let token = try String(contentsOfFile: dirs[0] + "/api.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try CLI.run(["put", "memories", "m 1", "note=prefers short answers"], data: dirs[0]).code == 0)
        let doc = Self.http(api, "GET", "/v1/docs/memories/m%201", token: token)
        #expect(doc.status == 200 && doc.body.contains("prefers short answers"), "\(doc)")
        #expect(Self.http(api, "GET", "/v1/docs/memories?prefix=m", token: token).body.contains("m 1"))
        let status = Self.http(api, "GET", "/v1/status", token: token)
        #expect(status.status == 200 && status.body.contains("\"running\": true"))
        #expect(Self.http(api, "GET", "/v1/status", token: nil).status == 401)
        #expect(Self.http(api, "GET", "/v1/status", token: String(token.reversed())).status == 401)
        #expect(Self.http(api, "DELETE", "/v1/status", token: token).status == 405)
        let missing = Self.http(api, "GET", "/v1/docs/memories/nope", token: token)
        #expect(missing.status == 404 && missing.body.contains("\"error\": \"not_found\""))
        #expect(Self.http(api, "GET", "/nothing", token: token).status == 404)
        #expect(Self.http(api, "POST", "/v1/sync", token: token).status == 200)
        // Writes: every field kind, through the same code as the CLI; then read back by the CLI.
        let doc2 = "/v1/docs/knowledge/k1"
        #expect(Self.http(api, "PUT", doc2, token: token, body: #"{"title": "Actors", "confidence": 0.8}"#).status == 200)
        #expect(Self.http(api, "POST", doc2 + "/tags/add", token: token, body: #"["swift", "-3"]"#).status == 200)
        #expect(Self.http(api, "POST", doc2 + "/tags/remove", token: token, body: #"["swift"]"#).status == 200)
        #expect(Self.http(api, "POST", doc2 + "/uses/increment", token: token, body: #"{"by": -3}"#).status == 200)
        #expect(Self.http(api, "POST", doc2 + "/title/resolve", token: token, body: #"{"value": "Actors isolate"}"#).status == 200)
        #expect(Self.http(api, "PUT", doc2, token: token, body: #"{"nested": {"no": 1}}"#).status == 400)
        #expect(Self.http(api, "PUT", doc2, token: token, body: "not json").status == 400)
        #expect(Self.http(api, "POST", doc2 + "/title/increment", token: token).status == 422)  // a register is not a counter
        // The full Int64 range, exactly; past it, refused without a change.
        #expect(Self.http(api, "POST", doc2 + "/big/increment", token: token, body: #"{"by": 9223372036854775807}"#).status == 200)
        let overflow = Self.http(api, "POST", doc2 + "/big/increment", token: token, body: #"{"by": 1}"#)
        #expect(overflow.status == 422 && overflow.body.contains("64-bit"), "\(overflow)")
        #expect(Self.http(api, "POST", doc2 + "/big/increment", token: token, body: #"{"by": 1.5}"#).status == 400)
        #expect(Self.http(api, "POST", doc2 + "/big/increment", token: token, body: #"{"by": 9223372036854775808}"#).status == 400)
        let read = try CLI.run(["get", "knowledge", "k1", "--json"], data: dirs[0])
        #expect(read.stdout.contains("\"Actors isolate\"") && read.stdout.contains("0.8") && read.stdout.contains("[\"-3\"]"), "\(read.stdout)")
        #expect(read.stdout.contains("\"kind\": \"counter\", \"value\": -3"), "\(read.stdout)")
        #expect(Self.http(api, "DELETE", doc2, token: token).status == 200)
        #expect(Self.http(api, "GET", doc2, token: token).status == 404)
        // Prometheus text: every sample line well-formed; the writes above are counted.
        let metrics = Self.http(api, "GET", "/metrics", token: token)
        #expect(metrics.status == 200)
        let sample = try Regex(#"^lattice_[a-z_]+(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? -?[0-9][0-9.e+-]*$"#)
        for line in metrics.body.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.wholeMatch(of: sample) != nil, "malformed sample: \(line)")
        }
        let local = metrics.body.split(separator: "\n").first { $0.hasPrefix("lattice_changes_local_total ") }
        #expect(local.flatMap { Int($0.split(separator: " ")[1]) }.map { $0 >= 7 } == true, "\(local ?? "none")")
        #expect(metrics.body.contains("# TYPE lattice_conflicts gauge"))
        #expect(Self.http(api, "GET", "/metrics", token: nil).status == 401)
        // The status page: only `/` is public, and its HTML holds no data (the browser test is
        // Tests/StatusPage/status-page-test.sh).
        let page = Self.http(api, "GET", "/", token: nil)
        #expect(page.status == 200 && page.body.hasPrefix("<!doctype html>") && page.body.contains("id=\"token-form\""))
        let id = try Self.nodeID(dirs[0])
        #expect(!id.isEmpty && !page.body.contains(token) && !page.body.contains(id))
        #expect(Self.http(api, "POST", "/", token: nil).status == 405)
        #expect(Self.http(api, "GET", "/index.html", token: nil).status == 401)
        let human = try CLI.run(["status"], data: dirs[0])
        #expect(human.stdout.contains("page       http://127.0.0.1:\(api)/#token=<contents of "), "\(human.stdout)")
        #expect(!human.stdout.contains(token))
        #expect(Self.http(api, "GET", "/v1/status", token: token).body.contains("\"api\": \"127.0.0.1:\(api)\""))
    }
}
