import Foundation
import LatticeAPI
import LatticeSimulation
import LatticeSync

/// `lattice simulate`: a deterministic cluster run (see Docs/SIMULATION.md).
enum SimulateCommand {
    static let help = """
        usage: lattice simulate [--nodes N] [--seed S] [--seeds K] [--duration MS] [--loss P] [--dup P]
                                [--partitions K] [--crashes K] [--topology full|ring|random]
                                [--writes PER_S] [--compact-every MS] [--json]

        Runs N sync engines over a virtual clock and network (in memory, seeded): writes on every
        node for DURATION virtual ms while injecting datagram loss and duplication, stream
        retransmission delays, K random partitions and K crashes (each loses what was not yet
        durable, then restarts); then heals everything and waits for the cluster to converge.

        Prints the virtual time to converge, messages, bytes and peak queue. Checks that every
        replica is equal, every acknowledged change is present everywhere and no queue grew past
        its bound; on a violation exits 1 and prints the command that replays it.
        --seeds K runs seeds S, S+1, … S+K-1.
        Up to 32 nodes, every duplicate a node skips is also checked to change nothing (causal
        delivery; O(state) each); larger runs skip that check.

        With --json, "spread" follows about 256 sampled changes: virtual ms and forwarding hops
        until every node held each (percentiles), and "bytes_per_node_per_payload_byte" is the
        bytes all nodes sent per change and per node, over the change's own encoded bytes.

        defaults: --nodes 5 --seed 1 --duration 20000 --loss 0 --dup 0 --partitions 0 --crashes 0
                  --topology full --writes 5
        """

    static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments(
            "simulate", a,
            valued: ["--nodes", "--seed", "--seeds", "--duration", "--loss", "--dup", "--partitions", "--crashes", "--topology", "--writes", "--compact-every"])
        if args.help { return print(help) }
        try args.expect(0...0, "simulate [options]")
        var c = SimulationConfig()
        func int(_ name: String, _ range: ClosedRange<Int>) throws(CLIError) -> Int? {
            guard let raw = args.value(name) else { return nil }
            guard let v = Int(raw), range.contains(v) else {
                throw CLIError(message: "simulate: \(name) must be an integer in \(range.lowerBound)...\(range.upperBound) (got '\(raw)')")
            }
            return v
        }
        func probability(_ name: String) throws(CLIError) -> Double? {
            guard let raw = args.value(name) else { return nil }
            guard let v = Double(raw), v >= 0, v <= 0.9 else {
                throw CLIError(message: "simulate: \(name) must be a probability in 0...0.9 (got '\(raw)')")
            }
            return v
        }
        if let v = try int("--nodes", 1...4096) { c.nodes = v }
        c.checkCausality = c.nodes <= 32
        if let raw = args.value("--seed") {
            guard let v = UInt64(raw) else { throw CLIError(message: "simulate: --seed must be an unsigned integer (got '\(raw)')") }
            c.seed = v
        }
        let seeds = try int("--seeds", 1...1_000_000) ?? 1
        if let v = try int("--duration", 0...86_400_000) { c.duration = UInt64(v) }
        if let v = try probability("--loss") { c.loss = v }
        if let v = try probability("--dup") { c.duplication = v }
        if let v = try int("--partitions", 0...10_000) { c.partitions = v }
        if let v = try int("--crashes", 0...10_000) { c.crashes = v }
        if let v = try int("--compact-every", 0...86_400_000) { c.compactEvery = UInt64(v) }
        if let raw = args.value("--writes") {
            guard let v = Double(raw), v >= 0, v <= 10_000 else {
                throw CLIError(message: "simulate: --writes must be a number in 0...10000 (got '\(raw)')")
            }
            c.writesPerSecond = v
        }
        if let raw = args.value("--topology") {
            guard let t = Topology(rawValue: raw) else {
                throw CLIError(message: "simulate: --topology must be full, ring or random (got '\(raw)')")
            }
            c.topology = t
        }
        var failed = false
        for k in 0..<seeds {
            var config = c
            config.seed = c.seed &+ UInt64(k)
            let r = Cluster(config).run()
            let replay = replayCommand(config)
            if args.json {
                print(JSON.object([
                    ("seed", .uint(r.seed)), ("nodes", .int(Int64(r.nodes))), ("ok", .bool(r.ok)),
                    ("converge_ms", r.convergeTime.map { .uint($0) } ?? .null),
                    ("writes", .int(Int64(r.writes))), ("messages", .int(Int64(r.messages))), ("bytes", .int(Int64(r.bytes))),
                    ("datagrams_lost", .int(Int64(r.datagramsLost))), ("retransmissions", .int(Int64(r.retransmissions))),
                    ("crashes", .int(Int64(r.crashes))),
                    ("partitions", .int(Int64(r.partitions))), ("peak_queue", .int(Int64(r.peakQueue))),
                    ("peak_in_flight", .int(Int64(r.peakInFlight))), ("catch_ups", .int(Int64(r.catchUpsSent))),
                    ("anti_entropy_rounds", .int(Int64(r.antiEntropyRounds))),
                    ("payload_bytes", .int(Int64(r.payloadBytes))),
                    ("bytes_per_node_per_payload_byte", .double(r.overhead)),
                    ("mean_sessions", .double(r.meanSessions)),
                    ("duplicates", .int(Int64(r.duplicates))),
                    ("bytes_by_message", .object(r.bytesByType.sorted { $0.key < $1.key }.map { (Message.name(ofType: $0.key) ?? "type-\($0.key)", .int(Int64($0.value))) })),
                    ("spread", spreadJSON(r.spread)),
                    ("violations", .array(r.violations.map { .string($0) })), ("replay", .string(replay)),
                ]).text)
            } else {
                let converge = r.convergeTime.map { "\($0) ms" } ?? "never"
                print(
                    "seed \(r.seed): \(r.ok ? "ok" : "FAILED") — \(r.nodes) nodes, \(r.writes) writes, converged \(converge) after the faults healed; "
                        + "\(r.messages) messages, \(r.bytes) bytes, \(r.retransmissions) stream retransmissions\(r.datagramsLost > 0 ? ", \(r.datagramsLost) datagrams lost" : ""), \(r.crashes) crashes, \(r.partitions) partitions, "
                        + "peak queue \(r.peakQueue), peak in flight \(r.peakInFlight) B, \(r.catchUpsSent) catch-ups")
                for v in r.violations { print("  violation: \(v)") }
            }
            if !r.ok {
                failed = true
                writeError("simulation failed; replay with: \(replay)")
            }
        }
        if failed { throw CLIError(message: "simulation found violations", code: .failure) }
    }

    /// Per-change spread: ms and hops until every node held a sampled change.
    static func spreadJSON(_ s: Spread) -> JSON {
        func q(_ values: [UInt64], _ p: Double) -> JSON { Spread.quantile(values, p).map { .uint($0) } ?? .null }
        func h(_ values: [Int], _ p: Double) -> JSON { Spread.quantile(values, p).map { .int(Int64($0)) } ?? .null }
        return .object([
            ("probes", .int(Int64(s.milliseconds.count + s.incomplete))), ("incomplete", .int(Int64(s.incomplete))),
            ("ms_p50", q(s.milliseconds, 0.5)), ("ms_p90", q(s.milliseconds, 0.9)), ("ms_max", q(s.milliseconds, 1)),
            ("hops_p50", h(s.hops, 0.5)), ("hops_p90", h(s.hops, 0.9)), ("hops_max", h(s.hops, 1)),
        ])
    }

    static func replayCommand(_ c: SimulationConfig) -> String {
        var s = "lattice simulate --nodes \(c.nodes) --seed \(c.seed) --duration \(c.duration) --loss \(c.loss) --dup \(c.duplication)"
        s += " --partitions \(c.partitions) --crashes \(c.crashes) --topology \(c.topology.rawValue) --writes \(c.writesPerSecond)"
        if c.compactEvery > 0 { s += " --compact-every \(c.compactEvery)" }
        return s
    }
}
