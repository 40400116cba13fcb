import Glibc
import LatticeCRDT
import LatticeStore

/// `lattice bench --only query`: a real store holding `documents` memories (default 1,000,000),
/// queried as `lattice ls --where` and `GET /v1/docs/C?where=` query it, and the cost the
/// indexes add to a write.
///
/// Each memory has `user` (one of documents/10 values: ~10 documents each), `importance` (a
/// number in [0, 1), all distinct), `topic` (one of 500), `tags` (a set of two of 10,000) and
/// a `note`. Queries are timed one by one (p50 and max of 200 runs with different values) once
/// their indexes are built; the first use's build is reported on its own.
///
/// Index upkeep: the same seeded writes (one `importance` and `user` update of a random
/// document per commit, through `ReplicaStore.commit(durably: false)`, the node's write path,
/// group-committed) timed without any index and with the four fields indexed, three rounds
/// each, interleaved; the figure is the median round's cost per write. Each round ends with
/// the indexes' buffers sorted and merged (``QueryIndexes/settle()``); the merges into the
/// base runs fall inside the rounds at their steady rate.
struct QueryBench {
    let documents: Int
    let directory: String

    func memory(_ d: Int, _ r: inout Replica, _ delta: inout Delta, now: UInt64) {
        let id = Key(Self.id(d))
        func path(_ f: String) -> FieldPath { FieldPath("memories", id, Key(f)) }
        try? r.set(path("user"), .string("u\(d % max(1, documents / 10))"), now: now, into: &delta)
        try? r.set(path("importance"), .double(Self.importance(d, documents)), now: now, into: &delta)
        try? r.set(path("topic"), .string("topic\(d % 500)"), now: now, into: &delta)
        try? r.add(path("tags"), [.string("t\(d % 10_000)"), .string("t\((d / 7) % 10_000)")], now: now, into: &delta)
        try? r.set(path("note"), .string("a note of an assistant about a conversation, number \(d)"), now: now, into: &delta)
    }

    static func id(_ d: Int) -> String {
        var s = String(d)
        while s.utf8.count < 7 { s = "0" + s }
        return "m" + s
    }

    /// A permutation of 0..<n scaled into [0, 1): every document's importance is distinct.
    static func importance(_ d: Int, _ n: Int) -> Double { Double((d &* 7_919) % n) / Double(n) }

    func run() -> [BenchRow] {
        var rows: [BenchRow] = []
        func row(_ w: String, _ m: String, _ v: Double, _ u: String) { rows.append(BenchRow(workload: w, metric: m, value: v, unit: u)) }
        benchRemoveTree(directory)
        var options = StoreOptions()
        options.log.fsyncPolicy = .batch
        guard let store = try? ReplicaStore.open(at: directory, replicaID: ReplicaID(0x0B_E4C4), options: options) else {
            row("query", "open_failed", 1, "")
            return rows
        }
        var closed = false
        defer {
            if !closed { try? store.close() }
            benchRemoveTree(directory)
        }
        // 1,000 documents per commit (the way an import or a catch-up lands).
        var t = benchNow()
        let now = ReplicaStore.wallMilliseconds()
        var d = 0
        while d < documents {
            let end = min(documents, d + 1_000)
            _ = try? store.commit(durably: false) { r, delta in
                for i in d..<end { memory(i, &r, &delta, now: now) }
            }
            d = end
        }
        try? store.flush()
        row("query", "documents", Double(store.state.documentIDs(in: "memories").count), "docs")
        row("query", "load_seconds", benchSeconds(since: t), "s")

        // Index builds on first use.
        for field in ["user", "importance", "topic", "tags"] {
            t = benchNow()
            var q = Query(collection: "memories")
            q.conditions = [QueryCondition(Key(field), field == "importance" ? .less(0) : field == "tags" ? .containsAny([.string("none")]) : .equals(.string("none")))]
            _ = try? store.query(q)
            row("query_index_build", "\(field)_seconds", benchSeconds(since: t), "s")
        }

        var rng = BenchRandom(seed: 0x5EED_0016)
        let users = max(1, documents / 10)
        let shapes: [(String, (inout BenchRandom) -> Query)] = [
            (
                "user_eq",
                { g in
                    var q = Query(collection: "memories")
                    q.conditions = [QueryCondition("user", .equals(.string("u\(Int(g.next() % UInt64(users)))")))]
                    return q
                }
            ),
            (
                "importance_range_100",
                { g in
                    let lo = Double(g.next() % 9_900) / 10_000
                    var q = Query(collection: "memories")
                    q.conditions = [QueryCondition("importance", .greaterOrEqual(lo)), QueryCondition("importance", .less(lo + 100 / Double(documents)))]
                    return q
                }
            ),
            (
                "tag_in_set",
                { g in
                    var q = Query(collection: "memories")
                    q.conditions = [QueryCondition("tags", .containsAny([.string("t\(g.next() % 10_000)")]))]
                    return q
                }
            ),
            (
                "topic_and_importance",
                { g in
                    var q = Query(collection: "memories")
                    q.conditions = [QueryCondition("topic", .equals(.string("topic\(g.next() % 500)"))), QueryCondition("importance", .greater(0.99))]
                    return q
                }
            ),
            (
                "top10_by_importance",
                { _ in
                    var q = Query(collection: "memories")
                    q.order = "importance"
                    q.descending = true
                    q.limit = 10
                    return q
                }
            ),
        ]
        for (name, make) in shapes {
            var times: [Double] = []
            var matches = 0
            for _ in 0..<200 {
                let q = make(&rng)
                let start = benchNow()
                let ids = (try? store.query(q)) ?? []
                times.append(benchSeconds(since: start))
                matches += ids.count
            }
            times.sort()
            row("query_\(name)", "p50_ms", times[times.count / 2] * 1_000, "ms")
            row("query_\(name)", "max_ms", times[times.count - 1] * 1_000, "ms")
            row("query_\(name)", "matches_avg", Double(matches) / Double(times.count), "docs")
        }
        // A scan for comparison: the same user_eq condition checked on every document.
        do {
            let start = benchNow()
            let condition = QueryCondition("user", .equals(.string("u77")))
            var hits = 0
            for (_, doc) in store.state.store["memories"] ?? [:] where condition.matches(doc) { hits += 1 }
            row("query_user_eq_by_scan", "ms", benchSeconds(since: start) * 1_000, "ms")
            row("query_user_eq_by_scan", "matches", Double(hits), "docs")
        }

        // Index upkeep on the write path.
        let writes = 50_000
        // The upkeep itself, timed inside the write path (`QueryIndexes.upkeepSeconds`, the
        // `lattice_index_upkeep_seconds_total` metric) plus the closing settle, per write of the
        // last round: less exposed to this machine's noise than the difference of two rounds.
        var lastUpkeep = 0.0
        func writeRound(seed: UInt64) -> Double {
            var g = BenchRandom(seed: seed)
            let upkeep0 = store.indexes.upkeepSeconds
            let start = benchNow()
            for _ in 0..<writes {
                let doc = Int(g.next() % UInt64(documents))
                let id = Key(Self.id(doc))
                let imp = Double(g.next() % 1_000_000) / 1_000_000
                let user = "u\(Int(g.next() % UInt64(users)))"
                _ = try? store.commit(durably: false) { r, delta in
                    let n = ReplicaStore.wallMilliseconds()
                    try r.set(FieldPath("memories", id, "importance"), .double(imp), now: n, into: &delta)
                    try r.set(FieldPath("memories", id, "user"), .string(user), now: n, into: &delta)
                }
            }
            try? store.flush()
            // The buffered changes are sorted and merged too (what the next query would do);
            // the merges into the base runs fell during the round, at their steady rate.
            let settle = benchNow()
            store.indexes.settle()
            lastUpkeep = (store.indexes.upkeepSeconds - upkeep0 + benchSeconds(since: settle)) / Double(writes)
            return benchSeconds(since: start) / Double(writes)
        }
        func buildIndexes() {
            for field in ["user", "importance", "topic", "tags"] {
                var q = Query(collection: "memories")
                q.conditions = [QueryCondition(Key(field), field == "importance" ? .less(0) : field == "tags" ? .containsAny([.string("none")]) : .equals(.string("none")))]
                _ = try? store.query(q)
            }
            _ = store.indexes.documentIDs(in: "memories", of: store.state, limit: 1)
        }
        // New memories, as an assistant adds them (POST /v1/docs/memories: time-ordered IDs),
        // each with all five fields.
        var added = documents
        func addRound() -> Double {
            let count = 20_000
            let upkeep0 = store.indexes.upkeepSeconds
            let start = benchNow()
            for _ in 0..<count {
                let d = added
                added += 1
                _ = try? store.commit(durably: false) { r, delta in memory(d, &r, &delta, now: ReplicaStore.wallMilliseconds()) }
            }
            try? store.flush()
            let settle = benchNow()
            store.indexes.settle()
            lastUpkeep = (store.indexes.upkeepSeconds - upkeep0 + benchSeconds(since: settle)) / Double(count)
            return benchSeconds(since: start) / Double(count)
        }
        var plain: [Double] = []
        var indexed: [Double] = []
        var upkeep: [Double] = []
        var upkeepAdd: [Double] = []
        var plainAdd: [Double] = []
        var indexedAdd: [Double] = []
        for round in 0..<3 {
            store.indexes.update(.everything, in: store.state)  // no index: the write path skips upkeep
            plain.append(writeRound(seed: UInt64(100 + round)))
            plainAdd.append(addRound())
            buildIndexes()
            indexed.append(writeRound(seed: UInt64(200 + round)))
            upkeep.append(lastUpkeep)
            indexedAdd.append(addRound())
            upkeepAdd.append(lastUpkeep)
        }
        // What a query pays right after a burst of writes: the sort and merge of what its
        // field's index holds in its buffer, at most `defaultBufferLimit - 1` changes (one more
        // merges on the write).
        var afterBurst: [Double] = []
        do {
            var g = BenchRandom(seed: 900)
            for _ in 0..<5 {
                store.indexes.flush()
                for _ in 0..<(QueryIndexes.pendingLimit - 1) {
                    let id = Key(Self.id(Int(g.next() % UInt64(documents))))
                    let imp = Double(g.next() % 1_000_000) / 1_000_000
                    _ = try? store.commit(durably: false) { r, delta in
                        try r.set(FieldPath("memories", id, "importance"), .double(imp), now: ReplicaStore.wallMilliseconds(), into: &delta)
                    }
                }
                var q = Query(collection: "memories")
                let a = Double(g.next() % 1_000) / 1_000
                q.conditions = [QueryCondition("importance", .greaterOrEqual(a)), QueryCondition("importance", .less(a + 0.0001))]
                let start = benchNow()
                _ = try? store.query(q)
                afterBurst.append(benchSeconds(since: start))
            }
            try? store.flush()
            afterBurst.sort()
        }
        row("query_after_burst", "pending", Double(QueryIndexes.pendingLimit - 1), "changes")
        row("query_after_burst", "p50_ms", afterBurst[afterBurst.count / 2] * 1_000, "ms")
        row("query_after_burst", "max_ms", afterBurst[afterBurst.count - 1] * 1_000, "ms")
        plain.sort()
        indexed.sort()
        plainAdd.sort()
        indexedAdd.sort()
        row("query_upkeep_update", "write_us_no_index", plain[1] * 1e6, "µs")
        row("query_upkeep_update", "write_us_4_indexes", indexed[1] * 1e6, "µs")
        upkeep.sort()
        upkeepAdd.sort()
        row("query_upkeep_update", "added_percent", (indexed[1] / plain[1] - 1) * 100, "%")
        row("query_upkeep_update", "upkeep_us", upkeep[1] * 1e6, "µs")
        row("query_upkeep_update", "upkeep_percent_of_write", upkeep[1] / plain[1] * 100, "%")
        row("query_upkeep_new", "write_us_no_index", plainAdd[1] * 1e6, "µs")
        row("query_upkeep_new", "write_us_4_indexes", indexedAdd[1] * 1e6, "µs")
        row("query_upkeep_new", "added_percent", (indexedAdd[1] / plainAdd[1] - 1) * 100, "%")
        row("query_upkeep_new", "upkeep_us", upkeepAdd[1] * 1e6, "µs")
        row("query_upkeep_new", "upkeep_percent_of_write", upkeepAdd[1] / plainAdd[1] * 100, "%")
        // The result of the indexed writes is what a scan finds.
        let check = QueryCondition("importance", .less(0.001))
        var q = Query(collection: "memories")
        q.conditions = [check]
        let fromIndex = Set((try? store.query(q)) ?? [])
        var scanned = Set<Key>()
        for (id, doc) in store.state.store["memories"] ?? [:] where check.matches(doc) { scanned.insert(id) }
        row("query_upkeep_update", "check_ok", fromIndex == scanned && !scanned.isEmpty ? 1 : 0, "")

        // The same updates as a client makes them: through the HTTP API of a node hosted on
        // this store, durable before each answer; without indexes (a node just opened has
        // none), then with the four built, twice each, alternating.
        try? store.close()
        closed = true
        let api = APIWriteBench(directory: directory, documents: documents, users: users)
        var apiPlain: [(wall: Double, cpu: Double, loop: Double, upkeep: Double)] = []
        var apiIndexed: [(wall: Double, cpu: Double, loop: Double, upkeep: Double)] = []
        for round in 0..<2 {
            guard let p = api.round(writes: writes, window: 64, indexed: false, seed: UInt64(400 + round)),
                let i = api.round(writes: writes, window: 64, indexed: true, seed: UInt64(500 + round))
            else {
                row("query_upkeep_api", "failed", 1, "")
                return rows
            }
            apiPlain.append(p)
            apiIndexed.append(i)
        }
        let plainWall = apiPlain.map(\.wall).reduce(0, +) / 2
        let indexedWall = apiIndexed.map(\.wall).reduce(0, +) / 2
        let plainCPU = apiPlain.map(\.cpu).reduce(0, +) / 2
        let indexedCPU = apiIndexed.map(\.cpu).reduce(0, +) / 2
        row("query_upkeep_api", "write_us_no_index", plainWall * 1e6, "µs")
        row("query_upkeep_api", "write_us_4_indexes", indexedWall * 1e6, "µs")
        row("query_upkeep_api", "added_percent", (indexedWall / plainWall - 1) * 100, "%")
        row("query_upkeep_api", "cpu_us_no_index", plainCPU * 1e6, "µs")
        row("query_upkeep_api", "cpu_us_4_indexes", indexedCPU * 1e6, "µs")
        row("query_upkeep_api", "cpu_added_percent", (indexedCPU / plainCPU - 1) * 100, "%")
        let plainLoop = apiPlain.map(\.loop).reduce(0, +) / 2
        let indexedLoop = apiIndexed.map(\.loop).reduce(0, +) / 2
        row("query_upkeep_api", "loop_cpu_us_no_index", plainLoop * 1e6, "µs")
        row("query_upkeep_api", "loop_cpu_us_4_indexes", indexedLoop * 1e6, "µs")
        row("query_upkeep_api", "loop_cpu_added_percent", (indexedLoop / plainLoop - 1) * 100, "%")
        let apiUpkeep = apiIndexed.map(\.upkeep).reduce(0, +) / 2
        row("query_upkeep_api", "upkeep_us", apiUpkeep * 1e6, "µs")
        row("query_upkeep_api", "upkeep_percent_of_loop_cpu", apiUpkeep / plainLoop * 100, "%")
        return rows
    }
}

/// SplitMix64 for the benchmarks' seeded choices.
struct BenchRandom {
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
