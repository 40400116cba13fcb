import LatticeCRDT
@testable import LatticeStore
import Testing

/// The query indexes against a scan of the state: random local and remote edits (register
/// siblings, set adds and removes, deletes, catch-ups), then every query kind answered by the
/// indexes must equal the same query evaluated on every document.
@Suite struct QueryIndexTests {
    static let me = ReplicaID(0xA1)
    static let peer = ReplicaID(0xB2)
    static let topics = ["cats", "dogs", "owls", "bees"]
    static let tags = ["a", "b", "c", "d", "e"]

    /// The oracle: every document of the collection checked, sorted as the query says.
    static func scan(_ q: Query, _ state: ReplicaState) -> [Key] {
        guard let docs = state.store[q.collection] else { return [] }
        var ids = docs.compactMap { id, doc -> Key? in
            guard !doc.isBlank, q.matches(doc), id.hasBytePrefix(q.prefix) else { return nil }
            if let after = q.after, id <= after { return nil }
            return id
        }
        if let order = q.order {
            var keys: [Key: IndexKey] = [:]
            for id in ids { if let f = docs[id]?.fields[order], let k = IndexKey.read(f) { keys[id] = k } }
            ids.sort { QueryIndexes.precedes($0, $1, { keys[$0] }, q.descending) }
        } else {
            ids.sort()
        }
        return Array(ids.prefix(q.limit))
    }

    /// One random edit of document `d` by `r` into `delta`.
    static func edit(_ r: inout Replica, _ rng: inout SeededRandom, into delta: inout Delta, documents: Int = 40) {
        let id = Key("m\(Int.random(in: 0..<documents, using: &rng))")
        func path(_ f: String) -> FieldPath { FieldPath("memories", id, Key(f)) }
        let now = 1_000 + UInt64.random(in: 0..<10_000, using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...2: try? r.set(path("topic"), .string(topics.randomElement(using: &rng) ?? "cats"), now: now, into: &delta)
        case 3...4: try? r.set(path("importance"), .double(Double(Int.random(in: 0...10, using: &rng)) / 10), now: now, into: &delta)
        case 5: try? r.set(path("importance"), .int(Int64.random(in: 0...1, using: &rng)), now: now, into: &delta)
        case 6...7: try? r.add(path("tags"), [.string(tags.randomElement(using: &rng) ?? "a")], now: now, into: &delta)
        case 8: try? r.remove(path("tags"), [.string(tags.randomElement(using: &rng) ?? "a")], now: now, into: &delta)
        default: r.deleteDocument("memories", id, now: now, into: &delta)
        }
    }

    static func randomQuery(_ rng: inout SeededRandom) -> Query {
        var q = Query(collection: "memories")
        func condition() -> QueryCondition {
            let b = Double(Int.random(in: 0...10, using: &rng)) / 10
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: return QueryCondition("topic", .equals(.string(topics.randomElement(using: &rng) ?? "cats")))
            case 1: return QueryCondition("importance", .greater(b))
            case 2: return QueryCondition("importance", .lessOrEqual(b))
            case 3: return QueryCondition("importance", .greaterOrEqual(b))
            case 4: return QueryCondition("importance", .equals(.int(1)))  // matches 1 and 1.0
            case 5: return QueryCondition("importance", .less(b))
            default: return QueryCondition("tags", .containsAny([.string(tags.randomElement(using: &rng) ?? "a"), .string("e")]))
            }
        }
        for _ in 0..<Int.random(in: 0...2, using: &rng) { q.conditions.append(condition()) }
        if Bool.random(using: &rng) { q.order = Bool.random(using: &rng) ? "importance" : "topic" }
        q.descending = q.order != nil && Bool.random(using: &rng)
        if Int.random(in: 0..<3, using: &rng) == 0 { q.limit = Int.random(in: 1...5, using: &rng) }
        if Int.random(in: 0..<4, using: &rng) == 0 { q.prefix = "m1" }
        return q
    }

    @Test(arguments: 0..<12) func indexesAnswerAsAScanDoesUnderLocalRemoteAndCatchUpChanges(seed: UInt64) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        var rng = SeededRandom(seed: seed)
        var remote = Replica(id: Self.peer)
        try s.commit { r, d in try r.set(FieldPath("memories", "m0", "topic"), .string("cats"), now: 1, into: &d) }
        var answered = 0
        for round in 0..<30 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...5:
                try s.commit { r, d in
                    for _ in 0..<Int.random(in: 1...3, using: &rng) { Self.edit(&r, &rng, into: &d) }
                }
            case 6...8:
                // A peer's change, sometimes made without seeing ours: register siblings.
                if Bool.random(using: &rng) { remote.join(s.state, now: 20_000) }
                var d = Delta()
                Self.edit(&remote, &rng, into: &d)
                if !d.isEmpty { try s.integrate(remote: d, now: 20_000) }
            default:
                var d = Delta()
                Self.edit(&remote, &rng, into: &d)
                try s.integrate(catchUp: remote.state.delta(since: s.state.versionVector), now: 20_000)
            }
            for _ in 0..<6 {
                let q = Self.randomQuery(&rng)
                let expected = Self.scan(q, s.state)
                do {
                    let got = try s.query(q)
                    answered += got.isEmpty ? 0 : 1
                    #expect(got == expected, "seed \(seed) round \(round): \(q.conditions) order \(String(describing: q.order)) desc \(q.descending)")
                } catch {
                    // Only a field no document holds may be refused.
                    #expect(error.code == .unknownField, "seed \(seed): \(error)")
                    let docs = s.state.store["memories"] ?? [:]
                    let missing = q.fields.contains { name in
                        !docs.values.contains { doc in
                            doc.fields[name].map { IndexKey.read($0) != nil || !$0.liveElements.isEmpty } ?? false
                        }
                    }
                    #expect(missing, "seed \(seed) round \(round): \(q.conditions) order \(String(describing: q.order)): \(error)")
                }
                #expect(s.indexes.documentIDs(in: "memories", of: s.state) == s.state.documentIDs(in: "memories"))
            }
        }
        #expect(answered > 20, "seed \(seed): the queries should match something")
    }

    /// The indexes at their real sizes: thousands of documents and enough changes between
    /// queries that each field index's buffer (1,024 slots) is merged into its delta by the
    /// writes and its delta into its base, with stale entries in both runs; queries (ordered
    /// ones walk both runs merged) still answer as a scan does.
    @Test(arguments: 0..<2) func indexesAnswerAsAScanAcrossTheirMerges(seed: UInt64) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        var rng = SeededRandom(seed: 100 + seed)
        let documents = 10_000
        try s.commit { r, d in
            for _ in 0..<(2 * documents) { Self.edit(&r, &rng, into: &d, documents: documents) }
        }
        var built = Query(collection: "memories")
        built.conditions = [QueryCondition("topic", .equals(.string("cats"))), QueryCondition("importance", .less(2)), QueryCondition("tags", .containsAny([.string("a")]))]
        _ = try s.query(built)
        for phase in 0..<3 {
            for _ in 0..<documents {
                try s.commit { r, d in Self.edit(&r, &rng, into: &d, documents: documents) }
            }
            for _ in 0..<15 {
                let q = Self.randomQuery(&rng)
                #expect(try s.query(q) == Self.scan(q, s.state), "seed \(seed) phase \(phase): \(q.conditions) order \(String(describing: q.order)) desc \(q.descending) limit \(q.limit)")
            }
        }
    }

    /// Documents an index lets go of wait to be given back until its base is rebuilt; while
    /// they wait, updates must not merge the buffer one change at a time (each merge is a pass
    /// over the delta), and a document deleted and written again many times must not overflow
    /// its slot's count of holds.
    @Test func slotsLetGoOfNeitherMakeEveryUpdateMergeNorOverflow() {
        var r = Replica(id: Self.me)
        var delta = Delta()
        for d in 0..<200 { try? r.set(FieldPath("c", Key("d\(d)"), "f"), .int(Int64(d)), now: 1, into: &delta) }
        let slots = DocumentSlots()
        let index = FieldIndex(field: "f", documents: r.state.store["c"] ?? [:], slots: slots, bufferLimit: 8)
        var now: UInt64 = 2
        func write(_ d: Int, _ value: Int64?) {
            now += 1
            var delta = Delta()
            let id = Key("d\(d)")
            if let value { try? r.set(FieldPath("c", id, "f"), .int(value), now: now, into: &delta) } else { r.deleteDocument("c", id, now: now, into: &delta) }
            index.update(id, slot: slots.slot(id), r.state.document("c", id)?.fields["f"])
        }
        for d in 0..<20 { write(d, nil) }  // 20 let go of: more than a buffer, fewer than a rebuild's worth
        index.settle()
        let merges = index.bufferMerges
        for d in 100..<105 { write(d, 1_000) }  // 5 updates: fewer than a buffer
        #expect(index.bufferMerges == merges, "each update merged the buffer")
        // One document deleted and written again 70,000 times, with a rebuild only every
        // √(N × 20,000) let-gos or more: its slot is held again each time before it is given back.
        let big = FieldIndex(field: "f", documents: r.state.store["c"] ?? [:], slots: slots, bufferLimit: 20_000)
        for i in 0..<140_000 {
            now += 1
            var delta = Delta()
            if i % 2 == 0 { r.deleteDocument("c", "d150", now: now, into: &delta) } else { try? r.set(FieldPath("c", "d150", "f"), .int(7), now: now, into: &delta) }
            big.update("d150", slot: slots.slot("d150"), r.state.document("c", "d150")?.fields["f"])
        }
        big.flush()
        #expect(big.key(of: "d150") == .number(7) && big.key(of: "d151") == .number(151))
    }

    /// The upkeep time (`lattice_index_upkeep_seconds_total`) counts changes only once an index
    /// exists: a node nobody queries pays nothing.
    @Test func upkeepIsTimedOnlyOnceAnIndexExists() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        try s.commit { r, d in try r.set(FieldPath("memories", "m1", "topic"), .string("cats"), now: 1, into: &d) }
        #expect(s.indexes.upkeepChanges == 0 && s.indexes.upkeepSeconds == 0)
        var q = Query(collection: "memories")
        q.conditions = [QueryCondition("topic", .equals(.string("cats")))]
        #expect(try s.query(q) == ["m1"])
        for i in 0..<3 {
            try s.commit { r, d in try r.set(FieldPath("memories", Key("m\(i + 2)"), "topic"), .string("dogs"), now: 2, into: &d) }
        }
        #expect(s.indexes.upkeepChanges == 3 && s.indexes.upkeepSeconds > 0)
    }

    /// A peer's catch-up (anti-entropy after time apart) updates the indexes by the documents it
    /// changed — those it carries and those here that lost entries to removals the peer had
    /// seen — instead of dropping them for a rebuild; queries still answer as a scan does.
    @Test(arguments: 0..<8) func aCatchUpKeepsTheIndexesAndTheyAnswerAsAScan(seed: UInt64) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        var rng = SeededRandom(seed: 0xCA7C_0000 + seed)
        var remote = Replica(id: Self.peer)
        for _ in 0..<30 { try s.commit { r, d in Self.edit(&r, &rng, into: &d) } }
        var kept = 0
        for round in 0..<40 {
            if Bool.random(using: &rng) { try s.commit { r, d in Self.edit(&r, &rng, into: &d) } }
            // The peer sees our documents now and then, so its removals and overwrites reach
            // documents we hold without carrying them.
            if Int.random(in: 0..<3, using: &rng) == 0 { remote.join(s.state, now: 20_000) }
            var d = Delta()
            for _ in 0..<Int.random(in: 1...4, using: &rng) { Self.edit(&remote, &rng, into: &d) }
            let indexed = !s.indexes.indexedFields.isEmpty
            try s.integrate(catchUp: remote.state.delta(since: s.state.versionVector), now: 20_000)
            if indexed {
                #expect(!s.indexes.indexedFields.isEmpty, "seed \(seed) round \(round): a catch-up dropped the indexes")
                kept += 1
            }
            for _ in 0..<6 {
                let q = Self.randomQuery(&rng)
                if let got = try? s.query(q) {
                    #expect(got == Self.scan(q, s.state), "seed \(seed) round \(round): \(q.conditions) order \(String(describing: q.order)) desc \(q.descending)")
                }
            }
            #expect(s.indexes.documentIDs(in: "memories", of: s.state) == s.state.documentIDs(in: "memories"), "seed \(seed) round \(round)")
        }
        #expect(kept > 30, "seed \(seed): the catch-ups should find the indexes built")
    }

    @Test func aConflictedRegisterIsIndexedAsItsLastWriterWinsValue() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        let path = FieldPath("memories", "m1", "importance")
        try s.commit { r, d in try r.set(path, .double(0.9), now: 1_000, into: &d) }
        var q = Query(collection: "memories")
        q.conditions = [QueryCondition("importance", .greater(0.5))]
        #expect(try s.query(q) == ["m1"])
        // A concurrent write from a peer with a later stamp wins; both stay as siblings.
        var peer = Replica(id: Self.peer)
        try s.integrate(remote: peer.set(path, .double(0.1), now: 5_000), now: 5_000)
        guard case .register(let v, let siblings)? = s.state.value(path) else { Issue.record("not a register"); return }
        #expect(v == .double(0.1) && siblings.count == 2)
        #expect(try s.query(q) == [])
        q.conditions = [QueryCondition("importance", .less(0.5))]
        #expect(try s.query(q) == ["m1"])
    }

    @Test func unknownCollectionsAndFieldsAreNamed() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        try s.commit { r, d in try r.set(FieldPath("memories", "m1", "topic"), .string("cats"), now: 1_000, into: &d) }
        var q = Query(collection: "nothing")
        q.conditions = [QueryCondition("topic", .equals(.string("cats")))]
        #expect(throws: QueryError.self) { try s.query(q) }
        do { _ = try s.query(q) } catch { #expect(error.code == .unknownCollection && error.message.contains("'nothing'")) }
        q.collection = "memories"
        q.conditions = [QueryCondition("mood", .greater(1))]
        do {
            _ = try s.query(q)
            Issue.record("an unknown field was answered")
        } catch {
            #expect(error.code == .unknownField && error.message.contains("'mood'"))
        }
        q.conditions = []
        q.order = "mood"
        #expect(throws: QueryError.self) { try s.query(q) }
    }

    @Test func orderWithLimitWalksTheSortedIndexAndPutsDocumentsLackingTheFieldLast() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        try s.commit { r, d in
            try r.set(FieldPath("m", "a", "rank"), .int(3), now: 1, into: &d)
            try r.set(FieldPath("m", "b", "rank"), .double(1.5), now: 1, into: &d)
            try r.set(FieldPath("m", "c", "rank"), .int(3), now: 1, into: &d)
            try r.set(FieldPath("m", "d", "note"), .string("no rank"), now: 1, into: &d)
            try r.set(FieldPath("m", "e", "rank"), .string("high"), now: 1, into: &d)
        }
        var q = Query(collection: "m")
        q.order = "rank"
        #expect(try s.query(q) == ["b", "a", "c", "e", "d"])  // numbers, then strings, then lacking
        q.descending = true
        #expect(try s.query(q) == ["e", "c", "a", "b", "d"])
        q.limit = 2
        #expect(try s.query(q) == ["e", "c"])
        // Upkeep: a change moves a document in the order.
        try s.commit { r, d in try r.set(FieldPath("m", "b", "rank"), .int(9), now: 2, into: &d) }
        q.descending = false
        q.limit = .max
        #expect(try s.query(q) == ["a", "c", "b", "e", "d"])
        #expect(s.indexes.indexedFields == ["m.rank"])
    }

    /// One field index under thousands of random updates (many merges of the buffer into the
    /// delta and of the delta into the base, stale entries in both runs, slots reused), with
    /// values made to tie: few distinct numbers (−0 and 0 among them), strings sharing their
    /// first 8 bytes (equal summaries), every kind. Its order (both ways), ranges and counts
    /// must equal a sorted model's, and every document's value must be current while changes
    /// wait in the buffer. The buffer limit varies by seed (1: every update merges at once;
    /// 4,096: only reads merge), so runs of every size are merged.
    @Test(arguments: 0..<8) func aFieldIndexMatchesASortedModel(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let limit = [1, 3, 17, 64, 200, 700, 4_096, 2][Int(seed % 8)]
        let values: [Value] = [
            .null, .bool(false), .bool(true), .double(-0.0), .int(0), .double(0.5), .int(1), .double(-3.25), .double(1e300),
            .string("a"), .string("a\u{0}"), .string("common-prefix-1"), .string("common-prefix-2"), .string("common-pr"),
            .string("zz"), .bytes([1, 2, 3]), .bytes([1, 2, 3, 4, 5, 6, 7, 8, 9]), .bytes([1, 2, 3, 4, 5, 6, 7, 8, 10]),
            // Summaries exact and not, sharing their bits: 7 bytes, 8, a zero byte, empty;
            // numbers whose last bits differ.
            .string("abcdefg"), .string("abcdefgh"), .string("abcdef\u{0}"), .string("ab\u{0}"), .string(""), .bytes([]), .bytes([0]),
            .double(1), .double(Double(1).nextUp), .double(0.1), .double(0.1.nextUp), .double(0.1.nextDown),
        ]
        var r = Replica(id: Self.me)
        var model: [Key: IndexKey] = [:]
        var now: UInt64 = 1_000
        func write(_ d: Int, deleting: Bool = true) -> (Key, Field?) {
            let id = Key("d\(d)")
            now += 1
            var delta = Delta()
            if deleting && Int.random(in: 0..<8, using: &rng) == 0 {
                r.deleteDocument("c", id, now: now, into: &delta)
                model[id] = nil
            } else {
                let v = values[Int.random(in: 0..<values.count, using: &rng)]
                try? r.set(FieldPath("c", id, "f"), v, now: now, into: &delta)
                model[id] = IndexKey(v)
            }
            return (id, r.state.document("c", id)?.fields["f"])
        }
        for d in 0..<300 { _ = write(d) }
        // A second index of another field shares the slots: slots given back by one index
        // stay valid while the other holds them.
        let slots = DocumentSlots()
        for d in 0..<1_500 where d % 3 == 0 {
            var delta = Delta()
            try? r.set(FieldPath("c", Key("d\(d)"), "g"), .int(Int64(d)), now: 500, into: &delta)
        }
        let other = FieldIndex(field: "g", documents: r.state.store["c"] ?? [:], slots: slots)
        let index = FieldIndex(field: "f", documents: r.state.store["c"] ?? [:], slots: slots, bufferLimit: limit)
        func check(_ step: Int) {
            // Values first: current whether or not their order is merged yet.
            for (id, key) in model { #expect(index.key(of: id) == key, "seed \(seed) step \(step): \(id) (pending)") }
            #expect(index.pendingCount <= limit, "seed \(seed) step \(step): pending")
            let sorted = model.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }
            var walked: [Key] = []
            index.forEachInOrder { slot in
                walked.append(slots.id(slot))
                return true
            }
            // Values ascending as the model's, each document once, equal values by slot.
            #expect(walked.map { model[$0] } == sorted.map { Optional($0.value) }, "seed \(seed) step \(step): order")
            #expect(Set(walked) == Set(model.keys) && walked.count == model.count, "seed \(seed) step \(step): documents")
            for i in walked.indices.dropFirst() where model[walked[i]] == model[walked[i - 1]] {
                #expect((slots.slot(walked[i - 1]) ?? 0) < (slots.slot(walked[i]) ?? 0), "seed \(seed) step \(step): ties by slot")
            }
            var descending: [Key] = []
            index.forEachInOrder(descending: true) { slot in
                descending.append(slots.id(slot))
                return descending.count < 50
            }
            #expect(descending == Array(walked.reversed().prefix(50)), "seed \(seed) step \(step): descending")
            #expect(index.entryCount >= model.count)
            for v in values + [.double(0.25), .string("common-prefix-0"), .string("b")] {
                let k = IndexKey(v)
                let condition = [QueryCondition("f", .equals(v))]
                let ids = index.candidates(condition).map { slots.id($0) }
                #expect(ids.sorted() == sorted.filter { $0.value == k }.map(\.key), "seed \(seed) step \(step): = \(v)")
                #expect(index.estimate(condition) >= ids.count, "seed \(seed) step \(step): estimate of = \(v)")
            }
            let between = [QueryCondition("f", .greaterOrEqual(-0.0)), QueryCondition("f", .less(1))]
            let inRange = model.values.filter { ($0.number.map { $0 >= 0 && $0 < 1 }) ?? false }.count
            #expect(index.candidates(between).count == inRange, "seed \(seed) step \(step): range")
            #expect(index.estimate(between) >= inRange, "seed \(seed) step \(step): estimate of the range")
            // Every document of either index by its slot, and the other index intact.
            for (id, key) in model { #expect(index.key(of: id) == key, "seed \(seed) step \(step): \(id)") }
            for d in 0..<1_500 where d % 3 == 0 {
                #expect(other.key(of: Key("d\(d)")) == .number(Double(d)), "seed \(seed) step \(step): g of d\(d)")
            }
        }
        check(0)
        for step in 1...4_000 {
            let (id, field) = write(Int.random(in: 0..<(step < 2_000 ? 1_500 : 400), using: &rng))
            let (_, slot) = index.update(id, slot: slots.slot(id), field)
            if model[id] != nil { #expect(slot != nil && slots.id(slot ?? 0) == id, "seed \(seed) step \(step)") }
            if step % 500 == 0 || Int.random(in: 0..<300, using: &rng) == 0 { check(step) }
        }
        #expect(model.count > 200, "seed \(seed): the index should stay large")
        // A reader after every write merges the buffer before it fills: the delta must still
        // be merged into the base by the writes, not grow toward every document changed (no
        // deletes here: slots given up make a merge of their own).
        let bound = max(4 * limit, Int(Double(2_000 * limit).squareRoot())) + 1
        for step in 1...1_000 {
            let (id, field) = write(Int.random(in: 0..<400, using: &rng), deleting: false)
            index.update(id, slot: slots.slot(id), field)
            _ = index.candidates([QueryCondition("f", .greaterOrEqual(0))])
            #expect(index.deltaCount <= bound, "seed \(seed) step \(step): delta \(index.deltaCount) > \(bound)")
            if index.deltaCount > bound { break }
        }
        check(5_000)
        // Brought into the base, nothing stale is left.
        index.flush()
        #expect(index.entryCount == model.count && index.deltaCount == 0, "seed \(seed): after flush")
    }

    @Test(arguments: 0..<4) func sortedChunksMatchASortedArray(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var chunks = SortedChunks<Int>()
        var model = Set<Int>()
        // Enough values for many chunk splits, and phases that empty chunks again.
        for step in 0..<20_000 {
            let v = Int.random(in: 0..<(step < 10_000 ? 1_500 : 3_000), using: &rng)
            if Int.random(in: 0..<10, using: &rng) < (step < 14_000 ? 6 : 3) {
                #expect(chunks.insert(v) == model.insert(v).inserted, "seed \(seed) step \(step)")
            } else {
                #expect(chunks.remove(v) == (model.remove(v) != nil), "seed \(seed) step \(step)")
            }
            if step % 997 == 0 {
                let a = Int.random(in: 0..<3_000, using: &rng)
                let b = Int.random(in: a..<3_001, using: &rng)
                let n = chunks.distance(from: chunks.partition { $0 < a }, to: chunks.partition { $0 < b })
                #expect(n == model.filter { $0 >= a && $0 < b }.count, "seed \(seed) step \(step): [\(a), \(b))")
                #expect(chunks.contains(a) == model.contains(a), "seed \(seed) step \(step)")
            }
        }
        let sorted = model.sorted()
        var walked: [Int] = []
        chunks.forEach(from: .start) { walked.append($0); return true }
        #expect(walked == sorted && chunks.count == sorted.count)
        var down: [Int] = []
        chunks.forEachDescending(before: chunks.end) { down.append($0); return true }
        #expect(down == sorted.reversed())
        let lo = chunks.partition { $0 < 300 }
        let hi = chunks.partition { $0 < 900 }
        #expect(chunks.distance(from: lo, to: hi) == sorted.filter { $0 >= 300 && $0 < 900 }.count)
        var below: [Int] = []
        chunks.forEachDescending(before: hi) { below.append($0); return $0 > 300 }
        #expect(below == Array(sorted.filter { $0 < 900 }.reversed().prefix(below.count)))
        #expect(chunks.contains(sorted.first ?? -1) && !chunks.contains(-5))
    }
}
