import LatticeCRDT
import LatticeStore
import Testing

/// The change feed: durable log records after a cursor, paged, with the documents and fields
/// each touched; compaction past a cursor is reported, never skipped silently.
@Suite struct ChangeFeedTests {
    static let me = ReplicaID(0xA1)
    static let other = ReplicaID(0xB2)

    @Test func pagesListTouchedDocumentsInLogOrder() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        try s.commit { r, d in
            try r.set(FieldPath("knowledge", "k1", "title"), .string("a"), now: 1_000, into: &d)
            try r.set(FieldPath("knowledge", "k1", "body"), .string("b"), now: 1_000, into: &d)
        }
        var remote = Replica(id: Self.other)
        try s.apply(remote: remote.set(FieldPath("memories", "m1", "note"), .string("n"), now: 1_500))
        try s.commit { r, d in r.deleteDocument("knowledge", "k1", now: 2_000, into: &d) }
        try s.store.log.sync()

        let all = try s.changes(after: 0, limit: 10)
        #expect(all.changes.map(\.sequence) == [1, 2, 3])
        #expect(all.next == 3 && !all.more)
        #expect(all.changes.map(\.origin) == [.local, .remote, .local])
        #expect(all.changes[0].documents == [.init(collection: "knowledge", id: "k1", fields: ["body", "title"], removal: false)])
        #expect(all.changes[0].author == Self.me && all.changes[0].stamp?.milliseconds == 1_000)
        #expect(all.changes[1].author == Self.other)
        #expect(all.changes[1].documents.map(\.collection) == ["memories"])
        #expect(all.changes[2].documents.first?.removal == true && all.changes[2].stamp == nil)

        // Paging: two, then the rest, then nothing (the cursor stays).
        let first = try s.changes(after: 0, limit: 2)
        #expect(first.changes.map(\.sequence) == [1, 2] && first.next == 2 && first.more)
        let second = try s.changes(after: first.next, limit: 2)
        #expect(second.changes.map(\.sequence) == [3] && second.next == 3 && !second.more)
        let empty = try s.changes(after: 3, limit: 2)
        #expect(empty.changes.isEmpty && empty.next == 3 && !empty.more)
    }

    @Test func onlyDurableChangesAreListed() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.batch))
        defer { try? s.close() }
        try s.commit { r, d in try r.set(FieldPath("c", "a", "v"), .int(1), now: 1_000, into: &d) }
        try s.commit(durably: false) { r, d in try r.set(FieldPath("c", "b", "v"), .int(2), now: 1_001, into: &d) }
        let page = try s.changes(after: 0, limit: 10)
        #expect(page.changes.allSatisfy { $0.sequence <= s.durableSequence })
        try s.flush()
        #expect(try s.changes(after: 0, limit: 10).changes.count == 2)
    }

    @Test func aCursorBeforeCompactionIsExpiredWithWhereToResume() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none, segmentSize: 512))
        defer { try? s.close() }
        for i in 0..<60 {
            try s.commit { r, d in try r.set(FieldPath("c", Key("d\(i)"), "v"), .int(Int64(i)), now: 1_000 + UInt64(i), into: &d) }
        }
        try s.compact()
        let first = s.store.log.firstSequence
        #expect(first > 2)
        do {
            _ = try s.changes(after: 0, limit: 10)
            Issue.record("a compacted cursor was served")
        } catch let e as ChangeCursorExpired {
            #expect(e.oldest == first && e.resume == s.durableSequence)
        }
        // From the oldest record still there, the feed goes on.
        let page = try s.changes(after: first - 1, limit: 5)
        #expect(page.changes.first?.sequence == first)
    }

    @Test func histogramBucketsAreCumulativeWithQuantiles() {
        var h = Histogram(bounds: [0.001, 0.01, 0.1])
        for v in [0.0005, 0.002, 0.002, 0.05, 3.0, -1] { h.observe(v) }
        #expect(h.count == 6)
        #expect(h.cumulative == [2, 4, 5, 6])
        #expect(abs(h.sum - 3.0545) < 1e-9)
        #expect(h.quantile(0.5) == 0.01)
        #expect(h.quantile(1) == .infinity)
        #expect(Histogram().quantile(0.5) == nil)
    }
}
