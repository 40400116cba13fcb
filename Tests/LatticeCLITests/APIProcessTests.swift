import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The API beyond reads and writes, against real `lattice run` processes: the change feed and
/// server-sent events (local and remote changes, resuming with Last-Event-ID), `lattice watch`,
/// isolation and key revocation at runtime, per-collection sync policy, configuration sources.
@Suite("API processes on loopback", .serialized)
struct APIProcessTests {
    typealias Daemon = NodeProcessTests.Daemon

    /// The API port and token of a running node (from DATA/api.address, DATA/api.token).
    static func api(_ data: String) throws -> (port: Int, token: String) {
        var port = 0
        try NodeProcessTests.waitFor("\(data)/api.address") {
            let text = (try? String(contentsOfFile: data + "/api.address", encoding: .utf8)) ?? ""
            port = text.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            return port != 0
        }
        let token = try String(contentsOfFile: data + "/api.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return (port, token)
    }

    static func http(_ api: (port: Int, token: String), _ method: String, _ target: String, body: String = "") -> (status: Int, body: String) {
        NodeProcessTests.http(api.port, method, target, token: api.token, body: body)
    }

    static func object(_ text: String) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
    }

    /// A server-sent events client: collects `(id, event, data)` until told to stop.
    final class EventClient {
        let fd: Int32
        var buffer: [UInt8] = []
        init(port: Int, token: String, lastEventID: String? = nil, query: String = "") throws {
            guard let fd = connectLoopback(port, timeout: timeval(tv_sec: 0, tv_usec: 200_000)) else { throw POSIXError(.ECONNREFUSED) }
            self.fd = fd
            let request = "GET /v1/events\(query) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n" + (lastEventID.map { "Last-Event-ID: \($0)\r\n" } ?? "") + "\r\n"
            _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        deinit { close(fd) }

        /// Reads what arrived (waits 200 ms at most for more).
        func poll() {
            var chunk = [UInt8](repeating: 0, count: 256 << 10)
            for _ in 0..<64 {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return }
                buffer += chunk[0..<n]
            }
        }

        var text: String { String(decoding: buffer, as: UTF8.self) }

        /// The events received so far (after the response head).
        var events: [(id: String?, event: String, data: String)] {
            guard let head = text.range(of: "\r\n\r\n") else { return [] }
            var out: [(String?, String, String)] = []
            for block in text[head.upperBound...].components(separatedBy: "\n\n") where !block.isEmpty {
                var id: String?
                var event = "message"
                var data = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                }
                if event != "message" { out.append((id, event, data)) }
            }
            return out
        }

        func changes() -> [[String: Any]] { events.filter { $0.event == "change" }.map { APIProcessTests.object($0.data) } }

        func waitFor(_ what: String, _ condition: ([[String: Any]]) -> Bool) throws {
            try NodeProcessTests.waitFor(what) {
                poll()
                return condition(changes())
            }
        }
    }

    static func touched(_ change: [String: Any]) -> [String] {
        (change["documents"] as? [[String: Any]] ?? []).map { "\($0["collection"] as? String ?? "")/\($0["id"] as? String ?? "")" }
    }

    @Test func theChangeFeedAndEventsFollowLocalAndRemoteChanges() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let (dirs, a, b) = try NodeProcessTests.runningPair(s)
        defer {
            b.stop()
            a.stop()
        }
        let apiA = try Self.api(dirs[0])

        // Live from now: a ready event with the current cursor, then each change once durable.
        let live = try EventClient(port: apiA.port, token: apiA.token, query: "?documents=1")
        try NodeProcessTests.waitFor("the ready event") {
            live.poll()
            return live.events.first?.event == "ready"
        }
        #expect(try CLI.run(["put", "knowledge", "k1", "title=from b"], data: dirs[1]).code == 0)
        let created = Self.http(apiA, "POST", "/v1/docs/memories", body: #"{"note": "prefers short answers", "importance": 0.9}"#)
        #expect(created.status == 201, "\(created)")
        let newID = Self.object(created.body)["id"] as? String ?? ""
        #expect(newID.count == 20)
        try live.waitFor("a remote and a local change") { changes in
            changes.contains { Self.touched($0) == ["knowledge/k1"] } && changes.contains { Self.touched($0) == ["memories/\(newID)"] }
        }
        let changes = live.changes()
        let remote = changes.first { Self.touched($0) == ["knowledge/k1"] } ?? [:]
        #expect(remote["origin"] as? String == "remote")
        let doc = (remote["documents"] as? [[String: Any]])?.first?["document"] as? [String: Any]
        #expect(((doc?["fields"] as? [String: Any])?["title"] as? [String: Any])?["value"] as? String == "from b")
        #expect(changes.first { Self.touched($0) == ["memories/\(newID)"] }?["origin"] as? String == "local")
        // Who wrote it: the sibling names b by its node ID and by the replica `peers` lists.
        let idB = try NodeProcessTests.nodeID(dirs[1])
        let title = ((Self.object(Self.http(apiA, "GET", "/v1/docs/knowledge/k1").body)["fields"] as? [String: Any])?["title"] as? [String: Any])
        let sibling = (title?["siblings"] as? [[String: Any]])?.first
        #expect(sibling?["node"] as? String == idB, "\(String(describing: sibling))")
        let peer = (Self.object(Self.http(apiA, "GET", "/v1/peers").body)["peers"] as? [[String: Any]])?.first
        #expect(sibling?["origin"] as? String == peer?["replica"] as? String)

        // Event IDs are the cursors, increasing.
        let ids = live.events.compactMap { $0.id.flatMap { UInt64($0) } }
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)

        // The paged feed lists the same changes; pages chain through `next`.
        var cursor: UInt64 = 0
        var listed: [[String: Any]] = []
        for _ in 0..<10 {
            let page = Self.object(Self.http(apiA, "GET", "/v1/changes?since=\(cursor)&limit=1").body)
            listed += page["changes"] as? [[String: Any]] ?? []
            cursor = (page["next"] as? NSNumber)?.uint64Value ?? cursor
            if page["more"] as? Bool != true { break }
        }
        #expect(listed.count == 2 && listed.map(Self.touched) == [["knowledge/k1"], ["memories/\(newID)"]])
        #expect(Self.http(apiA, "GET", "/v1/changes?since=abc").status == 400)
        #expect(Self.http(apiA, "POST", "/v1/changes").status == 405)
        #expect(Self.http(apiA, "GET", "/v1/changes?since=999999").status == 409)
        #expect(Self.http(apiA, "GET", "/v1/changes?since=0&limit=0").status == 400)

        // Resuming after the first change replays exactly what followed it.
        let firstCursor = (listed.first?["cursor"] as? NSNumber)?.stringValue ?? "0"
        let resumed = try EventClient(port: apiA.port, token: apiA.token, lastEventID: firstCursor)
        try resumed.waitFor("the replay") { $0.count == 1 }
        #expect(resumed.changes().map(Self.touched) == [["memories/\(newID)"]])

        // `lattice watch` prints the same feed.
        let watch = try CLI.run(["watch", "--since", "0", "--count", "2", "--json"], data: dirs[0])
        #expect(watch.code == 0)
        #expect(watch.lines.count == 2 && watch.lines.last?.contains(newID) == true, "\(watch.stdout)")

        // The rest of the CLI's data commands: history, export, import, compact.
        let history = Self.http(apiA, "GET", "/v1/docs/knowledge/k1/history")
        #expect(history.status == 200 && history.body.contains("\"local\": false"), "\(history)")
        let export = Self.http(apiA, "GET", "/v1/export?collection=memories")
        #expect(export.status == 200 && export.body.contains(newID) && !export.body.contains("knowledge"))
        let imported = Self.http(apiA, "POST", "/v1/import", body: export.body)
        #expect(imported.status == 200 && imported.body.contains("\"documents\": 1"), "\(imported)")
        #expect(Self.http(apiA, "POST", "/v1/import", body: "not an export").status == 422)
        #expect(Self.http(apiA, "POST", "/v1/compact").status == 200)

        // The remote change's replication latency and the fsyncs are in the histograms.
        let metrics = Self.http(apiA, "GET", "/metrics").body
        let count = metrics.split(separator: "\n").first { $0.hasPrefix("lattice_replication_latency_seconds_count ") }
        #expect(count.flatMap { Int($0.split(separator: " ")[1]) }.map { $0 >= 1 } == true, "\(count ?? "none")")
        #expect(metrics.contains("lattice_fsync_duration_seconds_bucket{le=\"+Inf\"}"))
        #expect(metrics.contains("lattice_packets_dropped_total{transport=\"udp\",reason=\"auth\"} 0"))
        #expect(metrics.contains("lattice_lazy_push_total{event=\"announced\"} 0"))
        #expect(metrics.contains("lattice_stream_stalls_total "))
        #expect(metrics.contains("lattice_index_upkeep_seconds_total "))
    }

    @Test func isolationAndRevocationTakeEffectAtRuntime() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try NodeProcessTests.network(s, 2)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let port = try a.port()
        let peerArgs = ["--peer", "\(try NodeProcessTests.nodeID(dirs[0]))@127.0.0.1:\(port)"]
        var b = try Daemon(data: dirs[1], args: peerArgs)
        var apiB = try Self.api(dirs[1])
        #expect(try CLI.run(["put", "knowledge", "k0", "title=before"], data: dirs[0]).code == 0)
        try NodeProcessTests.waitFor("k0 on b") { try NodeProcessTests.value(dirs[1], "knowledge", "k0").contains("before") }

        // Isolation on: the session ends, a's writes stay on a, and the mode survives a restart.
        let on = Self.http(apiB, "PUT", "/v1/isolation", body: #"{"isolated": true}"#)
        #expect(on.status == 200 && on.body.contains("\"isolated\": true"), "\(on)")
        try NodeProcessTests.waitFor("b's session to end") {
            let peers = Self.object(Self.http(apiB, "GET", "/v1/peers").body)["peers"] as? [[String: Any]] ?? []
            return peers.allSatisfy { $0["connected"] as? Bool != true }
        }
        #expect(try CLI.run(["put", "knowledge", "k1", "title=while b was isolated"], data: dirs[0]).code == 0)
        usleep(1_500_000)
        #expect(try CLI.run(["get", "knowledge", "k1"], data: dirs[1]).code == 2)
        #expect(Self.http(apiB, "GET", "/metrics").body.contains("lattice_isolated 1"))
        b.stop()
        #expect((try String(contentsOfFile: dirs[1] + "/config.json", encoding: .utf8)).contains("\"isolated\" : true"))
        b = try Daemon(data: dirs[1], args: peerArgs)
        apiB = try Self.api(dirs[1])
        #expect(Self.object(Self.http(apiB, "GET", "/v1/isolation").body)["isolated"] as? Bool == true)
        usleep(1_000_000)
        #expect(try CLI.run(["get", "knowledge", "k1"], data: dirs[1]).code == 2)
        #expect(Self.http(apiB, "PUT", "/v1/isolation", body: #"{"isolated": "yes"}"#).status == 400)
        // Off: b reconnects and catches up.
        #expect(try CLI.run(["isolation", "off"], data: dirs[1]).code == 0)
        try NodeProcessTests.waitFor("k1 on b after isolation") { try NodeProcessTests.value(dirs[1], "knowledge", "k1").contains("isolated") }

        // Revoking b on a (through a's API) ends the session at once and refuses b from then on.
        let apiA = try Self.api(dirs[0])
        let idB = try NodeProcessTests.nodeID(dirs[1])
        let revoked = Self.http(apiA, "POST", "/v1/keys/revoke", body: "{\"node_id\": \"\(idB)\"}")
        #expect(revoked.status == 200, "\(revoked)")
        #expect(Self.object(Self.http(apiA, "GET", "/v1/keys").body)["revoked"] as? [String] == [idB])
        try NodeProcessTests.waitFor("a to drop b") { a.log.contains("peer-refused") }
        #expect(try CLI.run(["put", "knowledge", "k2", "title=after revocation"], data: dirs[0]).code == 0)
        usleep(1_500_000)
        #expect(try CLI.run(["get", "knowledge", "k2"], data: dirs[1]).code == 2)
        #expect(Self.http(apiA, "POST", "/v1/keys/revoke", body: #"{"node_id": "nonsense"}"#).status == 422)
        let invite = Self.http(apiA, "POST", "/v1/invite", body: #"{"addresses": ["127.0.0.1:7946"]}"#)
        #expect(invite.status == 200 && (Self.object(invite.body)["invite"] as? String)?.hasPrefix("lattice1:") == true)
        b.stop()
    }

    @Test func aLocalOnlyCollectionNeverLeavesItsNode() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try NodeProcessTests.network(s, 2)
        #expect(try CLI.run(["config", "set", "sync", #"{"collections": {"private": "local"}}"#], data: dirs[0]).code == 0)
        #expect(try CLI.run(["put", "private", "p1", "note=stays here"], data: dirs[0]).code == 0)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let port = try a.port()
        let b = try Daemon(data: dirs[1], args: ["--peer", "\(try NodeProcessTests.nodeID(dirs[0]))@127.0.0.1:\(port)"])
        defer { b.stop() }
        #expect(try CLI.run(["put", "private", "p2", "note=also here"], data: dirs[0]).code == 0)
        #expect(try CLI.run(["put", "knowledge", "k", "title=shared"], data: dirs[0]).code == 0)
        try NodeProcessTests.waitFor("the shared collection on b") { try NodeProcessTests.value(dirs[1], "knowledge", "k").contains("shared") }
        #expect(try CLI.run(["sync"], data: dirs[1]).code == 0)
        usleep(1_000_000)
        #expect(try CLI.run(["ls", "private"], data: dirs[1]).lines.isEmpty)
    }

    @Test func configurationComesFromFileEnvironmentAndFlagsWithNamedErrors() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try NodeProcessTests.network(s, 1)
        let d = dirs[0]
        #expect(try CLI.run(["config", "set", "log_level", "warn"], data: d).code == 0)
        let shown = APIProcessTests.object(try CLI.run(["config", "--json"], data: d, env: ["LATTICE_DISCOVERY": "false"]).stdout)
        #expect((shown["log_level"] as? [String: Any])?["source"] as? String == "file")
        #expect((shown["discovery"] as? [String: Any])?["value"] as? Bool == false)
        #expect((shown["discovery"] as? [String: Any])?["source"] as? String == "env")
        #expect((shown["fsync"] as? [String: Any])?["value"] as? String == "batch")
        // Errors name the key, where it came from, and what is allowed.
        let env = try CLI.run(["run", "--no-api"], data: d, env: ["LATTICE_LOG_LEVEL": "loud"])
        #expect(env.code == 64 && env.stderr.contains("LATTICE_LOG_LEVEL") && env.stderr.contains("\"debug\", \"info\", \"warn\" or \"error\""), "\(env.stderr)")
        let set = try CLI.run(["config", "set", "sync", #"{"collections": {"x": "sometimes"}}"#], data: d)
        #expect(set.code == 65 && set.stderr.contains("sync must be"), "\(set.stderr)")
        #expect(try CLI.run(["config", "set", "discvery", "true"], data: d).stderr.contains("unknown configuration key \"discvery\""))
        try #"{"fsync": "batch", "discovery_port": 0}"#.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        let file = try CLI.run(["status"], data: d)
        #expect(file.code == 65 && file.stderr.contains("discovery_port must be a UDP port number 1-65535 (got 0)"), "\(file.stderr)")
        try #"{"fsync": "batch", "listen_port": 1}"#.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        #expect(try CLI.run(["status"], data: d).stderr.contains("unknown key \"listen_port\""))
        try #"{"fsync": "batch"}"#.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        let flag = try CLI.run(["run", "--discovery-port", "70000"], data: d)
        #expect(flag.code == 64 && flag.stderr.contains("--discovery-port must be"), "\(flag.stderr)")
    }

    /// Raw bytes to a node's API; everything it answers until it closes or `seconds` pass.
    static func raw(_ port: Int, _ request: String, seconds: Int = 5) -> String {
        guard let fd = connectLoopback(port, timeout: timeval(tv_sec: seconds, tv_usec: 0)) else { return "connect failed" }
        defer { close(fd) }
        _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Hostile clients against a real node: each gets its status, nothing is lost, the node
    /// keeps serving. (The server's limits are unit-tested in LatticeNodeTests; this is the
    /// node as shipped, with its real 10 s request deadline.)
    @Test func hostileRequestsGetTheirStatusAndTheNodeGoesOn() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try NodeProcessTests.network(s, 1)
        let node = try Daemon(data: dirs[0])
        defer { node.stop() }
        let api = try Self.api(dirs[0])
        let auth = "Authorization: Bearer \(api.token)\r\n"
        #expect(Self.http(api, "PUT", "/v1/docs/knowledge/k1", body: #"{"title": "kept"}"#).status == 200)
        // A half-sent request left idle: 408 after the node's 10 s, then the connection closes.
        let idle = DispatchQueue.global()
        nonisolated(unsafe) var halfSent = ""
        let group = DispatchGroup()
        group.enter()
        idle.async {
            halfSent = Self.raw(api.port, "GET /v1/status HTTP/1.1\r\nHost: x\r\n", seconds: 20)
            group.leave()
        }
        let oversized = Self.raw(api.port, "GET /v1/status HTTP/1.1\r\n\(auth)X-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n")
        #expect(oversized.hasPrefix("HTTP/1.1 431 "), "\(oversized.prefix(80))")
        let pipelined = Self.raw(api.port, "GET /v1/docs/knowledge/k1 HTTP/1.1\r\n\(auth)\r\nGET /v1/nothing HTTP/1.1\r\n\(auth)\r\nGET /v1/status HTTP/1.1\r\n\(auth)Connection: close\r\n\r\n")
        let statuses = pipelined.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "404", "200"], "\(statuses)")
        #expect(pipelined.range(of: "kept")!.lowerBound < pipelined.range(of: "no such endpoint")!.lowerBound)
        let chunked = Self.raw(api.port, "PUT /v1/docs/knowledge/k2 HTTP/1.1\r\n\(auth)Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(chunked.hasPrefix("HTTP/1.1 400 "))
        #expect(Self.http(api, "PUT", "/v1/docs/knowledge/k1", body: "{\"title\": ").status == 400)
        #expect(NodeProcessTests.http(api.port, "GET", "/v1/docs/knowledge/k1", token: (api.token.first == "0" ? "1" : "0") + api.token.dropFirst()).status == 401)  // one digit differs
        #expect(group.wait(timeout: .now() + 25) == .success)
        #expect(halfSent.hasPrefix("HTTP/1.1 408 ") && halfSent.contains("Connection: close"), "\(halfSent.prefix(80))")
        // Nothing lost, still serving; the configuration is readable and settable over HTTP.
        let doc = Self.http(api, "GET", "/v1/docs/knowledge/k1")
        #expect(doc.status == 200 && doc.body.contains("kept"))
        #expect(try CLI.run(["get", "knowledge", "k2"], data: dirs[0]).code == 2)
        let config = Self.object(Self.http(api, "GET", "/v1/config").body)
        #expect((config["listen"] as? [String: Any])?["source"] as? String == "flag")
        #expect(Self.http(api, "PUT", "/v1/config/log_level", body: #""warn""#).status == 200)
        #expect((try String(contentsOfFile: dirs[0] + "/config.json", encoding: .utf8)).contains("\"log_level\" : \"warn\""))
        #expect(Self.http(api, "PUT", "/v1/config/log_level", body: #""loud""#).status == 422)
        #expect(Self.http(api, "PUT", "/v1/config/nonsense", body: "1").status == 400)
    }

    /// Text over HTTP: splices against the version the client read, all or nothing; a stale
    /// version is a 409 `version_mismatch`, a position past the end a 422, and nothing changes.
    @Test func textSplicesAgainstAKnownVersion() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try NodeProcessTests.network(s, 1)
        let node = try Daemon(data: dirs[0])
        defer { node.stop() }
        let api = try Self.api(dirs[0])
        let first = Self.http(api, "POST", "/v1/docs/knowledge/k1/body/splices", body: #"{"version": "new", "splices": [{"position": 0, "insert": "hello world"}]}"#)
        #expect(first.status == 200, "\(first.body)")
        let v1 = Self.object(first.body)["version"] as? String ?? ""
        let second = Self.http(
            api, "POST", "/v1/docs/knowledge/k1/body/splices",
            body: #"{"version": "\#(v1)", "splices": [{"position": 0, "delete": 1, "insert": "H"}, {"position": 11, "insert": "!"}]}"#)
        #expect(second.status == 200 && Self.object(second.body)["value"] as? String == "Hello world!", "\(second.body)")
        let stale = Self.http(api, "POST", "/v1/docs/knowledge/k1/body/splices", body: #"{"version": "\#(v1)", "splices": [{"position": 0, "insert": "x"}]}"#)
        #expect(stale.status == 409 && stale.body.contains("version_mismatch"), "\(stale.body)")
        let v2 = Self.object(second.body)["version"] as? String ?? ""
        let late = Self.http(
            api, "POST", "/v1/docs/knowledge/k1/body/splices",
            body: #"{"version": "\#(v2)", "splices": [{"position": 0, "insert": "y"}, {"position": 99, "insert": "z"}]}"#)
        #expect(late.status == 422 && late.body.contains("position_out_of_range"), "\(late.body)")
        #expect(Self.http(api, "POST", "/v1/docs/knowledge/k1/body/splices", body: #"{"splices": 3}"#).status == 400)
        let doc = Self.object(Self.http(api, "GET", "/v1/docs/knowledge/k1").body)
        let body = (doc["fields"] as? [String: [String: Any]])?["body"]
        #expect(body?["value"] as? String == "Hello world!" && body?["kind"] as? String == "text")
        #expect((doc["cursor"] as? NSNumber)?.uint64Value == 2, "\(doc)")

        // The feed and the events report each change as splices and the version after it.
        func texts(_ change: Any) -> [String: Any]? {
            ((change as? [String: Any])?["documents"] as? [[String: Any]])?.first?["text"] as? [String: Any]
        }
        let changes = Self.object(Self.http(api, "GET", "/v1/changes?since=0").body)["changes"] as? [Any] ?? []
        #expect(changes.count == 2)
        let edits = changes.compactMap { texts($0)?["body"] as? [String: Any] }
        let splices = edits.map { ($0["splices"] as? [[String: Any]] ?? []).map { "\($0["position"] ?? "")/\($0["delete"] ?? "")/\($0["insert"] ?? "")" } }
        #expect(splices == [["0/0/hello world"], ["0/1/H", "11/0/!"]], "\(changes)")
        #expect(edits.map { $0["version"] as? String ?? "" } == [v1, v2])
        let events = try EventClient(port: api.port, token: api.token, lastEventID: "1")
        try events.waitFor("the second edit as an event") { !$0.isEmpty }
        let event = events.events.first { $0.event == "change" }
        #expect(event?.id == "2" && event?.data.contains(#""insert": "H""#) == true && event?.data.contains(v2) == true, "\(String(describing: event))")
        // `lattice watch` prints the splices.
        let watch = try CLI.run(["watch", "--since", "1", "--count", "1"], data: dirs[0])
        #expect(watch.code == 0 && watch.stdout.contains(#"body @0: -1 +"H""#) && watch.stdout.contains(#"body @11: -0 +"!""#), "\(watch.stdout)\(watch.stderr)")
    }

    /// Large documents: a page of the feed stops near 1 MiB (and says there is more), the events
    /// of a replay all arrive to a client that reads, `watch` answers an error at once, and a
    /// command forwarded with a relative `--data` acts on the node's own directory.
    @Test func largeChangesArePagedAndStreamedAndPathsAreTheNodes() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try NodeProcessTests.network(s, 1)
        let node = try Daemon(data: dirs[0])
        defer { node.stop() }
        let api = try Self.api(dirs[0])
        let big = String(repeating: "x", count: 400_000)
        #expect(Self.http(api, "PUT", "/v1/docs/notes/big", body: "{\"body\": \"\(big)\"}").status == 200)
        for _ in 0..<5 { #expect(Self.http(api, "POST", "/v1/docs/notes/big/reads/increment").status == 200) }
        var cursor: UInt64 = 0
        var pages = 0
        var seen = 0
        while pages < 10 {
            let page = Self.http(api, "GET", "/v1/changes?since=\(cursor)&limit=1000&documents=1")
            #expect(page.status == 200 && page.body.utf8.count < 1_700_000, "\(page.body.utf8.count) bytes")
            let object = Self.object(page.body)
            seen += (object["changes"] as? [Any])?.count ?? 0
            cursor = (object["next"] as? NSNumber)?.uint64Value ?? cursor
            pages += 1
            if object["more"] as? Bool != true { break }
        }
        #expect(seen == 6 && pages >= 2, "\(seen) changes in \(pages) pages")
        let events = try EventClient(port: api.port, token: api.token, lastEventID: "0", query: "?documents=1")
        try events.waitFor("six large events") { $0.count == 6 }
        // An error answer comes back at once (the request says Connection: close).
        let started = Date()
        let watch = try CLI.run(["watch", "--since", "999999"], data: dirs[0])
        #expect(watch.code == 69 && watch.stderr.contains("cursor") && Date().timeIntervalSince(started) < 10, "\(watch.stderr)")
        // A relative --data from another working directory names the same node: the node acts
        // on its own directory.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["isolation", "on", "--data", URL(fileURLWithPath: dirs[0]).lastPathComponent]
        p.currentDirectoryURL = URL(fileURLWithPath: dirs[0]).deletingLastPathComponent()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(Self.object(Self.http(api, "GET", "/v1/isolation").body)["isolated"] as? Bool == true)
        // Values that would stop the next start are refused, and the API cannot move itself.
        let exposed = try CLI.run(["config", "set", "api", #""0.0.0.0:7947""#], data: dirs[0])
        #expect(exposed.code == 65 && exposed.stderr.contains("api_public"), "\(exposed.stderr)")
        #expect(try CLI.run(["config", "set", "listen", #""nosuchhost:7946""#], data: dirs[0]).code == 65)
        #expect(Self.http(api, "PUT", "/v1/config/api_public", body: "true").status == 403)
    }
}
