import Foundation
import LatticeAPI
import LatticeCRDT
import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// `lattice demo`: three real nodes on loopback, an offline laptop, concurrent edits, convergence
/// and the listed conflict — the README's first example, live.
enum DemoCommand {
    static let help = """
        usage: lattice demo [--keep] [--dir DIR] [--json]

        Shows Lattice end to end on this machine in a few seconds. Creates three nodes of one
        network (desktop, chatbot, laptop) in a new temporary directory and runs each as a real
        `lattice run` child process on loopback (encrypted TCP, static peers, no discovery, no
        HTTP API). Writes knowledge items and memories on each through the CLI and waits until
        all three agree. Then stops the laptop, edits one knowledge item on the offline laptop
        (straight into its log: the offline queue) and on the desktop — the same title, the same
        text body, the same counter, the same tag set — starts the laptop again and waits for
        convergence.

        Prints each step as it happens, the converged documents, the counter with both sides'
        increments, the tag set with both sides' additions, the text body with both sides' edits
        merged, and the conflict with both values and the command that settles it.

          --keep     keep the directory afterwards (nodes stopped) and print commands to look around
          --dir DIR  put the nodes in DIR (created if missing; must be empty) and keep it
          --json     one JSON object with the same facts instead of text

        The nodes are always stopped, also on Ctrl-C (exit 130; the directory is removed unless
        kept). Exit 0 when the three nodes converged as expected; 1 otherwise, with the paths of
        the nodes' logs (the directory is then kept).
        """

    static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments("demo", a, valued: ["--dir"], flags: ["--keep"])
        if args.help { return out(help) }
        try args.expect(0...0, "demo [--keep] [--dir DIR] [--json]")
        guard args.value("--data") == nil else {
            throw CLIError(message: "demo: --data does not apply: the demo creates its own three nodes (choose where with --dir DIR)")
        }
        let binary = try executable()
        try DemoSignals.install()
        let root = try makeRoot(args.value("--dir"))
        let keep = args.flags.contains("--keep") || args.value("--dir") != nil
        let demo = DemoRun(cluster: DemoCluster(root: root, binary: binary, names: DemoScript.names), json: args.json, keep: keep)
        do {
            try demo.play()
            try demo.report()
        } catch {
            demo.cluster.stopAll()
            if error.code == .interrupted {
                if !keep { try? FileManager.default.removeItem(atPath: root) }
                throw CLIError(
                    message: "demo: interrupted; stopped the nodes and \(keep ? "kept" : "removed") \(root)", code: .interrupted)
            }
            let logs = demo.cluster.members.map(\.log).joined(separator: ", ")
            throw CLIError(message: "\(error.message); logs: \(logs); kept \(root) (rm -r it when done)", code: error.code)
        }
        demo.finish()
    }

    /// This binary, to spawn as the nodes and commands.
    static func executable() throws(CLIError) -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
            FileManager.default.isExecutableFile(atPath: path)
        {
            return path
        }
        if let path = Bundle.main.executablePath, FileManager.default.isExecutableFile(atPath: path) { return path }
        throw CLIError(message: "demo: cannot find this lattice executable (no /proc/self/exe)", code: .failure)
    }

    /// A new empty directory: `DIR` (created if missing, refused unless empty), else
    /// `$TMPDIR/lattice-demo-XXXXXX` (mkdtemp, mode 0700).
    static func makeRoot(_ dir: String?) throws(CLIError) -> String {
        let fm = FileManager.default
        let root: String
        if let dir {
            root = URL(fileURLWithPath: dir).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: root, isDirectory: &isDirectory) {
                let entries = (try? fm.contentsOfDirectory(atPath: root)) ?? []
                guard isDirectory.boolValue, entries.isEmpty else {
                    throw CLIError(message: "demo: \(root) exists and is not an empty directory; name a new one with --dir", code: .failure)
                }
            } else {
                do {
                    try fm.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                } catch {
                    throw CLIError(message: "demo: cannot create \(root): \(error.localizedDescription)", code: .failure)
                }
            }
        } else {
            var base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
            if base.isEmpty { base = "/tmp" }
            while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
            var template = Array((base + "/lattice-demo-XXXXXX").utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ $0.baseAddress.flatMap { mkdtemp($0) } }) else {
                throw CLIError(
                    message: "demo: cannot create a directory in \(base) (mkdtemp: errno \(errno)); set TMPDIR to a writable directory",
                    code: .failure)
            }
            root = String(cString: made)
        }
        // The control socket's path must fit in sockaddr_un.sun_path (108 bytes with the NUL).
        let longest = DemoScript.names.map { Hosting.socketPath(root + "/" + $0).utf8.count }.max() ?? 0
        if longest >= 108 {
            if dir == nil { try? fm.removeItem(atPath: root) }
            throw CLIError(
                message: "demo: \(root) is too long a path for the nodes' control sockets (at most 107 bytes); use a shorter --dir or TMPDIR",
                code: .failure)
        }
        return root
    }
}

/// What the demo does: the nodes, the writes of each phase, and what must hold afterwards.
enum DemoScript {
    static let names = ["desktop", "chatbot", "laptop"]

    /// Phase 1, all nodes online: each writes one knowledge item and one memory.
    static let firstWrites: [(node: String, commands: [[String]])] = [
        (
            "desktop",
            [
                [
                    "put", "knowledge", "swift-actors", "topic=swift", "title=Actors isolate mutable state",
                    "body=Use an actor when several tasks share mutable state.", "confidence:=0.8",
                ],
                ["text", "convert", "knowledge", "swift-actors", "body"],
                ["set", "add", "knowledge", "swift-actors", "tags", "swift", "concurrency"],
                ["incr", "knowledge", "swift-actors", "used"],
                ["incr", "knowledge", "swift-actors", "helped"],
                ["put", "memories", "short-answers", "note=Prefers short answers, code first", "importance:=0.9", "emotion=calm"],
                ["set", "add", "memories", "short-answers", "preferences", "concise", "code-first"],
            ]
        ),
        (
            "chatbot",
            [
                [
                    "put", "knowledge", "sqlite-wal", "topic=sqlite", "title=WAL lets readers run during a write",
                    "body=PRAGMA journal_mode=WAL: one writer, many readers.", "confidence:=0.7",
                ],
                ["set", "add", "knowledge", "sqlite-wal", "tags", "sqlite", "performance"],
                ["incr", "knowledge", "sqlite-wal", "used"],
                ["put", "memories", "flaky-ci", "note=Frustrated by a flaky CI run before a release", "importance:=0.6", "emotion=frustrated"],
                ["set", "add", "memories", "flaky-ci", "preferences", "explain-failures"],
            ]
        ),
        (
            "laptop",
            [
                [
                    "put", "knowledge", "git-bisect", "topic=git", "title=Find a regression with git bisect run",
                    "body=git bisect run ./test.sh stops at the first bad commit.", "confidence:=0.9",
                ],
                ["set", "add", "knowledge", "git-bisect", "tags", "git", "debugging"],
                ["incr", "knowledge", "git-bisect", "used"],
                ["incr", "knowledge", "git-bisect", "helped"],
                ["put", "memories", "train-offline", "note=Works on the train, offline for hours", "importance:=0.4", "emotion=relaxed"],
                ["set", "add", "memories", "train-offline", "preferences", "offline-first"],
            ]
        ),
    ]

    /// The contested document and its fields.
    static let collection = "knowledge"
    static let document = "swift-actors"
    static let conflictField = "title"
    static let counterField = "used"
    static let setField = "tags"
    /// The counter before the laptop goes offline (desktop's first `incr`).
    static let counterBefore: Int64 = 1

    /// Phase 2: the offline laptop's edits (straight into its store) and the desktop's
    /// concurrent ones (through its running node).
    static let laptopTitle = "Actors isolate state, but every await lets other calls in"
    static let desktopTitle = "Actors serialize access to mutable state"
    static let laptopIncrement: Int64 = 3
    static let desktopIncrement: Int64 = 2
    static let laptopTag = "reentrancy"
    static let desktopTag = "actors"
    /// The text field both sides edit: the desktop rewords its start, the offline laptop adds a
    /// sentence at its end; both edits are in the merged body.
    static let textField = "body"
    static let bodyBefore = "Use an actor when several tasks share mutable state."
    static let desktopBodyEdit = (position: 0, delete: 3, insert: "Prefer")
    static let laptopBodyEdit = (position: 52, delete: 0, insert: " Re-check its state after every await: other calls run there.")
    static let bodyAtEnd = "Prefer an actor when several tasks share mutable state. Re-check its state after every await: other calls run there."
    static let laptopEdits: [[String]] = [
        ["put", collection, document, "\(conflictField)=\(laptopTitle)"],
        ["text", "splice", collection, document, textField, String(laptopBodyEdit.position), String(laptopBodyEdit.delete), laptopBodyEdit.insert],
        ["incr", collection, document, counterField, String(laptopIncrement)],
        ["set", "add", collection, document, setField, laptopTag],
        ["put", "memories", "reentrancy-bug", "note=Actor reentrancy bit us in the sync engine", "importance:=0.8", "emotion=surprised"],
    ]
    static let desktopEdits: [[String]] = [
        ["put", collection, document, "\(conflictField)=\(desktopTitle)"],
        ["text", "splice", collection, document, textField, String(desktopBodyEdit.position), String(desktopBodyEdit.delete), desktopBodyEdit.insert],
        ["incr", collection, document, counterField, String(desktopIncrement)],
        ["set", "add", collection, document, setField, desktopTag],
    ]

    /// Documents at the end: every phase-1 pair plus the laptop's offline memory.
    static let documentCount = 7
    static let tagsAtEnd = ["actors", "concurrency", "reentrancy", "swift"]
    static let resolvedTitle = "Actors serialize access; every await lets other calls in"
}

/// One run of the demo: the cluster, the timeline, and what was read at the end.
final class DemoRun {
    let cluster: DemoCluster
    let json: Bool
    let keep: Bool
    private let start = Date()
    private var steps: [(at: Double, node: String?, text: String)] = []
    /// Read from the stopped nodes' stores at the end (desktop's; the others are equal).
    private var state = ReplicaState()
    private var authors: [ReplicaID: String] = [:]

    init(cluster: DemoCluster, json: Bool, keep: Bool) {
        self.cluster = cluster
        self.json = json
        self.keep = keep
    }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// Records a step; prints it at once unless `--json`.
    func step(_ node: String?, _ text: String) {
        let at = elapsed
        steps.append((at, node, text))
        if !json {
            out(String(format: "%6.2fs  ", at) + (node.map { $0.padding(toLength: 8, withPad: " ", startingAt: 0) + " " } ?? "") + text)
            flushOut()
        }
    }

    func listening(_ name: String) -> String {
        let m = cluster.member(name)
        return "127.0.0.1:\(m?.ports.last ?? 0) (pid \(m?.pids.last ?? 0))"
    }

    // MARK: The scenario

    /// Runs the scenario; leaves the nodes stopped.
    /// - Throws: `CLIError`: a command failed, a node did not start, no convergence in time, or
    ///   a signal (`.interrupted`).
    func play() throws(CLIError) {
        if !json { out("lattice demo: three nodes on loopback in \(cluster.root)") }
        try cluster.initNode("desktop", invite: nil)
        let inviteText = try cluster.cli("desktop", ["invite", "--json"])
        let invite = ((try? JSONSerialization.jsonObject(with: Data(inviteText.utf8))) as? [String: Any])?["invite"] as? String
        guard let invite else { throw CLIError(message: "demo: `lattice invite --json` printed no invite: \(inviteText)", code: .failure) }
        try cluster.initNode("chatbot", invite: invite)
        try cluster.initNode("laptop", invite: invite)
        step(nil, "created desktop, chatbot and laptop: one network (chatbot and laptop joined with desktop's invite)")

        try cluster.start("desktop", peers: [])
        step("desktop", "running on \(listening("desktop"))")
        try cluster.start("chatbot", peers: ["desktop"])
        step("chatbot", "running on \(listening("chatbot")), dialing desktop")
        try cluster.start("laptop", peers: ["desktop", "chatbot"])
        step("laptop", "running on \(listening("laptop")), dialing desktop and chatbot")

        for (node, commands) in DemoScript.firstWrites {
            for c in commands { try cluster.cli(node, c) }
            step(node, "wrote \(Self.documents(commands)) (\(commands.count) commands)")
        }
        let first = try waitForConvergence(documents: DemoScript.documentCount - 1)
        step(nil, "synced: all three nodes hold the same \(first) documents")

        let status = cluster.stop("laptop")
        step("laptop", "offline (SIGTERM, \(status.map { "exit \($0)" } ?? "killed"))")
        for c in DemoScript.laptopEdits { try cluster.cli("laptop", c) }
        step(
            "laptop",
            "offline edits, straight into its log: \(DemoScript.collection)/\(DemoScript.document) \(DemoScript.conflictField), \(DemoScript.textField) (a sentence added at its end), \(DemoScript.counterField) +\(DemoScript.laptopIncrement), \(DemoScript.setField) +\(DemoScript.laptopTag); new memories/reentrancy-bug"
        )
        for c in DemoScript.desktopEdits { try cluster.cli("desktop", c) }
        step(
            "desktop",
            "concurrent edits: \(DemoScript.collection)/\(DemoScript.document) \(DemoScript.conflictField), \(DemoScript.textField) (\"Use\" → \"Prefer\"), \(DemoScript.counterField) +\(DemoScript.desktopIncrement), \(DemoScript.setField) +\(DemoScript.desktopTag)"
        )
        try cluster.start("laptop", peers: ["desktop", "chatbot"])
        step("laptop", "back on \(listening("laptop")), dialing desktop and chatbot")
        let second = try waitForConvergence(documents: DemoScript.documentCount)
        step(nil, "converged: all three nodes hold the same \(second) documents (`lattice export` identical)")

        let statuses = cluster.stopAll()
        let unclean = statuses.filter { $0.value != 0 }.map { "\($0.key) \($0.value.map { "exit \($0)" } ?? "killed")" }.sorted()
        guard unclean.isEmpty else { throw CLIError(message: "demo: not every node stopped cleanly (\(unclean.joined(separator: ", ")))", code: .failure) }
        step(nil, "stopped the three nodes (SIGTERM, exit 0)")
    }

    /// "knowledge/x and memories/y": the documents a list of commands writes.
    static func documents(_ commands: [[String]]) -> String {
        var seen: [String] = []
        for c in commands {
            let path = c.first == "set" || c.first == "text" ? c.dropFirst(2).prefix(2) : c.dropFirst().prefix(2)
            let name = path.joined(separator: "/")
            if !seen.contains(name) { seen.append(name) }
        }
        return seen.joined(separator: " and ")
    }

    /// Polls `lattice export` on the three running nodes until all print the same state.
    /// - Returns: the number of documents they hold.
    /// - Throws: `CLIError` after `seconds`, with each node's document count.
    func waitForConvergence(documents expected: Int, seconds: Double = 20) throws(CLIError) -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        var counts: [Int] = []
        while true {
            let exports = try cluster.members.map { m throws(CLIError) in try cluster.cli(m.name, ["export"]) }
            // One line per document, then the `lattice_state` line.
            counts = exports.map { $0.split(separator: "\n").filter { $0.hasPrefix("{\"collection\"") }.count }
            if Set(exports).count == 1, counts.first == expected { return expected }
            guard Date() < deadline else {
                let detail = zip(cluster.members, counts).map { "\($0.name) \($1)" }.joined(separator: ", ")
                throw CLIError(
                    message: "demo: the nodes did not converge within \(Int(seconds)) s (documents: \(detail); expected \(expected) on each)",
                    code: .failure)
            }
            try DemoCluster.pause(0.05)
        }
    }

    // MARK: Checking and reporting

    /// Reads the three stopped nodes' stores, checks what the scenario promises, and prints it.
    /// - Throws: `CLIError` when the stores differ or a promise does not hold.
    func report() throws(CLIError) {
        var states: [ReplicaState] = []
        for m in cluster.members {
            let (store, _) = try openNode(try Arguments("demo", ["--data", m.data]))
            states.append(store.state)
            do { try store.close() } catch { throw cliError(error) }
        }
        guard let desktop = states.first, states.allSatisfy({ $0 == desktop }) else {
            throw CLIError(message: "demo: the three stores differ after convergence", code: .failure)
        }
        state = desktop
        for m in cluster.members {
            for c in state.collections { authors[m.replica.scoped(to: c)] = m.name }
        }
        try check()
        if json { return }
        out("")
        out("Converged state, read from desktop (chatbot and laptop hold exactly the same):")
        out("")
        for (collection, id, _) in documents() {
            relay(try cluster.cli("desktop", ["get", collection.string, id.string]))
        }
        out("")
        let path = "\(DemoScript.collection)/\(DemoScript.document)"
        out(
            "Counter \(path) \(DemoScript.counterField) = \(counter): \(DemoScript.counterBefore) before, +\(DemoScript.desktopIncrement) on desktop, +\(DemoScript.laptopIncrement) on laptop while offline: no increment lost"
        )
        out("Set \(path) \(DemoScript.setField) = {\(tags.map(valueText).joined(separator: ", "))}: both concurrent additions kept")
        out("Text \(path) \(DemoScript.textField) = \(valueText(.string(body)))")
        out("  desktop reworded its start, laptop added a sentence at its end while offline: both edits merged, no conflict")
        out("")
        out("Conflicts (`lattice conflicts`, the same on all three nodes):")
        relay(try cluster.cli("desktop", ["conflicts"]))
        let legend = conflicts.flatMap(\.siblings).map { "\(replicaHex($0.tag.dot.replica)) = \(author($0.tag))" }
        out("  (dot authors: \(legend.joined(separator: ", ")))")
        out("")
        out("Concurrent edits of one field stay visible until someone decides. On any node:")
        out("  \(resolveCommand(data: nil))")
        out("and the decision syncs to the others.")
    }

    /// The documents of every collection, ordered.
    func documents() -> [(Key, Key, Document)] {
        var list: [(Key, Key, Document)] = []
        for c in state.collections {
            for id in state.documentIDs(in: c) {
                if let doc = state.document(c, id), !doc.isEmpty { list.append((c, id, doc)) }
            }
        }
        return list
    }

    var contested: FieldPath { FieldPath(Key(DemoScript.collection), Key(DemoScript.document), Key(DemoScript.conflictField)) }
    var counter: Int64 {
        guard case .counter(let n)? = state.value(FieldPath(contested.collection, contested.document, Key(DemoScript.counterField))) else { return 0 }
        return n
    }
    var tags: [Value] {
        guard case .set(let elements)? = state.value(FieldPath(contested.collection, contested.document, Key(DemoScript.setField))) else { return [] }
        return elements
    }
    var conflicts: [Conflict] { state.conflicts() }
    var body: String {
        guard case .text(let s)? = state.value(FieldPath(contested.collection, contested.document, Key(DemoScript.textField))) else { return "" }
        return s
    }

    func author(_ tag: Tag) -> String { authors[tag.dot.replica] ?? "unknown" }

    /// What the scenario promises: every document, both increments, both tags, one conflict
    /// holding the desktop's and the laptop's title.
    func check() throws(CLIError) {
        func fail(_ what: String) -> CLIError { CLIError(message: "demo: converged, but \(what)", code: .failure) }
        let count = documents().count
        guard count == DemoScript.documentCount else { throw fail("\(count) documents instead of \(DemoScript.documentCount)") }
        let expected = DemoScript.counterBefore + DemoScript.desktopIncrement + DemoScript.laptopIncrement
        guard counter == expected else { throw fail("\(DemoScript.document) \(DemoScript.counterField) is \(counter), not \(expected)") }
        let tagText = tags.map(valueText)
        guard tagText == DemoScript.tagsAtEnd.map({ valueText(.string($0)) }) else { throw fail("tags are {\(tagText.joined(separator: ", "))}") }
        guard body == DemoScript.bodyAtEnd else { throw fail("the body is \(valueText(.string(body))), not both edits merged") }
        let list = conflicts
        guard list.count == 1, let c = list.first, c.path == contested else {
            throw fail("the conflicts are [\(list.map { "\($0.path)" }.joined(separator: ", "))], not just \(contested)")
        }
        let byAuthor = Dictionary(c.siblings.map { (author($0.tag), $0.value) }, uniquingKeysWith: { a, _ in a })
        guard c.siblings.count == 2, byAuthor["desktop"] == .string(DemoScript.desktopTitle), byAuthor["laptop"] == .string(DemoScript.laptopTitle) else {
            throw fail("the conflict's siblings are \(c.siblings.map { "\(author($0.tag)) \(valueText($0.value))" })")
        }
    }

    func resolveCommand(data: String?) -> String {
        let args = ["lattice", "resolve", DemoScript.collection, DemoScript.document, DemoScript.conflictField, DemoScript.resolvedTitle]
        return (args + (data.map { ["--data", $0] } ?? [])).map(shellQuoted).joined(separator: " ")
    }

    /// Prints the JSON object or the closing lines; removes the directory unless kept.
    func finish() {
        let root = cluster.root
        for name in [".cli.stdout", ".cli.stderr"] { try? FileManager.default.removeItem(atPath: root + "/" + name) }
        if !keep { try? FileManager.default.removeItem(atPath: root) }
        if json { return out(jsonReport().text) }
        out("")
        if keep {
            let desktop = cluster.member("desktop")?.data ?? root
            out("Kept \(root) (the nodes are stopped). Look around:")
            out("  lattice get knowledge swift-actors --data \(shellQuoted(cluster.member("laptop")?.data ?? root))")
            out("  lattice history knowledge swift-actors --data \(shellQuoted(desktop))")
            out("  lattice conflicts --data \(shellQuoted(cluster.member("chatbot")?.data ?? root))")
            out("  \(resolveCommand(data: desktop))")
            out("  lattice run --data \(shellQuoted(desktop)) --listen 127.0.0.1:0 --no-discovery --no-api   (its log so far: \(shellQuoted(cluster.member("desktop")?.log ?? root)))")
            out("Remove it with: rm -r \(shellQuoted(root))")
        } else {
            out("Removed \(root) (keep it with --keep).")
        }
        out(String(format: "Done in %.1f s.", elapsed))
    }

    func jsonReport() -> JSON {
        func rounded(_ t: Double) -> JSON { .double((t * 1000).rounded() / 1000) }
        let nodes: [JSON] = cluster.members.map { m in
            .object([
                ("name", .string(m.name)), ("node_id", .string(m.nodeID)), ("replica", .string(replicaHex(m.replica))),
                ("data", .string(m.data)), ("log", .string(m.log)),
                ("pids", .array(m.pids.map { .int(Int64($0)) })), ("ports", .array(m.ports.map { .int(Int64($0)) })),
            ])
        }
        return .object([
            ("ok", .bool(true)), ("seconds", rounded(elapsed)), ("directory", .string(cluster.root)), ("kept", .bool(keep)),
            ("nodes", .array(nodes)),
            ("steps", .array(steps.map { .object([("at", rounded($0.at)), ("node", $0.node.map { .string($0) } ?? .null), ("text", .string($0.text))]) })),
            ("agree", .bool(true)),
            ("documents", .array(documents().map { documentJSON($0.0, $0.1, $0.2) })),
            (
                "counter",
                .object([
                    ("collection", .string(DemoScript.collection)), ("id", .string(DemoScript.document)),
                    ("field", .string(DemoScript.counterField)), ("before", .int(DemoScript.counterBefore)),
                    ("increments", .object([("desktop", .int(DemoScript.desktopIncrement)), ("laptop", .int(DemoScript.laptopIncrement))])),
                    ("value", .int(counter)),
                ])
            ),
            (
                "set",
                .object([
                    ("collection", .string(DemoScript.collection)), ("id", .string(DemoScript.document)),
                    ("field", .string(DemoScript.setField)),
                    ("added", .object([("desktop", .array([.string(DemoScript.desktopTag)])), ("laptop", .array([.string(DemoScript.laptopTag)]))])),
                    ("value", .array(tags.map(valueJSON))),
                ])
            ),
            (
                "text",
                .object([
                    ("collection", .string(DemoScript.collection)), ("id", .string(DemoScript.document)),
                    ("field", .string(DemoScript.textField)), ("before", .string(DemoScript.bodyBefore)),
                    (
                        "splices",
                        .object(
                            [("desktop", DemoScript.desktopBodyEdit), ("laptop", DemoScript.laptopBodyEdit)].map { name, e in
                                (name, .object([("position", .int(Int64(e.position))), ("delete", .int(Int64(e.delete))), ("insert", .string(e.insert))]))
                            })
                    ),
                    ("value", .string(body)),
                ])
            ),
            ("conflicts", .array(conflicts.map { c in conflictJSON(c) { [("node", .string(author($0.tag)))] } })),
            ("resolve", .string(resolveCommand(data: nil))),
        ])
    }
}

/// `text` as one shell word (single-quoted unless it is plainly safe).
func shellQuoted(_ text: String) -> String {
    let safe = !text.isEmpty && text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-:=@+,".unicodeScalars.contains($0) }
    return safe ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Prints a command's output as is (without doubling its final newline).
private func relay(_ text: String) {
    out(text.hasSuffix("\n") ? String(text.dropLast()) : text)
}
