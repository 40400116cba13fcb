import Foundation
import LatticeCRDT
import LatticeStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end tests of every command on the built `lattice` binary.
@Suite struct CommandTests {
    func initNode(_ dir: String, _ extra: [String] = []) throws -> String {
        let r = try CLI.run(["init"] + extra, data: dir)
        #expect(r.code == 0, "init failed: \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func mode(_ path: String) -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { return -1 }
        return Int(st.st_mode & 0o777)
    }

    @Test func initCreatesPrivateFilesAndRefusesToOverwrite() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let dir = s.data()
        let id = try initNode(dir, ["--name", "alice", "--fsync", "always"])
        #expect(id.count == 63 && id.split(separator: "-").count == 8)
        #expect(mode(dir) == 0o700)
        #expect(mode(dir + "/identity.key") == 0o600)
        #expect(mode(dir + "/network.key") == 0o600)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as? [String: Any]
        #expect(config?["name"] as? String == "alice")
        #expect(config?["fsync"] as? String == "always")
        #expect((config?["created"] as? String)?.isEmpty == false)
        let again = try CLI.run(["init"], data: dir)
        #expect(again.code == 1)
        #expect(again.stderr.contains("already holds a node"))
        let json = try CLI.run(["init", "--json"], data: s.data("other"))
        #expect((CLI.json(json) as? [String: Any])?["node_id"] is String)
        // LATTICE_DATA is honoured.
        let viaEnv = try CLI.run(["status", "--json"], env: ["LATTICE_DATA": dir])
        #expect((CLI.json(viaEnv) as? [String: Any])?["node_id"] as? String == id)
    }

    @Test func helpOnEveryCommand() throws {
        for command in [
            "init", "put", "get", "ls", "rm", "set", "incr", "conflicts", "resolve", "history", "export", "import",
            "status", "verify", "repair", "compact", "invite", "join", "keys", "bench", "text",
        ] {
            let r = try CLI.run([command, "--help"])
            #expect(r.code == 0, "\(command) --help: \(r.stderr)")
            #expect(r.stdout.contains("usage: lattice \(command)"), "\(command) --help")
        }
        #expect(try CLI.run(["help"]).stdout.contains("commands") || CLI.run(["help"]).stdout.contains("documents:"))
        #expect(try CLI.run(["version"]).stdout.hasPrefix("lattice "))
    }

    @Test func textInsertDeleteSpliceConvertAndBadInput() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        #expect(try CLI.run(["text", "insert", "knowledge", "k1", "body", "0", "héllo 👍🏽"], data: d).code == 0)
        #expect(try CLI.run(["text", "splice", "knowledge", "k1", "body", "1", "1", "e"], data: d).code == 0)
        #expect(try CLI.run(["text", "delete", "knowledge", "k1", "body", "5", "3"], data: d).code == 0)
        var get = try CLI.run(["get", "knowledge", "k1", "--json"], data: d)
        var fields = try #require((CLI.json(get) as? [String: Any])?["fields"] as? [String: [String: Any]])
        #expect(fields["body"]?["kind"] as? String == "text")
        #expect(fields["body"]?["value"] as? String == "hello")
        // Past the end, a negative position, an unknown action: an error, nothing changed.
        let late = try CLI.run(["text", "insert", "knowledge", "k1", "body", "6", "x"], data: d)
        #expect(late.code == 65 && late.stderr.contains("0...5"))
        #expect(try CLI.run(["text", "delete", "knowledge", "k1", "body", "-1", "1"], data: d).code == 64)
        #expect(try CLI.run(["text", "shout", "knowledge", "k1", "body"], data: d).code == 64)
        // put of a string replaces the whole text; a register converts to text, keeping its value.
        #expect(try CLI.run(["put", "knowledge", "k1", "body=fresh"], data: d).code == 0)
        #expect(try CLI.run(["put", "knowledge", "k2", "title=draft"], data: d).code == 0)
        #expect(try CLI.run(["text", "convert", "knowledge", "k2", "title"], data: d).code == 0)
        #expect(try CLI.run(["text", "insert", "knowledge", "k2", "title", "5", "!"], data: d).code == 0)
        get = try CLI.run(["get", "knowledge", "k1", "--json"], data: d)
        fields = try #require((CLI.json(get) as? [String: Any])?["fields"] as? [String: [String: Any]])
        #expect(fields["body"]?["value"] as? String == "fresh")
        get = try CLI.run(["get", "knowledge", "k2", "--json"], data: d)
        fields = try #require((CLI.json(get) as? [String: Any])?["fields"] as? [String: [String: Any]])
        #expect(fields["title"]?["value"] as? String == "draft!")
        #expect(fields["title"]?["kind"] as? String == "text")
    }

    @Test func putGetLsRmWithEveryValueKind() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        let put = try CLI.run(
            ["put", "notes", "n1", "title=a=b", "n:=42", "neg:=-7", "f:=1.5", "t:=true", "z:=null", "q:=\"x y\"", "raw:b64=AAEC/w=="],
            data: d)
        #expect(put.code == 0, "\(put.stderr)")
        let get = try CLI.run(["get", "notes", "n1", "--json"], data: d)
        let doc = try #require(CLI.json(get) as? [String: Any])
        let fields = try #require(doc["fields"] as? [String: [String: Any]])
        #expect(fields["title"]?["value"] as? String == "a=b")
        #expect((fields["n"]?["value"] as? NSNumber)?.int64Value == 42)
        #expect((fields["neg"]?["value"] as? NSNumber)?.int64Value == -7)
        #expect((fields["f"]?["value"] as? NSNumber)?.doubleValue == 1.5)
        #expect(fields["t"]?["value"] as? Bool == true)
        #expect(fields["z"]?["value"] is NSNull)
        #expect(fields["q"]?["value"] as? String == "x y")
        #expect((fields["raw"]?["value"] as? [String: String])?["$bytes"] == "AAEC/w==")
        let human = try CLI.run(["get", "notes", "n1"], data: d)
        #expect(human.stdout.contains("title = \"a=b\""))
        #expect(human.stdout.contains("raw = b64:AAEC/w=="))
        _ = try CLI.run(["put", "notes", "n2", "x=1"], data: d)
        _ = try CLI.run(["put", "notes", "m1", "x=1"], data: d)
        #expect(try CLI.run(["ls", "notes"], data: d).lines == ["m1", "n1", "n2"])
        #expect(CLI.json(try CLI.run(["ls", "notes", "--prefix", "n", "--json"], data: d)) as? [String] == ["n1", "n2"])
        #expect(try CLI.run(["rm", "notes", "n1"], data: d).code == 0)
        let missing = try CLI.run(["get", "notes", "n1"], data: d)
        #expect(missing.code == 2)
        #expect(missing.stderr.contains("does not exist"))
        #expect(try CLI.run(["rm", "notes", "n1"], data: d).code == 2)
        #expect(try CLI.run(["ls", "notes"], data: d).lines == ["m1", "n2"])
    }

    @Test func setsAndCountersIncludingNegativeNumbers() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        #expect(try CLI.run(["set", "add", "c", "d", "tags", "a", "b", ":=3", "c"], data: d).code == 0)
        #expect(try CLI.run(["set", "rm", "c", "d", "tags", "b"], data: d).code == 0)
        #expect(try CLI.run(["incr", "c", "d", "views"], data: d).stdout.contains("= 1"))
        #expect(try CLI.run(["incr", "c", "d", "views", "10"], data: d).stdout.contains("= 11"))
        #expect(try CLI.run(["incr", "c", "d", "views", "-4"], data: d).stdout.contains("= 7"))
        let dashdash = try CLI.run(["incr", "--json", "c", "d", "views", "--", "-2"], data: d)
        #expect((CLI.json(dashdash) as? [String: Any])?["value"] as? Int == 5)
        let doc = try #require(CLI.json(try CLI.run(["get", "c", "d", "--json"], data: d)) as? [String: Any])
        let fields = try #require(doc["fields"] as? [String: [String: Any]])
        #expect(fields["tags"]?["kind"] as? String == "set")
        let tags = fields["tags"]?["value"] as? [Any]
        #expect(tags?.count == 3)
        #expect(fields["views"]?["kind"] as? String == "counter")
        #expect(fields["views"]?["value"] as? Int == 5)
        // A counter is not a register.
        let wrong = try CLI.run(["put", "c", "d", "views=1"], data: d)
        #expect(wrong.code == 65)
        #expect(wrong.stderr.contains("counter"))
        #expect(try CLI.run(["incr", "c", "d", "views", "x"], data: d).code == 64)
    }

    @Test func conflictsResolveHistoryAndExportImportRoundTrip() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let a = s.data("a")
        let b = s.data("b")
        _ = try initNode(a)
        _ = try initNode(b)
        _ = try CLI.run(["put", "notes", "n", "title=from a"], data: a)
        _ = try CLI.run(["put", "notes", "n", "title=from b", "raw:b64=AAE="], data: b)
        _ = try CLI.run(["set", "add", "notes", "n", "tags", "x", "y"], data: b)
        _ = try CLI.run(["incr", "stats", "s", "n", "-3"], data: b)
        let exportB = try CLI.run(["export"], data: b)
        #expect(exportB.code == 0)
        #expect(exportB.lines.count == 3)
        for line in exportB.lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any]) }
        let imp = try CLI.run(["import", "-"], data: a, stdin: exportB.stdout)
        #expect(imp.code == 0, "\(imp.stderr)")
        let conflicts = try #require(CLI.json(try CLI.run(["conflicts", "--json"], data: a)) as? [[String: Any]])
        #expect(conflicts.count == 1)
        #expect(conflicts.first?["field"] as? String == "title")
        #expect((conflicts.first?["siblings"] as? [Any])?.count == 2)
        #expect(try CLI.run(["get", "notes", "n"], data: a).stdout.contains("conflict: 2 siblings"))

        // Export with the conflict, import into a fresh node: equal state, conflict preserved.
        let exportA = try CLI.run(["export"], data: a)
        let c = s.data("c")
        _ = try initNode(c)
        let file = s.path + "/a.jsonl"
        try exportA.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["import", file], data: c).code == 0)
        let exportC = try CLI.run(["export"], data: c)
        #expect(exportC.stdout == exportA.stdout)
        #expect((CLI.json(try CLI.run(["conflicts", "--json"], data: c)) as? [Any])?.count == 1)
        // A collection-only export carries only that collection.
        let partial = try CLI.run(["export", "--collection", "stats"], data: a)
        #expect(partial.lines.count == 2)
        #expect(partial.lines.first?.contains("\"stats\"") == true)

        // Resolve, then history shows the local write, the remote import and the resolution.
        #expect(try CLI.run(["resolve", "notes", "n", "title", "merged"], data: a).code == 0)
        #expect((CLI.json(try CLI.run(["conflicts", "--json"], data: a)) as? [Any])?.count == 0)
        let history = try #require(CLI.json(try CLI.run(["history", "notes", "n", "--json"], data: a)) as? [[String: Any]])
        #expect(history.count == 3)
        #expect(history.map { $0["local"] as? Bool } == [true, false, true])
        #expect(history.allSatisfy { ($0["dots"] as? [String])?.isEmpty == false })
        #expect(history.first?["time"] is String)
        #expect(try CLI.run(["history", "notes", "n"], data: a).stdout.contains("remote"))
        #expect(try CLI.run(["history", "notes", "none"], data: a).code == 2)
        #expect(try CLI.run(["import", "-"], data: a, stdin: "{\"x\": 1}\n").code == 65)
        #expect(try CLI.run(["import", "-"], data: a, stdin: "not json\n").code == 65)
        #expect(try CLI.run(["import", s.path + "/missing"], data: a).code == 2)
    }

    @Test func statusVerifyCompactRepair() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        for i in 0..<5 { _ = try CLI.run(["put", "c", "d\(i)", "v=\(i)"], data: d) }
        let status = try #require(CLI.json(try CLI.run(["status", "--json"], data: d)) as? [String: Any])
        #expect(status["documents"] as? Int == 5)
        #expect(status["log_records"] as? Int == 5)
        #expect((status["log_bytes"] as? Int ?? 0) > 0)
        #expect(status["snapshot_sequence"] is NSNull)
        #expect(try CLI.run(["status"], data: d).stdout.contains("documents  5"))
        let verify = try #require(CLI.json(try CLI.run(["verify", "--json"], data: d)) as? [String: Any])
        #expect(verify["clean"] as? Bool == true)
        #expect(verify["records"] as? Int == 5)
        let compact = try CLI.run(["compact", "--json"], data: d)
        #expect((CLI.json(compact) as? [String: Any])?["snapshot_sequence"] as? Int == 5)
        let after = try #require(CLI.json(try CLI.run(["status", "--json"], data: d)) as? [String: Any])
        #expect(after["snapshot_sequence"] as? Int == 5)
        #expect(after["snapshot_age_s"] is NSNumber)
        let repair = try #require(CLI.json(try CLI.run(["repair", "--json"], data: d)) as? [String: Any])
        #expect(repair["clean"] as? Bool == true)
        #expect(try CLI.run(["ls", "c"], data: d).lines.count == 5)
    }

    @Test func corruptRecordIsReportedWithFileAndOffsetThenRepaired() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        for i in 0..<4 { _ = try CLI.run(["put", "c", "d\(i)", "v=value number \(i)"], data: d) }
        let segments = try FileManager.default.contentsOfDirectory(atPath: d + "/log").filter { $0.hasSuffix(".seg") }
        let seg = d + "/log/" + (try #require(segments.first))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: seg))
        bytes[60] ^= 0xFF  // inside the first record's payload, valid records follow
        try bytes.write(to: URL(fileURLWithPath: seg))
        let get = try CLI.run(["get", "c", "d3"], data: d)
        #expect(get.code == 65)
        #expect(get.stderr.contains(".seg") && get.stderr.contains("offset"))
        #expect(get.stderr.split(separator: "\n").count == 1)
        let verify = try CLI.run(["verify"], data: d)
        #expect(verify.code == 65)
        let repair = try CLI.run(["repair"], data: d)
        #expect(repair.code == 0, "\(repair.stderr)")
        #expect(try CLI.run(["verify"], data: d).code == 0)
        #expect(try CLI.run(["get", "c", "d3"], data: d).code == 0)
    }

    @Test func inviteJoinKeysRevoke() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let a = s.data("a")
        let b = s.data("b")
        let idA = try initNode(a)
        let idB = try initNode(b)
        let invite = try CLI.run(["invite", "--address", "10.0.0.1:7000", "--address", "[::1]:7001"], data: a)
        #expect(invite.code == 0)
        let text = invite.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.hasPrefix("lattice1:"))
        let join = try CLI.run(["join", text], data: b)
        #expect(join.code == 0, "\(join.stderr)")
        let keysB = try #require(CLI.json(try CLI.run(["keys", "--json"], data: b)) as? [String: Any])
        #expect(keysB["trusted"] as? [String] == [idA])
        #expect((keysB["network_keys"] as? [String])?.count == 2)
        let keysA = try #require(CLI.json(try CLI.run(["keys", "--json"], data: a)) as? [String: Any])
        #expect((keysB["network_keys"] as? [String])?.first == (keysA["network_keys"] as? [String])?.first)
        // init --join
        let c = s.data("c")
        _ = try initNode(c, ["--join", text])
        let keysC = try #require(CLI.json(try CLI.run(["keys", "--json"], data: c)) as? [String: Any])
        #expect(keysC["trusted"] as? [String] == [idA])
        #expect(keysC["network_keys"] as? [String] == [(keysA["network_keys"] as? [String])?.first ?? ""])
        // revoke
        #expect(try CLI.run(["keys", "revoke", idB], data: a).code == 0)
        let revoked = try #require(CLI.json(try CLI.run(["keys", "--json"], data: a)) as? [String: Any])
        #expect(revoked["revoked"] as? [String] == [idB])
        #expect(try CLI.run(["keys"], data: a).stdout.contains(idB))
        // Bad invites and IDs.
        var broken = text
        broken.removeLast(2)
        let bad = try CLI.run(["join", broken], data: b)
        #expect(bad.code == 65)
        #expect(bad.stderr.contains("invite"))
        #expect(try CLI.run(["keys", "revoke", "NOTANID"], data: a).code == 65)
        #expect(try CLI.run(["join", text], data: a).code == 65)  // own invite
        let uninitialised = try CLI.run(["join", text], data: s.data("none"))
        #expect(uninitialised.code == 2)
        #expect(uninitialised.stderr.contains("init --join"))
    }

    @Test func networkKeyRotationInThreeSteps() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let a = s.data("a")
        let b = s.data("b")
        _ = try initNode(a)
        let invite = try CLI.run(["invite"], data: a).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try initNode(b, ["--join", invite])
        func keys(_ d: String) throws -> [String] {
            try #require(CLI.json(try CLI.run(["keys", "--json"], data: d)) as? [String: Any])["network_keys"] as? [String] ?? []
        }
        let old = try keys(a)
        let oldB = try keys(b)
        #expect(old.count == 1 && oldB == old)
        // 1. install the new key everywhere (current stays the old one).
        let fresh = try #require(CLI.json(try CLI.run(["keys", "new", "--json"], data: a)) as? [String: Any])
        let newID = try #require(fresh["installed"] as? String)
        let carrier = try #require(fresh["invite"] as? String)
        #expect(try CLI.run(["keys", "install", carrier], data: b).code == 0)
        let (a1, b1) = (try keys(a), try keys(b))
        #expect(a1 == [old[0], newID] && b1 == [old[0], newID])
        // 2. use it everywhere.
        for d in [a, b] { #expect(try CLI.run(["keys", "use", newID], data: d).code == 0) }
        let (a2, b2) = (try keys(a), try keys(b))
        #expect(a2.first == newID && b2.first == newID)
        // The current key cannot be removed; 3. the old one can.
        #expect(try CLI.run(["keys", "remove", newID], data: a).code == 65)
        for d in [a, b] { #expect(try CLI.run(["keys", "remove", old[0]], data: d).code == 0) }
        let (a3, b3) = (try keys(a), try keys(b))
        #expect(a3 == [newID] && b3 == [newID])
        #expect(try CLI.run(["keys", "use", "0000000000000000"], data: a).code == 2)
    }

    @Test func badArgumentsExit64WithOneLine() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        let cases: [[String]] = [
            ["nosuchcommand"], ["put"], ["put", "c"], ["put", "c", "d"], ["put", "c", "d", "novalue"], ["put", "c", "d", "=x"],
            ["get", "c"], ["get", "c", "d", "e"], ["ls"], ["rm", "c"], ["set", "c", "d", "f", "v"], ["set", "add", "c", "d", "f"],
            ["incr", "c", "d"], ["incr", "c", "d", "f", "1.5"], ["resolve", "c", "d", "f"], ["history", "c"], ["conflicts", "x"],
            ["export", "extra"], ["import"], ["status", "--bogus"], ["verify", "x"], ["compact", "x"], ["invite", "x"],
            ["join"], ["keys", "revoke"], ["init", "--fsync", "sometimes"], ["ls", "c", "--prefix"], ["get", "--wat", "c", "d"],
        ]
        for args in cases {
            let r = try CLI.run(args, data: d)
            #expect(r.code == 64, "\(args) gave \(r.code): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("lattice: "), "\(args): \(r.stderr)")
        }
        #expect(try CLI.run([]).code == 64)
    }

    @Test func missingNodeIsNotFound() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let r = try CLI.run(["get", "c", "d"], data: s.data("nothing"))
        #expect(r.code == 2)
        #expect(r.stderr.contains("lattice init"))
    }

    @Test func insecureKeyFileIsRefused() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d)
        chmod(d + "/identity.key", 0o644)
        let r = try CLI.run(["status"], data: d)
        #expect(r.code == 77)
        #expect(r.stderr.contains("chmod 600"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func secondWriterOnLockedDirectoryFails() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        _ = try initNode(d, ["--fsync", "none"])
        // A background writer holds the lock; wait until it has committed something.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: CLI.binary)
        writer.arguments = ["crash-writer", "--data", d]
        let pipe = Pipe()
        writer.standardOutput = pipe
        try writer.run()
        defer {
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
        }
        _ = pipe.fileHandleForReading.availableData  // the first acknowledged line
        let r = try CLI.run(["put", "c", "d", "x=1"], data: d)
        #expect(r.code == 69)
        #expect(r.stderr.contains("pid \(writer.processIdentifier)"))
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(try CLI.run(["verify"], data: d).code == 69)
    }
}

/// `status` with peer watermarks (written here through LatticeStore, as the sync engine will).
@Suite struct StatusPeerTests {
    @Test func statusShowsPendingPerPeer() throws {
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        #expect(try CLI.run(["init"], data: d).code == 0)
        for i in 0..<3 { _ = try CLI.run(["put", "c", "d\(i)", "v=\(i)"], data: d) }
        do {
            let store = try LatticeStore.Store.open(at: d)
            try store.watermarks.acknowledge(peer: "behind", vector: VersionVector(), seenAtNanoseconds: 1)
            try store.watermarks.acknowledge(peer: "expired", vector: VersionVector(), seenAtNanoseconds: 1)
            try store.watermarks.expire(peer: "expired")
            try store.close()
        }
        let status = try #require(CLI.json(try CLI.run(["status", "--json"], data: d)) as? [String: Any])
        let peers = try #require(status["peers"] as? [[String: Any]])
        #expect(peers.count == 2)
        #expect(peers.first?["peer"] as? String == "behind")
        #expect(peers.first?["pending"] as? Int == 3)
        #expect(peers.first?["oldest_sequence"] as? Int == 1)
        #expect(peers.first?["oldest_age_ms"] is NSNumber)
        #expect(peers.last?["expired"] as? Bool == true)
        #expect(try CLI.run(["status"], data: d).stdout.contains("behind: 3 pending"))
        // Compaction keeps what the live peer lacks; the writer's lock is held meanwhile.
        #expect(try CLI.run(["compact"], data: d).code == 0)
        let lock = try LatticeStore.Store.open(at: d)
        let blocked = try CLI.run(["status"], data: d)
        #expect(blocked.code == 69)
        #expect(blocked.stderr.contains("pid \(getpid())"))
        try lock.close()
    }
}
