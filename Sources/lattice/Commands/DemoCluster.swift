import Foundation
import LatticeAPI
import LatticeCRDT
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The signals that end `lattice demo` early (SIGINT, SIGTERM, SIGHUP). The handler only records
/// the signal; every wait of the demo checks it, stops the nodes and cleans up.
enum DemoSignals {
    /// The last signal received, 0 for none.
    static let received = Atomic<Int32>(0)

    /// The signal that asked the demo to stop, if any.
    static var pending: Int32? {
        let s = received.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// Installs the recording handler (reset to the default in children at `exec`) and unblocks
    /// the signals on this thread (a parent may have left them blocked: a mask survives `exec`).
    /// - Throws: `CLIError` when `sigaction` or `pthread_sigmask` fails.
    static func install() throws(CLIError) {
        _ = pending  // initialise the static before a handler can touch it
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            sigaddset(&mask, signal)
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { DemoSignals.received.store($0, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            guard sigaction(signal, &action, nil) == 0 else {
                throw CLIError(message: "demo: sigaction(\(signal)) failed (errno \(errno))", code: .failure)
            }
        }
        // A closed stdout (`lattice demo | head`) must not kill the demo before it stops its
        // nodes: a handler (not SIG_IGN, which children would inherit) makes writes fail instead.
        var pipe = sigaction()
        pipe.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&pipe.sa_mask)
        pipe.sa_flags = 0
        guard sigaction(SIGPIPE, &pipe, nil) == 0 else {
            throw CLIError(message: "demo: sigaction(SIGPIPE) failed (errno \(errno))", code: .failure)
        }
        let error = pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        guard error == 0 else { throw CLIError(message: "demo: pthread_sigmask failed (error \(error))", code: .failure) }
    }
}

/// The demo's child processes, all of them this same `lattice` binary: one `lattice run` per
/// node (stderr appended to `ROOT/NAME.log`) and short CLI commands (`put`, `export`, …), which
/// go through a running node's control socket, or straight to the store of a stopped one.
final class DemoCluster {
    /// One node of the demo.
    struct Member {
        let name: String
        let data: String
        let log: String
        var nodeID = ""
        var replica = ReplicaID(0)
        /// The running `lattice run`, if any.
        var process: Process?
        /// Every `lattice run` started for this node, and the port each listened on.
        var pids: [Int32] = []
        var ports: [Int] = []
    }

    let root: String
    let binary: String
    private(set) var members: [Member] = []

    /// - Parameters:
    ///   - root: the demo directory (exists, empty).
    ///   - binary: the `lattice` executable to spawn.
    ///   - names: the nodes, each getting `ROOT/NAME` as its data directory.
    init(root: String, binary: String, names: [String]) {
        self.root = root
        self.binary = binary
        members = names.map { Member(name: $0, data: root + "/" + $0, log: root + "/" + $0 + ".log") }
    }

    func member(_ name: String) -> Member? { members.first { $0.name == name } }

    private func index(_ name: String) throws(CLIError) -> Int {
        guard let i = members.firstIndex(where: { $0.name == name }) else {
            throw CLIError(message: "demo: no node named \(name)", code: .failure)
        }
        return i
    }

    /// Stops the demo if a signal asked for it.
    static func checkSignals() throws(CLIError) {
        if let s = DemoSignals.pending {
            throw CLIError(message: "demo: stopped by signal \(s)", code: .interrupted)
        }
    }

    /// Sleeps for `seconds`, or less when a signal arrives.
    static func pause(_ seconds: Double) throws(CLIError) {
        try checkSignals()
        usleep(useconds_t(seconds * 1_000_000))
        try checkSignals()
    }

    // MARK: CLI commands

    /// Runs `lattice COMMAND --data NODE ARGS…` (or without `--data` when `node` is nil) to
    /// completion and returns its stdout.
    /// - Throws: `CLIError` naming the command and its stderr when it exits non-zero or takes
    ///   longer than `timeout`; `.interrupted` when a signal arrives (the command is stopped).
    @discardableResult
    func cli(_ node: String?, _ args: [String], timeout: Double = 20) throws(CLIError) -> String {
        var argv = Array(args.prefix(1))
        if let node { argv += ["--data", try members[index(node)].data] }
        argv += args.dropFirst()
        let outPath = root + "/.cli.stdout"
        let errPath = root + "/.cli.stderr"
        let shown = (["lattice"] + argv).joined(separator: " ")
        guard FileManager.default.createFile(atPath: outPath, contents: nil, attributes: [.posixPermissions: 0o600]),
            FileManager.default.createFile(atPath: errPath, contents: nil, attributes: [.posixPermissions: 0o600]),
            let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath)
        else {
            throw CLIError(message: "demo: cannot create files in \(root); check TMPDIR", code: .failure)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = argv
        process.environment = Self.environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw CLIError(message: "demo: cannot start \(binary): \(error.localizedDescription)", code: .failure)
        }
        try? out.close()
        try? err.close()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if DemoSignals.pending != nil || Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                try Self.checkSignals()
                throw CLIError(message: "demo: `\(shown)` did not finish within \(Int(timeout)) s", code: .failure)
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try Self.checkSignals()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let why = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw CLIError(message: "demo: `\(shown)` failed (exit \(process.terminationStatus)): \(why)", code: .failure)
        }
        return stdout
    }

    /// The children's environment: ours without `LATTICE_DATA` (every command names its node).
    static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["LATTICE_DATA"] = nil
        return env
    }

    /// Creates a node (`lattice init`), in the network of `invite` if given; records its ID.
    func initNode(_ name: String, invite: String?) throws(CLIError) {
        let i = try index(name)
        let text = try cli(nil, ["init", "--data", members[i].data, "--name", name, "--json"] + (invite.map { ["--join", $0] } ?? []))
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        guard let id = object?["node_id"] as? String, let hex = object?["replica"] as? String, let replica = ReplicaID(hex: hex) else {
            throw CLIError(message: "demo: `lattice init --json` printed no node_id and replica: \(text)", code: .failure)
        }
        members[i].nodeID = id
        members[i].replica = replica
    }

    // MARK: Nodes

    /// Starts `lattice run` for `name` on a free loopback port, dialing `peers` (which must be
    /// running), and waits for its `started` log line.
    /// - Returns: the port it listens on.
    /// - Throws: `CLIError` when it exits or logs nothing within `timeout`, naming its log.
    @discardableResult
    func start(_ name: String, peers: [String], timeout: Double = 15) throws(CLIError) -> Int {
        let i = try index(name)
        var args = ["run", "--data", members[i].data, "--listen", "127.0.0.1:0", "--no-discovery", "--no-api"]
        for p in peers {
            let peer = try members[index(p)]
            guard let port = peer.ports.last, peer.process != nil else {
                throw CLIError(message: "demo: \(name) needs \(p) running first", code: .failure)
            }
            args += ["--peer", "\(peer.nodeID)@127.0.0.1:\(port)"]
        }
        let logPath = members[i].log
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw CLIError(message: "demo: cannot write \(logPath)", code: .failure)
        }
        let offset = log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = args
        // A node stops (SIGTERM) if the demo dies without stopping it, even by SIGKILL.
        process.environment = Self.environment.merging(["LATTICE_PARENT_PID": String(getpid())]) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = log
        do { try process.run() } catch {
            throw CLIError(message: "demo: cannot start `lattice run` for \(name): \(error.localizedDescription)", code: .failure)
        }
        try? log.close()
        members[i].process = process
        members[i].pids.append(process.processIdentifier)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let port = Self.startedPort(logPath, from: offset) {
                members[i].ports.append(port)
                return port
            }
            guard process.isRunning else {
                members[i].process = nil
                throw CLIError(
                    message: "demo: `lattice run` for \(name) exited (status \(process.terminationStatus)) before it started; see \(logPath)",
                    code: .failure)
            }
            guard Date() < deadline else {
                throw CLIError(message: "demo: \(name) logged no \"started\" line within \(Int(timeout)) s; see \(logPath)", code: .failure)
            }
            try Self.pause(0.01)
        }
    }

    /// The port of the first `started` line written to the log at or after `offset`.
    static func startedPort(_ path: String, from offset: UInt64) -> Int? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        handle.seek(toFileOffset: offset)
        let data = handle.readDataToEndOfFile()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                object["event"] as? String == "started", let listen = object["listen"] as? String,
                let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), port > 0
            else { continue }
            return port
        }
        return nil
    }

    /// Stops `name`'s `lattice run` with SIGTERM and waits for it to exit (SIGKILL after
    /// `timeout`). Signals are not checked: this is also the cleanup path.
    /// - Returns: its exit status, or nil when it was not running or had to be killed.
    @discardableResult
    func stop(_ name: String, timeout: Double = 10) -> Int32? {
        stop([name], timeout: timeout)[name] ?? nil
    }

    /// Stops every running node: SIGTERM to all at once, then waits for each.
    /// - Returns: each stopped node's exit status (nil: killed).
    @discardableResult
    func stopAll(timeout: Double = 10) -> [String: Int32?] {
        stop(members.map(\.name), timeout: timeout)
    }

    private func stop(_ names: [String], timeout: Double) -> [String: Int32?] {
        var stopping: [(String, Process)] = []
        for i in members.indices where names.contains(members[i].name) {
            guard let process = members[i].process else { continue }
            members[i].process = nil
            if process.isRunning { process.terminate() }
            stopping.append((members[i].name, process))
        }
        let deadline = Date().addingTimeInterval(timeout)
        var statuses: [String: Int32?] = [:]
        for (name, process) in stopping {
            while process.isRunning && Date() < deadline { usleep(2_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                statuses[name] = .some(nil)
                continue
            }
            process.waitUntilExit()
            let status: Int32? = process.terminationReason == .exit ? process.terminationStatus : nil
            statuses[name] = .some(status)
        }
        return statuses
    }
}
