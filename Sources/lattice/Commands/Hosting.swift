import Foundation
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// Data commands while a node runs: the CLI sends its arguments over the node's control socket
/// (`DATA/control.sock`, 0600) and the node runs the same command code on its own open store,
/// so the store lock is never contended and local changes are pushed to peers at once.
enum Hosting {
    /// The node this process hosts (set by `lattice run`); commands then use its store.
    nonisolated(unsafe) static var node: Node?
    /// Where the hosted node's HTTP API listens (set by `lattice run`; nil without the API).
    nonisolated(unsafe) static var apiAddress: SocketAddress?
    /// The running node's data directory, as it opened it: a hosted command always acts on it,
    /// whatever `--data` the client gave (relative to another working directory) or omitted.
    nonisolated(unsafe) static var root: String?
    /// The running node's effective configuration (file, environment and its flags).
    nonisolated(unsafe) static var config: NodeConfig?
    /// Captured output while running a hosted command.
    nonisolated(unsafe) static var captured: [String]?
    /// Standard input forwarded by the client (`import -`).
    nonisolated(unsafe) static var stdin: Data?

    /// Commands that go through a running node.
    static let routed: Set<String> = [
        "put", "get", "ls", "rm", "set", "incr", "text", "conflicts", "resolve", "history", "export", "import", "status",
        "compact", "peers", "sync", "isolation", "invite", "keys", "join", "config",
    ]
    /// Commands that need the store to themselves.
    static let exclusive: Set<String> = ["verify", "repair", "crash-writer"]

    static func socketPath(_ dataDirectory: String) -> String { dataDirectory + "/control.sock" }

    /// The data directory named by `--data`/`--data=`/`LATTICE_DATA`/`~/.lattice`, without parsing the rest.
    static func dataDirectory(_ args: [String]) -> String {
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

    // MARK: Client

    /// Runs `command` in the node serving this data directory, if one does. Returns the exit
    /// code, or nil when no node answers (run the command directly).
    static func forward(_ command: String, _ rest: [String]) throws(CLIError) -> Int32? {
        let dir = dataDirectory(rest)
        let path = socketPath(dir)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        if exclusive.contains(command) {
            throw CLIError(message: "\(command) needs the data directory to itself; stop the node running on \(dir) first", code: .unavailable)
        }
        guard routed.contains(command) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else { return nil }  // a stale socket: nobody listens
        var argv = [command] + rest
        var input: String?
        if command == "import", let i = argv.lastIndex(where: { !$0.hasPrefix("-") || $0 == "-" }), i > 0 {
            if argv[i] == "-" {
                input = FileHandle.standardInput.readDataToEndOfFile().base64EncodedString()
            } else if !argv[i].hasPrefix("/") {
                argv[i] = FileManager.default.currentDirectoryPath + "/" + argv[i]
            }
        }
        var request: [String: Any] = ["argv": argv]
        if let input { request["stdin"] = input }
        guard let body = try? JSONSerialization.data(withJSONObject: request) else { return nil }
        var sent = 0
        let all = [UInt8](body)
        while sent < all.count {
            let n = all.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw CLIError(message: "the node on \(dir) closed the control connection", code: .unavailable) }
            sent += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(reply))) as? [String: Any], let code = object["code"] as? Int else {
            throw CLIError(message: "the node on \(dir) gave no answer; see its log", code: .unavailable)
        }
        if let out = object["stdout"] as? String, !out.isEmpty { FileHandle.standardOutput.write(Data(out.utf8)) }
        if let err = object["stderr"] as? String, !err.isEmpty { FileHandle.standardError.write(Data(err.utf8)) }
        return Int32(code)
    }

    // MARK: Server

    /// Runs one forwarded command inside the node (on its loop thread).
    static func serve(_ request: [UInt8]) -> [UInt8] {
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
    static func run(_ argv: [String], stdin input: Data? = nil) -> (code: Int32, stdout: String, stderr: String) {
        guard let command = argv.first, routed.contains(command) else {
            return (ExitCode.usage.rawValue, "", "lattice: the node cannot run this request\n")
        }
        var code = ExitCode.ok.rawValue
        var stderr = ""
        captured = []
        stdin = input
        defer {
            captured = nil
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
        do { try dispatch(command, rest) } catch let e as CLIError {
            code = e.code.rawValue
            stderr = "lattice: \(e.message)\n"
        } catch {
            let e = cliError(error)
            code = e.code.rawValue
            stderr = "lattice: \(e.message)\n"
        }
        return (code, (captured ?? []).map { $0 + "\n" }.joined(), stderr)
    }
}
