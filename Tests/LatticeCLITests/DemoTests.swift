import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `lattice demo` on the built binary: three real `lattice run` children on loopback. Checks the
/// facts it reports (and, with a kept directory, the stores themselves), and that it leaves no
/// process and no directory behind — also when stopped by Ctrl-C.
@Suite("lattice demo", .serialized)
struct DemoTests {
    /// A short scratch directory used as TMPDIR (the nodes' control socket paths must stay
    /// under 108 bytes).
    final class ShortScratch {
        let path: String
        init() throws {
            var template = Array((NSTemporaryDirectory() + "ld-XXXXXX").utf8CString)
            let made = template.withUnsafeMutableBufferPointer { $0.baseAddress.flatMap { mkdtemp($0) } }
            path = try #require(made.map { String(cString: $0) })
        }
        var entries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Every process whose command line mentions `path`, or that is a zombie among `pids`.
    static func leftovers(_ path: String, pids: [Int32] = []) -> [String] {
        let fm = FileManager.default
        var found: [String] = []
        for entry in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = fm.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let command = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if command.contains(path) || (pids.contains(pid) && data.isEmpty) { found.append("\(pid): \(command)") }
        }
        return found
    }

    /// `lattice demo` in the background with TMPDIR = `tmp`, its stdout in a file under `outputIn`.
    static func startDemo(tmp: String, outputIn: String) throws -> (Process, String) {
        let output = outputIn + "/demo.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["demo"]
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = tmp
        p.environment = env
        p.standardOutput = FileHandle(forWritingAtPath: output)
        p.standardError = FileHandle.nullDevice
        try p.run()
        return (p, output)
    }

    static func object(_ value: Any?) -> [String: Any] { value as? [String: Any] ?? [:] }
    static func list(_ value: Any?) -> [[String: Any]] { value as? [[String: Any]] ?? [] }
    static func int(_ value: Any?) -> Int? { (value as? NSNumber)?.intValue }

    @Test func jsonReportsConvergenceBothIncrementsAndTheConflictAndLeavesNothingBehind() throws {
        let tmp = try ShortScratch()
        let r = try CLI.run(["demo", "--json"], env: ["TMPDIR": tmp.path])
        #expect(r.code == 0, "\(r.stderr)")
        let report = Self.object(CLI.json(r))
        #expect(report["ok"] as? Bool == true && report["agree"] as? Bool == true, "\(r.stdout)")
        #expect(report["kept"] as? Bool == false)

        // Three nodes; the laptop ran twice (before and after it went offline).
        let nodes = Self.list(report["nodes"])
        #expect(nodes.map { $0["name"] as? String } == ["desktop", "chatbot", "laptop"])
        let pids = nodes.flatMap { ($0["pids"] as? [NSNumber] ?? []).map(\.int32Value) }
        #expect(pids.count == 4, "\(nodes)")
        #expect((nodes.last?["ports"] as? [NSNumber])?.count == 2)
        let steps = Self.list(report["steps"]).compactMap { s in (s["node"] as? String).map { "\($0) \(s["text"] as? String ?? "")" } }
        #expect(steps.contains { $0.hasPrefix("laptop offline") } && steps.contains { $0.hasPrefix("laptop back on") }, "\(steps)")

        // Every document of every node, once; the contested one carries both sides' changes.
        let documents = Self.list(report["documents"])
        let ids = documents.map { "\($0["collection"] as? String ?? "")/\($0["id"] as? String ?? "")" }
        #expect(
            ids == [
                "knowledge/git-bisect", "knowledge/sqlite-wal", "knowledge/swift-actors", "memories/flaky-ci", "memories/reentrancy-bug",
                "memories/short-answers", "memories/train-offline",
            ])
        let actors = Self.object(documents.first { $0["id"] as? String == "swift-actors" }?["fields"])

        // The counter: the sum of the increments made on both sides, none lost.
        let counter = Self.object(report["counter"])
        let increments = Self.object(counter["increments"])
        let before = try #require(Self.int(counter["before"]))
        let desktop = try #require(Self.int(increments["desktop"]))
        let laptop = try #require(Self.int(increments["laptop"]))
        #expect(desktop > 0 && laptop > 0)
        #expect(Self.int(counter["value"]) == before + desktop + laptop)
        #expect(Self.int(Self.object(actors["used"])["value"]) == before + desktop + laptop)
        #expect(Self.object(actors["tags"])["value"] as? [String] == ["actors", "concurrency", "reentrancy", "swift"])

        // The text body: the desktop's and the offline laptop's edits both in it, applied to the
        // body before, and no conflict.
        let text = Self.object(report["text"])
        var expectedBody = Array((text["before"] as? String ?? "").unicodeScalars)
        let splices = Self.object(text["splices"])
        for side in ["laptop", "desktop"] {  // the laptop's edit is further right: apply it first
            let e = Self.object(splices[side])
            let p = try #require(Self.int(e["position"]))
            let n = try #require(Self.int(e["delete"]))
            expectedBody.replaceSubrange(p..<(p + n), with: Array((e["insert"] as? String ?? "").unicodeScalars))
        }
        let merged = String(String.UnicodeScalarView(expectedBody))
        #expect(text["value"] as? String == merged && merged.contains("Prefer") && merged.hasSuffix("run there."), "\(text)")
        let body = Self.object(actors["body"])
        #expect(body["kind"] as? String == "text" && body["value"] as? String == merged, "\(body)")

        // Exactly one conflict: the title, with the desktop's and the laptop's value.
        let conflicts = Self.list(report["conflicts"])
        #expect(conflicts.count == 1, "\(conflicts)")
        let conflict = try #require(conflicts.first)
        #expect(conflict["collection"] as? String == "knowledge" && conflict["id"] as? String == "swift-actors" && conflict["field"] as? String == "title")
        let siblings = Self.list(conflict["siblings"])
        let byNode = Dictionary(siblings.map { ($0["node"] as? String ?? "?", $0["value"] as? String ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(siblings.count == 2 && Set(byNode.keys) == ["desktop", "laptop"], "\(siblings)")
        #expect(byNode["desktop"] != byNode["laptop"])
        let title = Self.object(actors["title"])
        #expect(title["conflict"] as? Bool == true && Set(Self.list(title["siblings"]).compactMap { $0["value"] as? String }) == Set(byNode.values))
        #expect((report["resolve"] as? String)?.hasPrefix("lattice resolve knowledge swift-actors title ") == true)

        // Nothing left: no node or command running on the directory, the directory removed.
        let directory = try #require(report["directory"] as? String)
        #expect(directory.hasPrefix(tmp.path))
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(tmp.entries.isEmpty, "\(tmp.entries)")
        #expect(Self.leftovers(directory, pids: pids).isEmpty, "\(Self.leftovers(directory, pids: pids))")
    }

    @Test func aKeptDirectoryHoldsThreeStoppedNodesThatAgree() throws {
        let tmp = try ShortScratch()
        let dir = tmp.path + "/demo"
        let r = try CLI.run(["demo", "--dir", dir])
        #expect(r.code == 0, "\(r.stderr)")
        for text in ["laptop   offline", "laptop   back on", "converged: all three nodes", "Conflicts (`lattice conflicts`", "lattice resolve knowledge swift-actors title", "Kept \(dir)"] {
            #expect(r.stdout.contains(text), "missing '\(text)' in:\n\(r.stdout)")
        }
        #expect(Self.leftovers(dir).isEmpty, "\(Self.leftovers(dir))")
        // The stores themselves, read by the CLI with no node running: identical everywhere.
        let names = ["desktop", "chatbot", "laptop"]
        let exports = try names.map { try CLI.run(["export"], data: dir + "/" + $0) }
        #expect(exports.allSatisfy { $0.code == 0 && !$0.stdout.isEmpty })
        #expect(Set(exports.map(\.stdout)).count == 1)
        for name in names {
            let conflicts = try CLI.run(["conflicts", "--json"], data: dir + "/" + name)
            let list = CLI.json(conflicts) as? [[String: Any]] ?? []
            #expect(list.count == 1 && list.first?["field"] as? String == "title", "\(name): \(conflicts.stdout)")
            let values = Set(Self.list(list.first?["siblings"]).compactMap { $0["value"] as? String })
            #expect(values.count == 2, "\(name): \(conflicts.stdout)")
            let doc = Self.object(CLI.json(try CLI.run(["get", "knowledge", "swift-actors", "--json"], data: dir + "/" + name)))
            #expect(Self.int(Self.object(Self.object(doc["fields"])["used"])["value"]) == 6, "\(name): \(doc)")
        }
        // The printed hint settles the conflict.
        #expect(try CLI.run(["resolve", "knowledge", "swift-actors", "title", "Actors serialize access"], data: dir + "/laptop").code == 0)
        #expect(try CLI.run(["conflicts", "--json"], data: dir + "/laptop").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test func ctrlCStopsTheNodesAndRemovesTheDirectory() throws {
        let tmp = try ShortScratch()
        let elsewhere = try ShortScratch()
        let (p, output) = try Self.startDemo(tmp: tmp.path, outputIn: elsewhere.path)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        // Interrupt once two nodes run.
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("chatbot  running"), p.isRunning, Date() < deadline {
            usleep(10_000)
            text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        #expect(text.contains("chatbot  running"), "\(text)")
        kill(p.processIdentifier, SIGINT)
        let stopDeadline = Date().addingTimeInterval(20)
        while p.isRunning, Date() < stopDeadline { usleep(10_000) }
        #expect(!p.isRunning)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(tmp.entries.isEmpty, "\(tmp.entries)")
        let directory = try #require(text.split(separator: "\n").first.flatMap { $0.components(separatedBy: " in ").last })
        #expect(directory.hasPrefix(tmp.path))
        #expect(Self.leftovers(directory).isEmpty, "\(Self.leftovers(directory))")
    }

    /// Even a demo killed with SIGKILL (no chance to clean up) leaves no node running: each
    /// `lattice run` child gets SIGTERM from the kernel when the demo dies (PR_SET_PDEATHSIG).
    @Test func aKilledDemoLeavesNoNodeRunning() throws {
        let tmp = try ShortScratch()
        let elsewhere = try ShortScratch()
        let (p, output) = try Self.startDemo(tmp: tmp.path, outputIn: elsewhere.path)
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("laptop   running"), p.isRunning, Date() < deadline {
            usleep(10_000)
            text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        #expect(text.contains("laptop   running"), "\(text)")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let directory = try #require(text.split(separator: "\n").first.flatMap { $0.components(separatedBy: " in ").last })
        let stopDeadline = Date().addingTimeInterval(15)
        while !Self.leftovers(directory).isEmpty, Date() < stopDeadline { usleep(50_000) }
        #expect(Self.leftovers(directory).isEmpty, "\(Self.leftovers(directory))")
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func helpAndBadArguments() throws {
        let help = try CLI.run(["demo", "--help"])
        #expect(help.code == 0 && help.stdout.contains("usage: lattice demo"))
        #expect(try CLI.run(["help"]).stdout.contains("demo [--keep]"))
        #expect(try CLI.run(["demo", "--data", "/tmp/x"]).code == 64)
        #expect(try CLI.run(["demo", "extra"]).code == 64)
        let tmp = try ShortScratch()
        let full = tmp.path + "/full"
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full + "/x", contents: Data())
        let refused = try CLI.run(["demo", "--dir", full])
        #expect(refused.code == 1 && refused.stderr.contains("not an empty directory"))
        #expect(tmp.entries == ["full"])
    }
}
