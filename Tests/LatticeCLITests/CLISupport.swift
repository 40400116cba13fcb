import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP connection to 127.0.0.1:`port` whose reads time out after `timeout`; nil if
/// refused.
func connectLoopback(_ port: Int, timeout: timeval) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var tv = timeout
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = UInt16(port).bigEndian
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard ok == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// The result of running the `lattice` binary.
struct RunResult {
    var code: Int32
    var stdout: String
    var stderr: String
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

enum CLI {
    /// The built `lattice` binary: `LATTICE_BIN`, else next to the test bundle, else
    /// `.build/debug/lattice` under the package root (from `#filePath`).
    static let binary: String = {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["LATTICE_BIN"], fm.isExecutableFile(atPath: env) { return env }
        var candidates: [String] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // The bundle may be a directory (…/X.xctest/…); walk up a few levels.
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("lattice").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent("lattice").path) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/lattice").path)
        return candidates.first { fm.isExecutableFile(atPath: $0) } ?? candidates.last ?? "lattice"
    }()

    /// Runs `lattice args…` to completion.
    @discardableResult
    static func run(_ args: [String], data: String? = nil, stdin: String? = nil, env: [String: String] = [:]) throws -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        // `--data` right after the command, so that a `--` later in `args` does not swallow it.
        p.arguments = Array(args.prefix(1)) + (data.map { ["--data", $0] } ?? []) + Array(args.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["LATTICE_DATA"] = nil
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes fully before waiting (large outputs would block the child otherwise).
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return RunResult(code: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Parses stdout as one JSON value.
    static func json(_ r: RunResult) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8), options: [.fragmentsAllowed])
    }
}

/// A temporary directory, removed by `cleanup()`.
struct Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "lattice-cli-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    /// A data directory path inside (not created).
    func data(_ name: String = "node") -> String { path + "/" + name }
}

/// A small deterministic PRNG (SplitMix64) so failures can be replayed from the printed seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
