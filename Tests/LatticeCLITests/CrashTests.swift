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
        var acknowledgedEnd: (String, Int)?
        var withChanges = 0
        var cuts = 0
        var flips = 0
        var repairs = 0
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
            // Random moment: half the cycles at any time from the start (start-up, recovery,
            // committing), half once the writer has acknowledged a change (a store grown over many
            // cycles takes longer to recover than the first window, and those kills must still land
            // among commits, snapshots and compactions).
            if Bool.random(using: &rng) {
                let deadline = Date().addingTimeInterval(10)
                while Self.fileSize(outFile) ?? 0 == 0 && Date() < deadline && writer.isRunning { usleep(1_000) }
                usleep(UInt32.random(in: 0...60_000, using: &rng))
            } else {
                usleep(UInt32.random(in: 10_000...160_000, using: &rng))
            }
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
            try handle.close()
            let text = (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? ""
            // Only complete lines were acknowledged (a line is written after its commit returned).
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            _ = lines.popLast()  // "" after the last newline, or a partial line
            if !lines.isEmpty { withChanges += 1 }
            // "ID\tSEGMENT\tBYTES": the acknowledged log ends at BYTES of SEGMENT.
            let fields = lines.map { $0.split(separator: "\t").map(String.init) }
            acknowledged.formUnion(fields.compactMap(\.first))
            if let last = fields.last, last.count == 3, let end = Int(last[2]) { acknowledgedEnd = (last[1], end) }

            // Half the cycles also tear the unacknowledged tail as a power cut may: cut the last
            // segment at a random offset after the acknowledged end, or flip one bit there.
            if let (path, end) = acknowledgedEnd, Bool.random(using: &rng), let size = Self.fileSize(path), size > end,
                Self.newestSegment(d) == path
            {
                let offset = Int.random(in: end..<size, using: &rng)
                if Bool.random(using: &rng) {
                    _ = truncate(path, off_t(offset))
                    cuts += 1
                } else {
                    Self.flipBit(path, offset: offset, bit: Int.random(in: 0..<8, using: &rng))
                    flips += 1
                }
            }

            var verify = try CLI.run(["verify", "--json"], data: d)
            if (CLI.json(verify) as? [String: Any])?["clean"] as? Bool != true {
                // Damage the store found: `repair` must make it clean with every acknowledged change.
                let repair = try CLI.run(["repair"], data: d)
                try #require(repair.code == 0, "cycle \(cycle): repair failed: \(repair.stdout) \(repair.stderr); \(replay)")
                repairs += 1
                verify = try CLI.run(["verify", "--json"], data: d)
            }
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
            "crash test: \(cycles) SIGKILL cycles (\(withChanges) with acknowledged changes), tail cut \(cuts)×, a bit flipped \(flips)×, repair needed \(repairs)×; \(acknowledged.count) acknowledged changes all present (0 lost), verify clean, \(String(format: "%.1f", seconds)) s, \(replay)"
        )
        #expect(withChanges > cycles / 4, "too few cycles reached a commit; \(replay)")
        #expect(cycles < 20 || cuts + flips > 0, "no cycle damaged the tail; \(replay)")
    }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// The log segment written last (segment files are named by their first sequence, zero-padded).
    static func newestSegment(_ data: String) -> String? {
        let dir = data + "/log"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".seg") }.sorted()
        return names.last.map { dir + "/" + $0 }
    }

    static func flipBit(_ path: String, offset: Int, bit: Int) {
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var b: UInt8 = 0
        guard pread(fd, &b, 1, off_t(offset)) == 1 else { return }
        b ^= UInt8(1 << bit)
        _ = pwrite(fd, &b, 1, off_t(offset))
    }
}
