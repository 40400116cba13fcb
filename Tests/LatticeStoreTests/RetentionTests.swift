import Foundation
import LatticeCRDT
import LatticeStore
import Testing

/// Retention at the store: a rule's plan is a function of the replicated state and the time,
/// so two replicas holding the same changes expire the same documents; applying it is an
/// ordinary erase that, synced, leaves both replicas equal.
@Suite("Retention at the store", .serialized)
struct RetentionTests {
    static let day: UInt64 = 86_400_000
    static let rule = RetentionPolicy(collection: "memories", maxAge: 30 * day, conditions: [QueryCondition("importance", .less(0.3))])

    /// A seeded mix of memories: old or recent, important or not, some without `importance`.
    /// - Returns: the IDs the rule must expire at `now`.
    static func fill(_ store: ReplicaStore, seed: UInt64, now: UInt64) throws -> [Key] {
        var rng = SeededRandom(seed: seed)
        var expected: [Key] = []
        // Old writes first (a replica's clock does not go back).
        var recent: [(Key, Double?)] = []
        for i in 0..<200 {
            let id = Key(String(format: "m%03d", i))
            let old = rng.next() % 2 == 0
            let importance: Double? = rng.next() % 5 == 0 ? nil : Double(rng.next() % 100) / 100
            if !old {
                recent.append((id, importance))
                continue
            }
            let at = now - 40 * day + UInt64(i)
            try store.commit { r, d in
                try r.set(FieldPath("memories", id, "note"), .string("note \(i)"), now: at, into: &d)
                if let importance { try r.set(FieldPath("memories", id, "importance"), .double(importance), now: at, into: &d) }
            }
            if let importance, importance < 0.3 { expected.append(id) }
        }
        for (id, importance) in recent {
            try store.commit { r, d in
                try r.set(FieldPath("memories", id, "note"), .string("recent"), now: now - day, into: &d)
                if let importance { try r.set(FieldPath("memories", id, "importance"), .double(importance), now: now - day, into: &d) }
            }
        }
        return expected.sorted()
    }

    @Test func twoReplicasWithTheSameChangesExpireTheSameDocumentsAndAgreeAfterTheErase() throws {
        for seed: UInt64 in [1, 2, 3] {
            let a = TempDir(), b = TempDir()
            defer {
                a.cleanup()
                b.cleanup()
            }
            let now = ReplicaStore.wallMilliseconds()
            let storeA = try ReplicaStore.open(at: a.path, replicaID: ReplicaID(0xA))
            let storeB = try ReplicaStore.open(at: b.path, replicaID: ReplicaID(0xB))
            defer {
                try? storeA.close()
                try? storeB.close()
            }
            let expected = try Self.fill(storeA, seed: seed, now: now)
            try storeB.integrate(catchUp: storeA.state.delta(since: VersionVector()), now: now)
            #expect(storeB.state == storeA.state, "seed \(seed)")

            let planA = storeA.retentionPlan(Self.rule, now: now)
            let planB = storeB.retentionPlan(Self.rule, now: now)
            #expect(planA == planB, "seed \(seed): the same state and time expire the same documents")
            #expect(planA.expired == expected, "seed \(seed)")
            #expect(!expected.isEmpty && !planA.erasesEverything, "seed \(seed)")
            #expect(planA.documents == 200)

            // A dry run erases nothing: the plan is only read.
            #expect(storeA.state.documentIDs(in: "memories").count == 200)

            let result = try #require(try storeA.applyRetention([planA], now: now))
            try storeB.integrate(remote: result.delta, now: now)
            #expect(storeB.state == storeA.state, "seed \(seed): the synced erase leaves both equal")
            #expect(storeA.state.documentIDs(in: "memories").count == 200 - expected.count)
            for id in expected { #expect(storeB.state.document("memories", id) == nil, "seed \(seed): \(id)") }
            #expect(storeB.retentionPlan(Self.rule, now: now).expired == [], "seed \(seed): nothing left to expire")
            #expect(try storeA.applyRetention([storeA.retentionPlan(Self.rule, now: now)], now: now) == nil)
        }
    }

    @Test func aRecentWriteKeepsADocumentAndARuleMatchingEverythingSaysSo() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let now = ReplicaStore.wallMilliseconds()
        let store = try ReplicaStore.open(at: dir.path, replicaID: ReplicaID(0xA))
        defer { try? store.close() }
        for i in 0..<3 {
            try store.commit { r, d in try r.set(FieldPath("memories", Key("m\(i)"), "importance"), .double(0.1), now: now - 40 * Self.day, into: &d) }
        }
        #expect(store.retentionPlan(Self.rule, now: now).erasesEverything)
        // Touching one document (any timestamped field) makes it young again.
        try store.commit { r, d in try r.add(FieldPath("memories", "m1", "tags"), [.string("kept")], now: now, into: &d) }
        let plan = store.retentionPlan(Self.rule, now: now)
        #expect(plan.expired == ["m0", "m2"])
        #expect(!plan.erasesEverything)
        // Age alone; conditions alone.
        #expect(store.retentionPlan(RetentionPolicy(collection: "memories", maxAge: 30 * Self.day, conditions: []), now: now).expired == ["m0", "m2"])
        #expect(store.retentionPlan(RetentionPolicy(collection: "memories", maxAge: nil, conditions: [QueryCondition("importance", .less(0.3))]), now: now).expired.count == 3)
        // A field no document holds, or an unknown collection, expires nothing.
        #expect(store.retentionPlan(RetentionPolicy(collection: "memories", maxAge: nil, conditions: [QueryCondition("nope", .less(1))]), now: now).expired == [])
        let none = store.retentionPlan(RetentionPolicy(collection: "unknown", maxAge: Self.day, conditions: []), now: now)
        #expect(none.expired == [] && none.documents == 0 && !none.erasesEverything)
    }
}
