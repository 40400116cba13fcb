import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Kills a writer process with SIGKILL at random moments and checks, after each kill, that every
/// change it reported as acknowledged survived and that `verify` is clean.
///
/// `LATTICE_CRASH_CYCLES` sets the cycle count (default 100); `LATTICE_CRASH_SEED` replays a run.
@Suite struct CrashTests {
    @Test func acknowledgedChangesSurviveSigkill() throws {
        let env = ProcessInfo.processInfo.environment
        let cycles = env["LATTICE_CRASH_CYCLES"].flatMap { Int($0) } ?? 100
        let seed = env["LATTICE_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let replay = "seed \(seed) (replay: LATTICE_CRASH_SEED=\(seed) swift test --filter CrashTests)"
        let s = Scratch()
        defer { s.cleanup() }
        let d = s.data()
        let initResult = try CLI.run(["init", "--fsync", "batch"], data: d)
        try #require(initResult.code == 0, "\(initResult.stderr)")
        var acknowledged: Set<String> = []
        var withChanges = 0
        let start = Date()
        for cycle in 0..<cycles {
            let outFile = s.path + "/out-\(cycle)"
            _ = FileManager.default.createFile(atPath: outFile, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outFile))
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: CLI.binary)
            // Every few changes the writer snapshots and compacts, so kills also land there.
            writer.arguments = [
                "crash-writer", "--data", d, "--prefix", "c\(cycle)", "--compact-every", "\(Int.random(in: 20...200, using: &rng))",
                "--segment-size", "8192",
            ]
            writer.standardOutput = handle
            writer.standardError = FileHandle.nullDevice
            try writer.run()
            // Random moment: sometimes during start-up/recovery, mostly while committing.
            let delay = UInt32.random(in: 10_000...160_000, using: &rng)
            usleep(delay)
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
            try handle.close()
            let text = (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? ""
            // Only complete lines were acknowledged (a line is written after its commit returned).
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            _ = lines.popLast()  // "" after the last newline, or a partial line
            if !lines.isEmpty { withChanges += 1 }
            acknowledged.formUnion(lines)

            let verify = try CLI.run(["verify", "--json"], data: d)
            let report = CLI.json(verify) as? [String: Any]
            try #require(
                verify.code == 0 && report?["clean"] as? Bool == true,
                "cycle \(cycle): verify not clean: \(verify.stdout) \(verify.stderr); \(replay)")
            let ls = try CLI.run(["ls", "crash", "--json"], data: d)
            try #require(ls.code == 0, "cycle \(cycle): ls failed: \(ls.stderr); \(replay)")
            let present = Set((CLI.json(ls) as? [String]) ?? [])
            let lost = acknowledged.subtracting(present)
            try #require(lost.isEmpty, "cycle \(cycle): \(lost.count) acknowledged change(s) lost, e.g. \(lost.sorted().prefix(3)); \(replay)")
        }
        let seconds = Date().timeIntervalSince(start)
        print(
            "crash test: \(cycles) SIGKILL cycles (\(withChanges) with acknowledged changes), \(acknowledged.count) acknowledged changes all present, verify clean, \(String(format: "%.1f", seconds)) s, \(replay)"
        )
        #expect(withChanges > cycles / 4, "too few cycles reached a commit; \(replay)")
    }
}
