import Dispatch
import Foundation
import LatticeSimulation
import LatticeSync
import Testing

/// The `cluster` fuzz harness's body (``ClusterFuzz``): its saved inputs replay clean, and so do
/// seeded random schedules (a quick in-suite fuzz run; a failing seed replays with
/// `LATTICE_SEED=S swift test --filter ClusterFuzzTests`).
@Suite("Cluster fuzz harness")
struct ClusterFuzzTests {
    /// `Fuzz/FailCases/cluster/` (minimised crashers), found relative to this file; none is fine.
    static func failCases() -> [(name: String, bytes: [UInt8])] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/FailCases/cluster")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted().compactMap { name in
            guard let data = try? Data(contentsOf: root.appendingPathComponent(name)) else { return nil }
            return (name, [UInt8](data))
        }
    }

    /// `LATTICE_CLUSTER_TRACE=FILE swift test --filter ClusterFuzzTests` prints a saved input's
    /// full step log (for reading a crasher).
    @Test func traceOnRequest() throws {
        guard let path = ProcessInfo.processInfo.environment["LATTICE_CLUSTER_TRACE"] else { return }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        print(ClusterFuzz.trace(bytes).joined(separator: "\n"))
    }

    /// Each saved input runs on its own thread with a deadline, so that an engine livelock fails
    /// the test instead of hanging the suite (the spinning thread ends with the test process).
    @Test func failCasesReplayClean() {
        for (name, bytes) in Self.failCases() {
            switch Self.run(bytes, deadline: 30) {
            case .finished(let violation):
                #expect(violation == nil, "Fuzz/FailCases/cluster/\(name)")
            case .timedOut:
                Issue.record("Fuzz/FailCases/cluster/\(name): no result within 30 s (the engine livelocks)")
            }
        }
    }

    enum Outcome { case finished(String?), timedOut }

    final class Slot: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var violation: String?
    }

    static func run(_ bytes: [UInt8], deadline seconds: Int) -> Outcome {
        let slot = Slot()
        let thread = Thread {
            slot.violation = ClusterFuzz.run(bytes)
            slot.done.signal()
        }
        thread.start()
        guard slot.done.wait(timeout: .now() + .seconds(seconds)) == .success else { return .timedOut }
        return .finished(slot.violation)
    }

    static var seeds: [UInt64] {
        if let s = ProcessInfo.processInfo.environment["LATTICE_SEED"].flatMap(UInt64.init) { return [s] }
        return (0..<300).map { 7_000 + $0 }
    }

    static func input(_ seed: UInt64) -> [UInt8] {
        var g = SyncRandom(seed: seed)
        let count = Int(g.next() % 601)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    }

    /// Random schedules (SplitMix64 = ``SyncRandom``): lengths up to 600 bytes.
    @Test func seededRandomSchedulesHoldTheInvariants() {
        var total = ClusterFuzz.Summary()
        for seed in Self.seeds {
            let s = ClusterFuzz.summary(Self.input(seed))
            #expect(s.violation == nil, "LATTICE_SEED=\(seed): \(s.violation ?? "")")
            total.writes += s.writes
            total.committedDots += s.committedDots
            total.deliveries += s.deliveries
            total.crashes += s.crashes
            total.compactions += s.compactions
            total.flushesHeld += s.flushesHeld
        }
        print("cluster fuzz, \(Self.seeds.count) random schedules: \(total)")
        // The schedules reach every kind of event (not all of them in a single replayed seed).
        if Self.seeds.count > 100 {
            #expect(total.committedDots > 0 && total.deliveries > 0 && total.crashes > 0)
            #expect(total.compactions > 0 && total.flushesHeld > 0)
        }
    }

    /// The harness really exercises the cluster: a hand-written schedule with writes, a crash
    /// mid-fsync, a partition and a compaction replays clean.
    @Test func aScriptedScheduleReplaysClean() {
        let bytes: [UInt8] = [
            2, 0,  // 5 nodes, everyone dials everyone, default tunables
            15, 2,  // 100 ms pass: every node ticks (and dials)
            9, 0, 9, 0, 9, 0, 9, 0, 9, 0, 9, 0,  // some dials complete
            4, 0, 4, 1, 4, 2, 4, 3,  // deliveries
            0, 0, 0, 1, 0, 1, 1, 2, 0, 2, 3, 3,  // writes on nodes 0, 1, 2: set, add, increment
            4, 0, 4, 0, 8, 0,  // deliveries, an fsync completes
            11, 3,  // crash node 3
            10, 4,  // partition node 4 away
            0, 4, 0, 9,  // a write on the partitioned node
            12, 0,  // compact node 0
            11, 3,  // restart node 3
            15, 4,  // a second passes
        ]
        let s = ClusterFuzz.summary(bytes)
        #expect(s.violation == nil, "\(s)")
        #expect(s.nodes == 5 && s.writes == 4 && s.committedDots >= 3 && s.crashes == 1, "\(s)")
        #expect(s.finalDots > 0 && s.deliveries > 0, "\(s)")
    }
}
