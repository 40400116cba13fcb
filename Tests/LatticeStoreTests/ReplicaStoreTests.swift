import Glibc
import LatticeCRDT
import LatticeStore
import Testing

@Suite struct ReplicaStoreTests {
    static let me = ReplicaID(0xA1)
    static let other = ReplicaID(0xB2)

    func options(segmentSize: Int = 64 << 20) -> StoreOptions {
        var o = StoreOptions()
        o.log.fsyncPolicy = .none
        o.log.segmentSize = segmentSize
        return o
    }

    /// Writes `n` documents, one change each.
    func write(_ s: ReplicaStore, _ range: Range<Int>, now: UInt64 = 1_000) throws {
        for i in range {
            try s.commit { r, d in
                try r.set(FieldPath("c", Key("d\(i)"), "v"), .int(Int64(i)), now: now + UInt64(i), into: &d)
                try r.add(FieldPath("c", Key("d\(i)"), "tags"), [.string("t\(i % 3)")], now: now + UInt64(i), into: &d)
            }
        }
    }

    @Test func recoverAfterReopenEqualsStateBeforeClose() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        try write(s, 0..<50)
        try s.commit { r, d in r.deleteDocument("c", "d3", now: 5_000, into: &d) }
        try s.commit { r, d in try r.increment(FieldPath("c", "d4", "n"), by: -7, now: 5_001, into: &d) }
        let before = s.state
        try s.close()
        let t = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        #expect(t.state == before)
        #expect(t.replayedRecords == 52)
        #expect(t.state.document("c", "d3") == nil)
        // The next dot continues after the recovered ones.
        let r = try t.commit { r, d in try r.set(FieldPath("c", "x", "v"), .null, now: 6_000, into: &d) }
        #expect(r.dots == [Dot(Self.me.scoped(to: "c"), 103)])
        try t.close()
    }

    struct Refused: Error {}

    /// Edits run in place (no copy of the state per commit): a body that throws after some of
    /// its edits took effect must still leave the state as it was, the next dot unminted, and
    /// the store usable — with a snapshot and non-durable appends around it.
    @Test(arguments: [false, true])
    func aBodyThatThrowsHalfwayChangesNothing(snapshotFirst: Bool) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        try write(s, 0..<10)
        if snapshotFirst { try s.snapshot() }
        try s.commit(durably: false) { r, d in try r.set(FieldPath("c", "pending", "v"), .int(1), now: 2_000, into: &d) }
        let before = s.state
        #expect(throws: Refused.self) {
            try s.commit { r, d in
                try r.set(FieldPath("c", "d1", "v"), .string("half"), now: 3_000, into: &d)
                try r.increment(FieldPath("c", "d2", "n"), by: 5, now: 3_000, into: &d)
                throw Refused()
            }
        }
        #expect(s.state == before)
        // A failing edit as the first step changes nothing either (no rebuild needed).
        #expect(throws: EditError.self) {
            try s.commit { r, d in try r.increment(FieldPath("c", "d1", "v"), by: 1, now: 3_001, into: &d) }
        }
        #expect(s.state == before)
        // The dots of the failed body were not minted: the next change takes the next one.
        let r = try s.commit { r, d in try r.set(FieldPath("c", "x", "v"), .null, now: 4_000, into: &d) }
        #expect(r.dots == [Dot(Self.me.scoped(to: "c"), 22)])
        try s.close()
        let t = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        func register(_ path: FieldPath) -> Value? {
            if case .register(let v, _)? = t.state.value(path) { return v }
            return nil
        }
        #expect(register(FieldPath("c", "d1", "v")) == .int(1))
        #expect(register(FieldPath("c", "pending", "v")) == .int(1))
        try t.close()
    }

    @Test func snapshotPlusTail() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        try write(s, 0..<20)
        let snap = try s.snapshot()
        #expect(snap == 20)
        try write(s, 20..<30)
        var remote = Replica(id: Self.other)
        let delta = try remote.set(FieldPath("c", "d1", "v"), .string("theirs"), now: 900)
        try s.apply(remote: delta)
        let before = s.state
        try s.close()
        let t = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        #expect(t.replayedRecords == 11)
        #expect(t.state == before)
        #expect(t.state.conflicts().count == 1)
        try t.close()
    }

    @Test func failingBodyChangesNothing() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        try write(s, 0..<1)
        let before = s.state
        #expect(throws: EditError.self) {
            try s.commit { r, d in
                try r.set(FieldPath("c", "d0", "z"), .int(1), now: 2_000, into: &d)
                try r.increment(FieldPath("c", "d0", "v"), by: 1, now: 2_000, into: &d)  // v is a register
            }
        }
        #expect(s.state == before)
        #expect(s.store.log.lastSequence == 1)
        try s.close()
    }

    @Test func pendingPerPeerAndOldest() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        try write(s, 0..<10, now: 1_000)
        let halfway = s.state.versionVector
        try write(s, 10..<15, now: 2_000)
        try s.acknowledge(peer: "p1", vector: halfway)
        try s.acknowledge(peer: "p2", vector: s.state.versionVector)
        try s.acknowledge(peer: "p3", vector: VersionVector())
        let pending = try s.pending(now: 10_000)
        #expect(pending.map(\.peer) == ["p1", "p2", "p3"])
        #expect(pending[0].pending == 5)
        #expect(pending[0].oldestSequence == 11)
        #expect(pending[0].oldestMilliseconds == 2_010)
        #expect(pending[0].oldestAgeMilliseconds == 10_000 - 2_010)
        #expect(pending[1].pending == 0)
        #expect(pending[1].oldestSequence == nil)
        #expect(pending[2].pending == 15)
        try s.expire(peer: "p3")
        #expect(try s.pending().first { $0.peer == "p3" }?.expired == true)
        try s.close()
    }

    @Test func compactionKeepsUnacknowledgedRecords() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(segmentSize: 512))
        try write(s, 0..<40)
        let acked = s.state.versionVector
        try write(s, 40..<80)
        try s.acknowledge(peer: "slow", vector: acked)
        try s.acknowledge(peer: "fast", vector: s.state.versionVector)
        let (snap, report) = try s.compact()
        #expect(snap == 80)
        #expect(!report.removedSegments.isEmpty)
        // Every record the slow peer lacks is still in the log.
        #expect(s.store.log.firstSequence <= 41)
        #expect(try s.pending().first { $0.peer == "slow" }?.pending == 40)
        // Expiring the slow peer lets compaction drop up to the snapshot (never the active segment).
        try s.expire(peer: "slow")
        try s.compact()
        #expect(s.store.log.firstSequence > 41)
        let before = s.state
        try s.close()
        let t = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(segmentSize: 512))
        #expect(t.state == before)
        try t.close()
    }

    @Test func compactionWithNoPeersDropsWhatTheSnapshotCovers() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(segmentSize: 512))
        try write(s, 0..<60)
        try s.compact()
        #expect(s.store.log.firstSequence > 50)
        try write(s, 60..<65)
        let before = s.state
        try s.close()
        let t = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(segmentSize: 512))
        #expect(t.state == before)
        try t.close()
    }

    @Test func historyListsEveryChangeWithOriginDotsAndTime() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
        try s.commit { r, d in try r.set(FieldPath("n", "a", "t"), .string("x"), now: 1_000, into: &d) }
        try s.commit { r, d in try r.set(FieldPath("n", "b", "t"), .string("y"), now: 1_001, into: &d) }
        var remote = Replica(id: Self.other)
        try s.apply(remote: remote.set(FieldPath("n", "a", "t"), .string("z"), now: 1_002))
        try s.commit { r, d in r.deleteDocument("n", "a", now: 1_003, into: &d) }
        let h = try s.history("n", "a")
        #expect(h.map(\.sequence) == [1, 3, 4])
        #expect(h.map(\.local) == [true, false, true])
        let me = Self.me.scoped(to: "n"), other = Self.other.scoped(to: "n")
        #expect(h[0].origin == Self.me && h[0].dots == [Dot(me, 1)])
        #expect(h[0].stamp?.milliseconds == 1_000)
        #expect(h[1].origin == Self.other && h[1].dots == [Dot(other, 1)])
        #expect(h[2].kind == "remove" && h[2].dots == [Dot(me, 3)] && h[2].stamp == nil)
        try s.close()
    }

    @Test func undecodableRecordNamesTheRecord() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Store.open(at: dir.path, options: options())
        _ = try store.log.appendDurably(type: 1, payload: [1, 2, 3])
        try store.close()
        do {
            _ = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options())
            Issue.record("opened a log with an undecodable record")
        } catch let e as ReplicaStoreError {
            #expect(e.message.contains("log record 1"))
        }
    }
}
