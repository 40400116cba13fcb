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
            process.arguments = ["run", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "debug", "--no-discovery"] + args
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

    static func value(_ data: String, _ collection: String, _ id: String) throws -> String {
        try CLI.run(["get", collection, id, "--json"], data: data).stdout
    }

    @Test func twoNodesSyncBothWaysThroughTheRunningNodes() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dirs = try Self.network(s, 2)
        let a = try Daemon(data: dirs[0])
        defer { a.stop() }
        let port = try a.port()
        let b = try Daemon(data: dirs[1], args: ["--peer", "\(try Self.nodeID(dirs[0]))@127.0.0.1:\(port)"])
        defer { b.stop() }
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
}
