@testable import LatticeCRDT
import Testing

private let a = ReplicaID(1)
private let b = ReplicaID(2)
private let title = FieldPath("knowledge", "k1", "title")
private let tags = FieldPath("knowledge", "k1", "tags")
private let hits = FieldPath("knowledge", "k1", "successes")

@Suite("CRDT semantics")
struct SemanticsTests {
    @Test func concurrentRegisterWritesStayVisibleAsSiblings() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        let da = try ra.set(title, .string("from a"), now: 100)
        let db = try rb.set(title, .string("from b"), now: 50)
        ra.apply(db, now: 100)
        rb.apply(da, now: 100)
        #expect(ra.state == rb.state)
        guard case .register(let winner, let siblings) = ra.state.value(title) else { Issue.record("not a register"); return }
        #expect(winner == .string("from a"))  // higher HLC stamp wins the read
        #expect(siblings.count == 2)
        #expect(ra.state.conflicts().map(\.path) == [title])
        // A write supersedes every sibling it has seen: resolving the conflict.
        let resolve = try rb.set(title, .string("merged"), now: 200)
        ra.apply(resolve, now: 200)
        #expect(ra.state.value(title) == rb.state.value(title))
        #expect(ra.state.conflicts().isEmpty)
    }

    @Test func equalStampsBreakTiesByReplicaID() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        let da = try ra.set(title, .int(1), now: 100)
        let db = try rb.set(title, .int(2), now: 100)
        ra.apply(db, now: 100)
        rb.apply(da, now: 100)
        guard case .register(let w, _) = ra.state.value(title) else { Issue.record("not a register"); return }
        #expect(w == .int(2))
        #expect(ra.state.value(title) == rb.state.value(title))
    }

    @Test func addWinsOverConcurrentRemove() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        rb.apply(try ra.add(tags, [.string("swift")], now: 1), now: 1)
        let remove = try ra.remove(tags, [.string("swift")], now: 2)
        let readd = try rb.add(tags, [.string("swift")], now: 2)
        ra.apply(readd, now: 3)
        rb.apply(remove, now: 3)
        #expect(ra.state == rb.state)
        #expect(ra.state.value(tags) == .set([.string("swift")]))
        // A remove that has seen the add does remove it.
        rb.apply(try ra.remove(tags, [.string("swift")], now: 4), now: 4)
        #expect(rb.state.value(tags) == nil)
        #expect(!remove.isEmpty && remove.context.cloud.count + remove.context.vector.count > 0)
    }

    @Test func countersSumAcrossReplicas() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        let d1 = try ra.increment(hits, by: 5, now: 1)
        let d2 = try rb.increment(hits, by: -2, now: 1)
        let d3 = try ra.increment(hits, by: 1, now: 2)
        for d in [d3, d1, d1] { rb.apply(d, now: 3) }
        for d in [d2] { ra.apply(d, now: 3) }
        #expect(ra.state.value(hits) == .counter(4))
        #expect(ra.state == rb.state)
    }

    /// A counter keeps one entry per author however often it increments, here and on a
    /// replica that applies the deltas: each increment supersedes the author's previous entry.
    /// (Each increment used to add an entry, so a counter cost O(increments) to merge.)
    @Test func aCounterKeepsOneEntryPerAuthor() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        for i in 0..<100 {
            let d = try ra.increment(hits, by: i % 3 == 0 ? -1 : 2, now: UInt64(i))
            rb.apply(d, now: UInt64(i))
            if i % 10 == 0 { _ = try rb.increment(hits, by: 1, now: UInt64(i)) }
        }
        #expect(ra.state.field(hits)?.counters.count == 1)
        #expect(rb.state.field(hits)?.counters.count == 2)
        let total: Int64 = 66 * 2 - 34  // 66 increments by 2, 34 by -1
        #expect(ra.state.value(hits) == .counter(total))
        #expect(rb.state.value(hits) == .counter(total + 10))
    }

    /// A counter written by an older build (one entry per increment, each with its own amount)
    /// is folded into one entry by the next increment, with the same value everywhere.
    @Test func anOldCounterWithAnEntryPerIncrementIsFoldedByTheNextOne() throws {
        var fresh = Replica(id: a)
        _ = try fresh.increment(hits, by: 3, now: 1)
        let author = try #require(fresh.state.field(hits)?.counters.first?.tag.dot.replica)
        // What the old build made from five increments of 3: five entries, 3 each.
        var legacy = ReplicaState()
        var field = Field()
        for k in UInt64(1)...5 {
            field.counters.append(CounterEntry(tag: Tag(dot: Dot(author, k), stamp: Timestamp(milliseconds: k, logical: 0)), increments: 3, decrements: 0))
            legacy.context.insert(Dot(author, k))
        }
        legacy.store[hits.collection, default: [:]][hits.document, default: Document()].fields[hits.field] = field
        #expect(legacy.value(hits) == .counter(15))
        var old = Replica(id: a, state: legacy)
        var peer = Replica(id: b, state: legacy)
        let d = try old.increment(hits, by: 1, now: 10)
        peer.apply(d, now: 10)
        #expect(old.state.field(hits)?.counters.count == 1)
        #expect(old.state.value(hits) == .counter(16))
        #expect(peer.state == old.state ? true : false)
    }

    /// A local increment that would leave the Int64 range is refused and changes nothing;
    /// the extremes themselves are reachable.
    @Test func anIncrementPastTheInt64RangeIsRefused() throws {
        var r = Replica(id: a)
        _ = try r.increment(hits, by: .max, now: 1)
        let before = r.state
        #expect(throws: EditError.self) { try r.increment(hits, by: 1, now: 2) }
        #expect(r.state == before)
        _ = try r.increment(hits, by: .min, now: 3)
        #expect(r.state.value(hits) == .counter(-1))
        #expect(throws: EditError.self) { try r.increment(hits, by: .min, now: 4) }
        do {
            _ = try r.increment(hits, by: .min, now: 4)
        } catch {
            #expect(error.code == .overflow && error.description.contains("64-bit"))
        }
    }

    @Test func deleteKeepsConcurrentUpdates() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        let body = FieldPath("knowledge", "k1", "body")
        rb.apply(try ra.set(title, .string("t"), now: 1), now: 1)
        let delete = rb.deleteDocument("knowledge", "k1", now: 2)
        let update = try ra.set(body, .string("concurrent"), now: 2)
        ra.apply(delete, now: 3)
        rb.apply(update, now: 3)
        #expect(ra.state == rb.state)
        #expect(ra.state.value(title) == nil)  // observed by the delete: gone
        guard case .register(.string("concurrent"), _) = ra.state.value(body) else {
            Issue.record("concurrent update lost")
            return
        }
    }

    @Test func fieldKindIsFixedByFirstWrite() throws {
        var r = Replica(id: a)
        _ = try r.set(title, .string("x"), now: 1)
        #expect(throws: EditError.self) { try r.add(title, [.int(1)], now: 2) }
        #expect(throws: EditError.self) { try r.increment(title, by: 1, now: 2) }
        do {
            _ = try r.increment(title, by: 1, now: 2)
        } catch {
            #expect(error.existing == .register && error.attempted == .counter)
            #expect(error.description.contains("knowledge/k1.title"))
        }
    }

    @Test func concurrentKindConflictIsVisibleAndHealsOnWrite() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        let d1 = try ra.set(title, .string("x"), now: 1)
        let d2 = try rb.add(title, [.string("y")], now: 2)
        ra.apply(d2, now: 3)
        rb.apply(d1, now: 3)
        #expect(ra.state == rb.state)
        #expect(ra.state.conflicts().first?.kinds.count == 2)
        #expect(ra.state.field(title)?.kind == .set)  // the newer write's kind
        let heal = try ra.add(title, [.string("z")], now: 4)
        rb.apply(heal, now: 4)
        #expect(rb.state.field(title)?.kinds == [.set])
        #expect(rb.state.conflicts().isEmpty)
    }

    @Test func clockIsMonotoneAndBoundsRemoteSkew() {
        var clock = HybridLogicalClock(maxSkew: 1_000)
        let t1 = clock.tick(wallMilliseconds: 10_000)
        let t2 = clock.tick(wallMilliseconds: 9_000)  // the wall clock went backwards
        #expect(t2 > t1)
        clock.observe(Timestamp(milliseconds: 50_000), wallMilliseconds: 10_000)
        #expect(clock.skewedObservations == 1)
        #expect(clock.last.milliseconds <= 11_000)
        let t3 = clock.tick(wallMilliseconds: 10_000)
        #expect(t3 > clock.last || t3 == clock.last)
        clock.observe(Timestamp(milliseconds: 10_500), wallMilliseconds: 10_000)
        #expect(clock.skewedObservations == 1)
    }

    @Test func causalContextCompactsAsGapsFill() {
        var c = CausalContext()
        c.insert(Dot(a, 3))
        c.insert(Dot(a, 2))
        #expect(c.vector[a] == 0 && c.cloud.count == 2)
        c.insert(Dot(a, 1))
        #expect(c.vector[a] == 3 && c.cloud.isEmpty)
        var d = CausalContext()
        d.insert(Dot(a, 5))
        c.formUnion(d)
        #expect(c.contains(Dot(a, 5)) && !c.contains(Dot(a, 4)))
        c.insert(Dot(a, 4))
        #expect(c.vector[a] == 5 && c.cloud.isEmpty)
    }

    @Test func versionVectorOperations() {
        let v = VersionVector([a: 3, b: 1])
        let w = VersionVector([a: 1, b: 4])
        #expect(v.union(w) == VersionVector([a: 3, b: 4]))
        #expect(v.intersection(w) == VersionVector([a: 1, b: 1]))
        #expect(v.missing(from: w) == 2)
        #expect(!v.isDominated(by: w) && v.isDominated(by: v.union(w)))
        #expect(v.contains(Dot(a, 3)) && !v.contains(Dot(a, 4)))
    }

    @Test func valueOrderIsTotalAndDocumented() {
        let ordered: [Value] = [
            .null, .bool(false), .bool(true), .int(.min), .int(0), .int(.max),
            .double(-.infinity), .double(-0.0), .double(0.0), .double(.infinity), .double(.nan),
            .string(""), .string("a"), .string("é"), .bytes([]), .bytes([0]),
        ]
        for i in ordered.indices {
            for j in ordered.indices {
                #expect((ordered[i] < ordered[j]) == (i < j), "\(ordered[i]) vs \(ordered[j])")
            }
        }
        #expect(Value.string("é") != .string("e\u{301}"))
        #expect(Value.double(.nan) == .double(.nan))
    }

    @Test func catchUpRemovesWhatThePeerMissed() throws {
        var ra = Replica(id: a)
        var rb = Replica(id: b)
        rb.apply(try ra.add(tags, [.string("x"), .string("y")], now: 1), now: 1)
        _ = try ra.remove(tags, [.string("x")], now: 2)  // b never receives this delta
        rb.join(ra.state.delta(since: rb.state.versionVector), now: 3)
        #expect(rb.state.value(tags) == .set([.string("y")]))
        #expect(rb.state == ra.state)
    }
}
