import LatticeCRDT
import Testing

@Suite("Dot cloud (inline up to three dots, spilled beyond; seeded)")
struct DotCloudTests {
    /// Random inserts and removes against `Set<Dot>`: same members, count and order; a cloud
    /// rebuilt from the members in another order is equal and hashes equal (canonical form).
    @Test func behavesLikeASetAcrossInlineAndSpilledForms() {
        for seed in propertySeeds(300, salt: 77) {
            var g = SplitMix64(seed: seed)
            var cloud = DotCloud()
            var model = Set<Dot>()
            for step in 0..<60 {
                let dot = Dot(ReplicaID(g.next() % 3), 1 + g.next() % 8)
                if g.next() % 3 == 0 {
                    let removed = cloud.remove(dot)
                    if (removed != nil) != (model.remove(dot) != nil) {
                        failed("remove \(dot) disagreed at step \(step)", seed: seed, test: "behavesLikeASetAcrossInlineAndSpilledForms")
                        return
                    }
                } else if cloud.insert(dot) != model.insert(dot).inserted {
                    failed("insert \(dot) disagreed at step \(step)", seed: seed, test: "behavesLikeASetAcrossInlineAndSpilledForms")
                    return
                }
                let rebuilt = DotCloud(model.sorted().reversed())
                guard cloud.count == model.count, Set(cloud) == model, cloud.sortedDots() == model.sorted(),
                    rebuilt == cloud, rebuilt.hashValue == cloud.hashValue,
                    model.allSatisfy({ cloud.contains($0) })
                else {
                    failed("cloud \(cloud) differs from \(model.sorted()) at step \(step)", seed: seed, test: "behavesLikeASetAcrossInlineAndSpilledForms")
                    return
                }
                var visited: [Dot] = []
                cloud.forEach { visited.append($0) }
                // Inline clouds are visited in ascending order (the encoder relies on it).
                if visited.sorted() != model.sorted() || (cloud.count <= 3 && visited != model.sorted()) {
                    failed("forEach gave \(visited) at step \(step)", seed: seed, test: "behavesLikeASetAcrossInlineAndSpilledForms")
                    return
                }
                if cloud.allSatisfy({ model.contains($0) }) != true || cloud.contains(where: { !model.contains($0) }) {
                    failed("allSatisfy/contains(where:) disagree at step \(step)", seed: seed, test: "behavesLikeASetAcrossInlineAndSpilledForms")
                    return
                }
            }
        }
    }

    @Test func contextsReportEachAuthorsHighestCounterOnce() {
        let a = ReplicaID(1)
        let b = ReplicaID(2)
        let c = ReplicaID(3)
        // a: vector 2 and cloud 5, 7; b: cloud 4 only; c: vector 3 only.
        let context = CausalContext(
            vector: VersionVector([a: 2, c: 3]), cloud: [Dot(a, 5), Dot(a, 7), Dot(b, 4)])
        var seen: [ReplicaID: UInt64] = [:]
        context.forEachAuthor { r, top in
            #expect(seen[r] == nil, "author \(r) reported twice")
            seen[r] = top
        }
        #expect(seen == [a: 7, b: 4, c: 3])
        #expect(context.replicas == [a, b, c])
        // A spilled cloud (more than three dots) gives the same answers.
        let big = CausalContext(
            vector: VersionVector([c: 3]), cloud: [Dot(a, 5), Dot(a, 7), Dot(b, 4), Dot(b, 9), Dot(a, 11)])
        var tops: [ReplicaID: UInt64] = [:]
        big.forEachAuthor { r, top in tops[r] = top }
        #expect(tops == [a: 11, b: 9, c: 3])
        #expect(big.replicas == [a, b, c])
        #expect(big.cloud.count == 5)
    }
}

@Suite("Causal context intersection")
struct CausalContextIntersectionTests {
    @Test func intersectsIsTrueExactlyWhenADotIsShared() {
        let a = ReplicaID(1), b = ReplicaID(2)
        var g = SplitMix64(seed: 42)
        for round in 0..<500 {
            func random() -> CausalContext {
                var c = CausalContext()
                for _ in 0..<Int.random(in: 0...4, using: &g) {
                    c.insert(Dot(Bool.random(using: &g) ? a : b, UInt64.random(in: 1...8, using: &g)))
                }
                return c
            }
            let x = random(), y = random()
            var shared = false
            for r in [a, b] { for k in UInt64(1)...8 where x.contains(Dot(r, k)) && y.contains(Dot(r, k)) { shared = true } }
            #expect(x.intersects(y) == shared, "round \(round) (seed 42): \(x) and \(y)")
            #expect(y.intersects(x) == shared)
        }
    }
}
