import LatticeCRDT
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Builds a random state by running a random cluster and taking one replica's state.
private func randomStates(_ seed: UInt64, count: Int) -> [ReplicaState] {
    var g = SplitMix64(seed: seed)
    var cluster = Cluster(size: 3)
    cluster.run(steps: Int.random(in: 5...40, using: &g), &g)
    return (0..<count).map { _ in cluster.replicas.randomElement(using: &g)!.state }
}

@Suite("Join laws (seeded; LATTICE_SEED replays one case)")
struct LawTests {
    @Test func joinIsCommutative() {
        for seed in propertySeeds(salt: 1) {
            let s = randomStates(seed, count: 2)
            if s[0].joined(s[1]) != s[1].joined(s[0]) { failed("a ⊔ b ≠ b ⊔ a", seed: seed, test: "joinIsCommutative") }
        }
    }

    @Test func joinIsAssociative() {
        for seed in propertySeeds(salt: 2) {
            let s = randomStates(seed, count: 3)
            if s[0].joined(s[1]).joined(s[2]) != s[0].joined(s[1].joined(s[2])) {
                failed("(a ⊔ b) ⊔ c ≠ a ⊔ (b ⊔ c)", seed: seed, test: "joinIsAssociative")
            }
        }
    }

    @Test func joinIsIdempotent() {
        for seed in propertySeeds(salt: 3) {
            let s = randomStates(seed, count: 2)
            let ab = s[0].joined(s[1])
            if s[0].joined(s[0]) != s[0] || ab.joined(s[1]) != ab {
                failed("a ⊔ a ≠ a or (a ⊔ b) ⊔ b ≠ a ⊔ b", seed: seed, test: "joinIsIdempotent")
            }
        }
    }

    @Test func deltaJoinLaws() {
        for seed in propertySeeds(salt: 4) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: 3)
            cluster.run(steps: 30, &g)
            guard cluster.deltas.count >= 3 else { continue }
            let a = cluster.deltas.randomElement(using: &g)!
            let b = cluster.deltas.randomElement(using: &g)!
            let c = cluster.deltas.randomElement(using: &g)!
            if a.joined(b) != b.joined(a) {
                failed("delta join not commutative", seed: seed, test: "deltaJoinLaws")
                if getenv("LATTICE_DEBUG") != nil { print("A⊔B", a.joined(b).encoded(), "\nB⊔A", b.joined(a).encoded(), "\nA", a.encoded(), "\nB", b.encoded()) }
            }
            if a.joined(b).joined(c) != a.joined(b.joined(c)) {
                failed("delta join not associative", seed: seed, test: "deltaJoinLaws")
            }
            if a.joined(a) != a { failed("delta join not idempotent", seed: seed, test: "deltaJoinLaws") }
            // Applying a joined delta equals applying both.
            var s1 = ReplicaState()
            s1.apply(a)
            s1.apply(b)
            var s2 = ReplicaState()
            s2.apply(a.joined(b))
            if s1 != s2 { failed("apply(a ⊔ b) ≠ apply(a); apply(b)", seed: seed, test: "deltaJoinLaws") }
        }
    }

    @Test func stateEqualsJoinOfItsDeltas() {
        for seed in propertySeeds(salt: 5) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: Int.random(in: 2...4, using: &g))
            cluster.run(steps: 40, &g, exchanges: false)
            for (i, replica) in cluster.replicas.enumerated() {
                var order = cluster.seen[i] + cluster.seen[i].filter { _ in Bool.random(using: &g) }
                order.shuffle(using: &g)
                var rebuilt = ReplicaState()
                for d in order { rebuilt.apply(d) }
                if rebuilt != replica.state {
                    failed("replica \(i): state ≠ join of its deltas", seed: seed, test: "stateEqualsJoinOfItsDeltas")
                }
            }
        }
    }

    @Test func deltaSinceEqualsFullJoin() {
        for seed in propertySeeds(salt: 6) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: 3)
            cluster.run(steps: 50, &g)
            let a = cluster.replicas[0].state
            let b = cluster.replicas[1].state
            var viaDelta = b
            viaDelta.join(a.delta(since: b.versionVector))
            if viaDelta != b.joined(a) { failed("b ⊔ a.delta(since: b) ≠ b ⊔ a", seed: seed, test: "deltaSinceEqualsFullJoin") }
            // And it sends no entry the peer has seen.
            let d = a.delta(since: b.versionVector)
            var probe = ReplicaState()
            probe.join(d)
            for c in probe.collections {
                for id in probe.documentIDs(in: c) {
                    for f in probe.document(c, id)!.fields.values {
                        f.forEachDot { dot in
                            if b.versionVector.contains(dot) {
                                failed("catch-up resent \(dot)", seed: seed, test: "deltaSinceEqualsFullJoin")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func replicasConvergeUnderAnyDelivery() {
        for seed in propertySeeds(salt: 7) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: Int.random(in: 3...5, using: &g))
            cluster.run(steps: Int.random(in: 10...80, using: &g), &g)
            cluster.deliverAll(&g)
            let first = cluster.replicas[0].state
            for (i, r) in cluster.replicas.enumerated().dropFirst() where r.state != first {
                failed("replica \(i) diverged from replica 0", seed: seed, test: "replicasConvergeUnderAnyDelivery")
            }
            // Every replica equals the join of every delta, and every change is present.
            var all = ReplicaState()
            for d in cluster.deltas { all.apply(d) }
            if all != first { failed("converged state ≠ join of all deltas", seed: seed, test: "replicasConvergeUnderAnyDelivery") }
            for d in cluster.deltas where !d.context.isEmpty {
                for dot in d.context.cloud where !first.context.contains(dot) {
                    failed("change \(dot) lost", seed: seed, test: "replicasConvergeUnderAnyDelivery")
                }
            }
        }
    }
}

@Suite("Import delta")
struct ImportDeltaTests {
    @Test func deltaJoiningGivesTheFullJoin() {
        for seed in propertySeeds(salt: 8) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: 3)
            cluster.run(steps: 50, &g)
            let s = cluster.replicas[0].state
            let t = cluster.replicas[1].state
            var viaDelta = s
            viaDelta.apply(s.delta(joining: t))
            if viaDelta != s.joined(t) { failed("s.apply(s.delta(joining: t)) ≠ s ⊔ t", seed: seed, test: "deltaJoiningGivesTheFullJoin") }
            if (try? Delta(decoding: s.delta(joining: t).encoded())) != s.delta(joining: t) {
                failed("import delta does not round-trip", seed: seed, test: "deltaJoiningGivesTheFullJoin")
            }
        }
    }
}
