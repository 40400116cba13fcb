import Foundation
import LatticeAPI
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import LatticeSync
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `lattice bench --only net`: two real nodes in this process, each on its own event-loop
/// thread, connected over TCP on 127.0.0.1 with the Noise handshake and encrypted frames, stores
/// in temporary directories with the default group-commit fsync policy (durable on both sides).
///
/// - `net_latency`: one change at a time on A; the time from the write until B's state shows it
///   (B integrated it), p50/p99/max over `samples` writes after a warm-up.
/// - `net_throughput`: A writes `changes` changes as fast as its group commit allows (at most
///   `window` not yet visible on B); the time until B has integrated all of them and made them
///   durable. Also the CPU time of the whole process (both nodes, their log threads, the
///   kernel's share on their behalf) per change, steadier than the rate on a shared VM, and the
///   sync-message bytes per change A → B (each Noise frame adds 19 B).
func netBenchRows(quick: Bool) throws(CLIError) -> [BenchRow] {
    let bench: NetBench
    do { bench = try NetBench() } catch { throw CLIError(message: "bench net: cannot start two nodes: \(error)", code: .failure) }
    defer { bench.stop() }
    var rows: [BenchRow] = []
    let latency = bench.latency(samples: quick ? 500 : 3_000, warmup: 200)
    rows.append(BenchRow(workload: "net_latency", metric: "write_to_visible_p50_us", value: latency.p50, unit: "µs"))
    rows.append(BenchRow(workload: "net_latency", metric: "write_to_visible_p99_us", value: latency.p99, unit: "µs"))
    rows.append(BenchRow(workload: "net_latency", metric: "write_to_visible_max_us", value: latency.max, unit: "µs"))
    let t = bench.throughput(changes: quick ? 50_000 : 300_000, window: 50_000)
    rows.append(BenchRow(workload: "net_throughput", metric: "replicated_changes_per_s", value: t.perSecond, unit: "changes/s"))
    rows.append(BenchRow(workload: "net_throughput", metric: "cpu_us_per_change", value: t.cpuMicroseconds, unit: "µs"))
    rows.append(BenchRow(workload: "net_throughput", metric: "wire_bytes_per_change", value: t.bytesPerChange, unit: "B"))
    rows.append(BenchRow(workload: "net_throughput", metric: "group_commits_sender", value: Double(t.syncsA), unit: "fsyncs"))
    rows.append(BenchRow(workload: "net_throughput", metric: "group_commits_receiver", value: Double(t.syncsB), unit: "fsyncs"))
    return rows
}

/// The two nodes and their threads.
final class NetBench: @unchecked Sendable {  // fields touched only on the owning loop, or atomics
    let a: Node
    let b: Node
    let directory: String
    private var threads: [Thread] = []
    /// B's integrated-changes count, readable from any thread.
    let integrated = SharedCount()
    private let connected = DispatchSemaphore(value: 0)

    init() throws {
        let dir = "/tmp/lattice-bench-net-\(getpid())"
        directory = dir
        _ = mkdir(dir, 0o700)
        let ring = KeyRing(current: try NetworkKey.generate())
        let quiet = NodeLog(level: .error)
        func make(_ name: String, peers: [StaticPeer]) throws -> Node {
            let identity = try NodeIdentity.generate()
            let store = try ReplicaStore.open(at: dir + "/" + name, replicaID: ReplicaID(identity.nodeID.replicaRawValue))
            var options = NodeOptions()
            options.listen = SocketAddress(host: "127.0.0.1", port: 0)
            options.discovery = false
            options.peers = peers
            if let t = ProcessInfo.processInfo.environment["LATTICE_BENCH_TICK"].flatMap(UInt64.init) { options.tickInterval = t }
            return try Node(identity: identity, keyRing: ring, trust: TrustPolicy(), store: store, options: options, log: quiet)
        }
        a = try make("a", peers: [])
        guard let listen = a.listenAddress else { throw CLIError(message: "node A has no listen address", code: .failure) }
        b = try make("b", peers: [StaticPeer(node: a.identity.nodeID, address: listen)])
        let count = integrated
        b.onIntegrated = { total in count.value.store(total, ordering: .releasing) }
        for node in [a, b] {
            let t = Thread { node.run() }
            t.stackSize = 8 << 20
            t.start()
            threads.append(t)
        }
        // Wait until B's session with A has exchanged hellos (a first change gets through).
        let probe = integrated.value.load(ordering: .acquiring)
        for attempt in 0..<500 {
            let wall = ReplicaStore.wallMilliseconds()
            if attempt % 50 == 0 {
                a.loop.post { [a] in _ = try? a.submit({ r, d in try r.set(FieldPath("bench", "warm", "v"), .int(Int64(attempt)), now: wall, into: &d) }, done: { _ in }) }
            }
            if integrated.value.load(ordering: .acquiring) > probe { return }
            usleep(10_000)
        }
        stop()
        throw CLIError(message: "the two nodes did not connect within 5 s", code: .failure)
    }

    func stop() {
        a.stop()
        b.stop()
        for t in threads { while !t.isFinished { usleep(1_000) } }
        threads.removeAll()
        try? a.store.close()
        try? b.store.close()
        _ = system("rm -rf '\(directory)'")
    }

    /// One write at a time: A writes, B's integration posts the next write to A.
    func latency(samples: Int, warmup: Int) -> (p50: Double, p99: Double, max: Double) {
        let probe = LatencyProbe(total: samples + warmup)
        let a = self.a
        let integrated = self.integrated
        let start = integrated.value.load(ordering: .acquiring)
        @Sendable func write(_ i: Int) {
            a.loop.post {
                let wall = ReplicaStore.wallMilliseconds()
                probe.t0.value.store(benchNow(), ordering: .releasing)
                _ = try? a.submit({ r, d in try r.set(FieldPath("bench", "latency", "v"), .int(Int64(i)), now: wall, into: &d) }, done: { _ in })
            }
        }
        b.loop.post { [b] in
            b.onIntegrated = { [integrated] total in
                integrated.value.store(total, ordering: .releasing)
                let i = total - start
                guard i >= 1, i <= probe.total, probe.samples.count < i else { return }
                probe.samples.append(benchNow() - probe.t0.value.load(ordering: .acquiring))
                if i < probe.total { write(i) } else { probe.done.signal() }
            }
        }
        usleep(20_000)
        write(0)
        probe.done.wait()
        let sorted = probe.samples.dropFirst(warmup).sorted()
        func q(_ f: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(f * Double(sorted.count)))]) / 1_000 }
        return (q(0.5), q(0.99), Double(sorted.last ?? 0) / 1_000)
    }

    /// Sustained replication: A writes in chunks while fewer than `window` changes are in
    /// flight; the clock stops when B has integrated all of them and they are durable on B.
    func throughput(changes: Int, window: Int) -> (perSecond: Double, cpuMicroseconds: Double, bytesPerChange: Double, syncsA: Int, syncsB: Int) {
        let a = self.a
        let b = self.b
        b.loop.post { [b, integrated] in b.onIntegrated = { total in integrated.value.store(total, ordering: .releasing) } }
        usleep(10_000)
        let base = integrated.value.load(ordering: .acquiring)
        let finished = DispatchSemaphore(value: 0)
        let state = ThroughputState()
        // Values handed between threads through `ready` (the semaphore orders the accesses).
        let ready = DispatchSemaphore(value: 0)
        a.loop.post { [a] in
            state.bytesBefore = a.engine.peers.values.reduce(0) { $0 + $1.bytesOut }
            state.syncsA = a.syncs
            ready.signal()
        }
        ready.wait()
        b.loop.post { [b] in
            state.syncsB = b.syncs
            ready.signal()
        }
        ready.wait()
        let integrated = self.integrated
        // Document keys made before the clock starts: the bench measures the node, not formatting.
        let documents = (0..<4_096).map { Key("d\($0)") }
        let cpuBefore = processCPUMicroseconds()
        let start = benchNow()
        @Sendable func writeChunk() {
            let visible = integrated.value.load(ordering: .acquiring) - base
            guard state.written < changes else { return }
            if state.written - visible >= window {
                a.loop.schedule(after: 1) { writeChunk() }
                return
            }
            let wall = ReplicaStore.wallMilliseconds()
            for _ in 0..<min(1_024, changes - state.written) {
                let i = state.written
                _ = try? a.submit({ r, d in try r.set(FieldPath("bench", documents[i % 4_096], "v"), .int(Int64(i)), now: wall, into: &d) }, done: { _ in })
                state.written += 1
            }
            a.loop.post { writeChunk() }
        }
        a.loop.post { writeChunk() }
        // B: once every change is integrated, wait for its log to be durable, then stop the clock.
        b.loop.post { [b] in
            @Sendable func check() {
                if integrated.value.load(ordering: .acquiring) - base >= changes {
                    let target = b.store.appendedSequence
                    @Sendable func durable() {
                        if b.store.durableSequence >= target { finished.signal() } else { b.loop.schedule(after: 1) { durable() } }
                    }
                    durable()
                } else {
                    b.loop.schedule(after: 1) { check() }
                }
            }
            check()
        }
        finished.wait()
        let seconds = Double(benchNow() - start) / 1e9
        let cpu = Double(processCPUMicroseconds() - cpuBefore)
        a.loop.post { [a] in
            state.bytes = a.engine.peers.values.reduce(0) { $0 + $1.bytesOut } - state.bytesBefore
            state.syncsA = a.syncs - state.syncsA
            ready.signal()
        }
        ready.wait()
        b.loop.post { [b] in
            state.syncsB = b.syncs - state.syncsB
            ready.signal()
        }
        ready.wait()
        return (Double(changes) / seconds, cpu / Double(changes), Double(state.bytes) / Double(changes), state.syncsA, state.syncsB)
    }
}

/// User + system CPU time of this process (every thread), µs.
func processCPUMicroseconds() -> Int {
    var usage = rusage()
    _ = getrusage(RUSAGE_SELF.rawValue, &usage)
    func us(_ t: timeval) -> Int { t.tv_sec * 1_000_000 + Int(t.tv_usec) }
    return us(usage.ru_utime) + us(usage.ru_stime)
}

/// Latency samples, written on B's loop thread only.
final class LatencyProbe: @unchecked Sendable {
    let total: Int
    let t0 = SharedTime()
    var samples: [UInt64] = []
    let done = DispatchSemaphore(value: 0)
    init(total: Int) { self.total = total }
}

/// The writer's progress (A's loop thread only) and figures handed over through a semaphore.
final class ThroughputState: @unchecked Sendable {
    var written = 0
    var bytesBefore = 0, bytes = 0, syncsA = 0, syncsB = 0
}

/// A counter shared between threads.
final class SharedCount: Sendable {
    let value = Atomic<Int>(0)
}

/// A time shared between threads (ns).
final class SharedTime: Sendable {
    let value = Atomic<UInt64>(0)
}
