package import Foundation
import LatticeCRDT
import LatticeCrypto
package import LatticeNode
import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// Data commands while a node runs: the CLI sends its arguments over the node's control socket
/// (`DATA/control.sock`, 0600) and the node runs the same command code on its own open store,
/// so the store lock is never contended and local changes are pushed to peers at once. The HTTP
/// API runs its commands the same way (`run`). This is the node's half; the client's half
/// (`forward`) is in the executable.
package enum Hosting {
    /// The node this process hosts (set by `lattice run`); commands then use its store.
    package nonisolated(unsafe) static var node: Node?
    /// Where the hosted node's HTTP API listens (set by `lattice run`; nil without the API).
    package nonisolated(unsafe) static var apiAddress: SocketAddress?
    /// The running node's data directory, as it opened it: a hosted command always acts on it,
    /// whatever `--data` the client gave (relative to another working directory) or omitted.
    package nonisolated(unsafe) static var root: String?
    /// The running node's effective configuration (file, environment and its flags).
    package nonisolated(unsafe) static var config: NodeConfig?
    /// Captured output while running a hosted command.
    package nonisolated(unsafe) static var captured: String?
    /// Notes for the client's stderr while running a hosted command (see ``note(_:)``).
    package nonisolated(unsafe) static var notes: String?
    /// Standard input forwarded by the client (`import -`).
    package nonisolated(unsafe) static var stdin: Data?
    /// While running a hosted command whose caller waits for durability itself (the HTTP
    /// API): the commits it group-committed without blocking the loop.
    package nonisolated(unsafe) static var durability: DurabilityWait?

    /// Commands that go through a running node.
    package static let routed: Set<String> = [
        "put", "get", "ls", "rm", "set", "incr", "text", "conflicts", "resolve", "history", "forget", "retention", "export", "import", "status",
        "compact", "peers", "sync", "isolation", "invite", "keys", "join", "config",
    ]
    /// Commands that need the store to themselves.
    package static let exclusive: Set<String> = ["verify", "repair", "crash-writer"]

    package static func socketPath(_ dataDirectory: String) -> String { dataDirectory + "/control.sock" }

    /// The data directory named by `--data`/`--data=`/`LATTICE_DATA`/`~/.lattice`, without parsing the rest.
    package static func dataDirectory(_ args: [String]) -> String {
        var i = 0
        while i < args.count {
            if args[i] == "--data", i + 1 < args.count { return args[i + 1] }
            if args[i].hasPrefix("--data=") { return String(args[i].dropFirst(7)) }
            if args[i] == "--" { break }
            i += 1
        }
        if let d = ProcessInfo.processInfo.environment["LATTICE_DATA"], !d.isEmpty { return d }
        return (ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()) + "/.lattice"
    }

    // MARK: Server

    /// Makes `node` the hosted node (before its loop runs): commands then act on its store, and
    /// its control socket (`DATA/control.sock`) runs the commands clients forward.
    /// - Parameters:
    ///   - node: the node this process runs.
    ///   - config: its effective configuration (nil: commands read the data directory's).
    ///   - root: its data directory, as it opened it.
    /// - Throws: when the control socket cannot be bound.
    package static func host(_ node: Node, config: NodeConfig?, root: String) throws {
        self.node = node
        self.config = config
        self.root = root
        try node.serveControl(at: socketPath(root)) { serve($0) }
        if let config { RetentionCommand.schedule(node, root: root, interval: config.retentionInterval) }
    }

    /// Runs one forwarded command inside the node (on its loop thread).
    package static func serve(_ request: [UInt8]) -> [UInt8] {
        let code: Int32
        let stdout: String
        let stderr: String
        if let object = (try? JSONSerialization.jsonObject(with: Data(request))) as? [String: Any], let argv = object["argv"] as? [String], !argv.isEmpty {
            (code, stdout, stderr) = run(argv, stdin: (object["stdin"] as? String).flatMap { Data(base64Encoded: $0) })
        } else {
            (code, stdout, stderr) = (ExitCode.usage.rawValue, "", "lattice: the node cannot run this request\n")
        }
        let reply: [String: Any] = ["code": Int(code), "stdout": stdout, "stderr": stderr]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: reply)) ?? Data("{\"code\": 1}".utf8))
    }

    /// Runs a routed command inside the node (on its loop thread) with its output captured:
    /// the exit code, stdout and stderr. Used by the control socket and the HTTP API.
    package static func run(_ argv: [String], stdin input: Data? = nil) -> (code: Int32, stdout: String, stderr: String) {
        let r = run(argv, stdin: input, deferringDurability: false)
        return (r.code, r.stdout, r.stderr)
    }

    /// Runs a routed command as ``run(_:stdin:)`` does; with `deferringDurability`, its writes
    /// are group-committed without blocking the loop for an fsync (many requests share one),
    /// and the caller must not report success before the returned wait completes.
    /// - Returns: the exit code, stdout, stderr, and the wait for the command's writes to be
    ///   durable (nil when it wrote nothing or ran with `deferringDurability` false).
    package static func run(_ argv: [String], stdin input: Data?, deferringDurability: Bool)
        -> (code: Int32, stdout: String, stderr: String, durability: DurabilityWait?)
    {
        guard let command = argv.first, routed.contains(command) else {
            return (ExitCode.usage.rawValue, "", "lattice: the node cannot run this request\n", nil)
        }
        let wait = deferringDurability ? DurabilityWait() : nil
        durability = wait
        defer { durability = nil }
        var code = ExitCode.ok.rawValue
        var stderr = ""
        captured = ""
        notes = ""
        stdin = input
        defer {
            captured = nil
            notes = nil
            stdin = nil
        }
        var rest = Array(argv.dropFirst())
        if let root {
            var kept: [String] = []
            var i = 0
            while i < rest.count {
                if rest[i] == "--" {
                    kept += rest[i...]
                    break
                }
                if rest[i] == "--data" {
                    i += 2
                    continue
                }
                if !rest[i].hasPrefix("--data=") { kept.append(rest[i]) }
                i += 1
            }
            rest = ["--data", root] + kept
        }
        do { try NodeCommandTable.dispatch(command, rest) } catch {
            code = error.code.rawValue
            stderr = "lattice: \(error.message)\n"
        }
        return (code, captured ?? "", (notes ?? "") + stderr, wait?.expected == 0 ? nil : wait)
    }
}

/// The group-committed writes of one hosted command (on the node's loop thread): complete once
/// every one is durable, or as soon as one failed to become durable.
package final class DurabilityWait {
    /// Writes that were group-committed.
    private(set) var expected = 0
    private var finished = 0
    /// The first error a write reported (then the command's success must not be reported).
    package private(set) var failure: (any Error)?
    private var completion: (((any Error)?) -> Void)?
    private var done = false

    /// A completion for one more write (`Node.submit`'s `done`).
    func expect() -> ((any Error)?) -> Void {
        expected += 1
        return { [self] error in
            finished += 1
            if failure == nil, let error { failure = error }
            fire()
        }
    }

    /// Takes back the last ``expect()`` for a write that was not committed after all.
    func withdraw() {
        expected -= 1
        fire()
    }

    /// Calls `body` (on the loop) once every write is durable or one failed; at once if so already.
    /// - Parameter body: receives nil, or the error that kept a write from being durable.
    package func whenDone(_ body: @escaping ((any Error)?) -> Void) {
        completion = body
        fire()
    }

    private func fire() {
        guard !done, let completion, failure != nil || finished == expected else { return }
        done = true
        self.completion = nil
        completion(failure)
    }
}
