import Foundation
import LatticeCRDT
import LatticeSimulation
import LatticeStore
import LatticeSync
import Testing

/// The same storage contract for the disk store (`ReplicaStore`) and the simulator's
/// `MemoryStorage`, and the engine running over real data directories.
@Suite("Sync storage contract")
struct StorageContractTests {
    final class Dir {
        let path: String
        init() {
            path = NSTemporaryDirectory() + "lattice-sync-\(UUID().uuidString)"
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    enum Kind: String, CaseIterable { case disk, memory }

    static let me = ReplicaID(0x51)
    static let other = ReplicaID(0x52)

    static func open(_ kind: Kind, _ dir: Dir) throws -> any SyncStorage {
        switch kind {
        case .memory: return MemoryStorage(replicaID: me)
        case .disk:
            var o = StoreOptions()
            o.log.fsyncPolicy = .none
            o.log.segmentSize = 4_096
            return try ReplicaStore.open(at: dir.path, replicaID: me, options: o)
        }
    }

    static func flush(_ s: any SyncStorage) throws {
        if let m = s as? MemoryStorage { m.flush() } else if let r = s as? ReplicaStore { try r.flush() }
    }

    static func remoteChange(_ i: Int) throws -> Delta {
        var r = Replica(id: other)
        return try r.set(FieldPath("knowledge", Key("k\(i)"), "title"), .string("t\(i)"), now: 1_000 + UInt64(i))
    }

    @Test(arguments: Kind.allCases)
    func integratedChangesAreInTheStateAndReadableOnceFlushed(kind: Kind) throws {
        let dir = Dir()
        let s = try Self.open(kind, dir)
        let d = try Self.remoteChange(1)
        let seq = try s.integrate(remote: d, now: 5_000)
        #expect(s.state.value(FieldPath("knowledge", "k1", "title")) != nil)
        try Self.flush(s)
        var seen: [(UInt64, UInt8, Delta)] = []
        try s.forEachRecord(from: s.firstSequence) { q, t, p in
            seen.append((q, t, try Delta(decoding: p)))
            return true
        }
        #expect(seen.count == 1 && seen[0].0 == seq && seen[0].1 == RecordType.remote && seen[0].2 == d)
    }

    /// `snapshotContext` (what the engine may no longer stream after a restart) is empty without
    /// a snapshot, covers what the snapshot took and nothing logged after it, and is the same
    /// after a reopen or crash.
    @Test(arguments: Kind.allCases)
    func theSnapshotContextCoversWhatTheSnapshotTookAndSurvivesAReopen(kind: Kind) throws {
        let dir = Dir()
        var s = try Self.open(kind, dir)
        var author = Replica(id: Self.other)
        var changes: [Delta] = []
        for i in 1...4 {
            changes.append(try author.set(FieldPath("knowledge", Key("k\(i)"), "title"), .string("t\(i)"), now: 1_000 + UInt64(i)))
        }
        for d in changes.prefix(3) { _ = try s.integrate(remote: d, now: 5_000) }
        try Self.flush(s)
        #expect(s.snapshotContext.isEmpty)
        if let m = s as? MemoryStorage { _ = m.compact(through: UInt64.max) } else if let r = s as? ReplicaStore { _ = try r.compact() }
        _ = try s.integrate(remote: changes[3], now: 5_000)
        try Self.flush(s)
        func check(_ when: String) {
            for d in changes.prefix(3) { #expect(s.snapshotContext.covers(d.context), "\(kind) \(when): a snapshotted change") }
            #expect(!s.snapshotContext.covers(changes[3].context), "\(kind) \(when): the change after the snapshot")
        }
        check("after the snapshot")
        if let m = s as? MemoryStorage {
            m.crash()
        } else if let r = s as? ReplicaStore {
            try r.close()
            s = try Self.open(kind, dir)
        }
        check("after a reopen")
        #expect(s.state.value(FieldPath("knowledge", "k4", "title")) != nil)
    }

    @Test(arguments: Kind.allCases)
    func catchUpsAreLoggedAsTypeThreeAndJoined(kind: Kind) throws {
        let dir = Dir()
        let s = try Self.open(kind, dir)
        var source = ReplicaState()
        source.apply(try Self.remoteChange(2))
        let catchUp = source.delta(since: VersionVector())
        _ = try s.integrate(catchUp: catchUp, now: 5_000)
        try Self.flush(s)
        #expect(s.state == source)
        var types: [UInt8] = []
        try s.forEachRecord(from: 1) { _, t, _ in
            types.append(t)
            return true
        }
        #expect(types == [RecordType.catchUp])
    }

    @Test(arguments: Kind.allCases)
    func watermarksJoinAndReadBack(kind: Kind) throws {
        let dir = Dir()
        let s = try Self.open(kind, dir)
        try s.acknowledge(peer: Self.other, vector: VersionVector([Self.other: 3]))
        try s.acknowledge(peer: Self.other, vector: VersionVector([Self.me: 2]))
        #expect(s.watermark(of: Self.other) == VersionVector([Self.other: 3, Self.me: 2]))
        #expect(s.watermark(of: ReplicaID(99)).isEmpty)
    }

    @Test(arguments: Kind.allCases)
    func readingFromAMiddleSequenceStartsThere(kind: Kind) throws {
        let dir = Dir()
        let s = try Self.open(kind, dir)
        for i in 0..<20 { _ = try s.integrate(remote: try Self.remoteChange(i), now: 5_000) }
        try Self.flush(s)
        var first: UInt64?
        var count = 0
        try s.forEachRecord(from: 11) { q, _, _ in
            if first == nil { first = q }
            count += 1
            return true
        }
        #expect(first == 11 && count == 10)
    }

    @Test func memoryCrashLosesExactlyWhatWasNotFlushed() throws {
        let s = MemoryStorage(replicaID: Self.me)
        _ = try s.integrate(remote: try Self.remoteChange(1), now: 1)
        s.flush()
        _ = try s.integrate(remote: try Self.remoteChange(2), now: 1)
        s.crash()
        #expect(s.state.value(FieldPath("knowledge", "k1", "title")) != nil)
        #expect(s.state.value(FieldPath("knowledge", "k2", "title")) == nil)
        #expect(s.pendingRecords == 0)
    }

    /// Two engines over real data directories: sync, restart one (index rebuilt from the log),
    /// write more, and catch up exactly the new changes.
    @Test func enginesSyncOverDiskStoresAcrossARestart() throws {
        let da = Dir(), db = Dir()
        var o = StoreOptions()
        o.log.fsyncPolicy = .none
        let a = try ReplicaStore.open(at: da.path, replicaID: ReplicaID(0xA), options: o)
        var b = try ReplicaStore.open(at: db.path, replicaID: ReplicaID(0xB), options: o)
        func write(_ n: Range<Int>) throws -> [SyncAction] {
            var out: [SyncAction] = []
            for i in n {
                let r = try a.commit { r, d in try r.set(FieldPath("memories", Key("m\(i)"), "text"), .string("note \(i)"), now: 1_000, into: &d) }
                out.append(contentsOf: ea.localChange(sequence: r.sequence, delta: r.delta, now: 10))
            }
            return out
        }
        let ea = try SyncEngine(node: ReplicaID(0xA), storage: a, seed: 1, now: 0)
        var eb = try SyncEngine(node: ReplicaID(0xB), storage: b, seed: 2, now: 0)
        var changesSentToB = 0
        var connA: ConnectionID = 1
        func pump(_ first: [(Int, [SyncAction])]) throws {
            var work = first
            while !work.isEmpty {
                let (from, actions) = work.removeFirst()
                for act in actions {
                    switch act {
                    case .send(_, let bytes, _):
                        if from == 0, case .deltas(_, let changes) = try Message(decoding: bytes) { changesSentToB += changes.count }
                        work.append(from == 0 ? (1, eb.receive(bytes, on: 2, now: 20)) : (0, ea.receive(bytes, on: connA, now: 20)))
                    case .flush: try (from == 0 ? a : b).flush()
                    default: break
                    }
                }
            }
        }
        _ = try write(0..<30)
        try pump([(0, ea.connected(1, peer: ReplicaID(0xB), outbound: true, now: 1)), (1, eb.connected(2, peer: ReplicaID(0xA), outbound: false, now: 1))])
        #expect(b.state == a.state)
        #expect(changesSentToB == 30)
        // B restarts: its engine indexes the log it has.
        _ = eb.disconnected(2, now: 30, reason: "restart")
        _ = ea.disconnected(1, now: 30, reason: "restart")
        try b.close()
        b = try ReplicaStore.open(at: db.path, replicaID: ReplicaID(0xB), options: o)
        eb = try SyncEngine(node: ReplicaID(0xB), storage: b, seed: 3, now: 40)
        #expect(eb.indexEntries > 0)
        _ = try write(30..<45)
        changesSentToB = 0
        connA = 3
        try pump([(0, ea.connected(3, peer: ReplicaID(0xB), outbound: true, now: 50)), (1, eb.connected(2, peer: ReplicaID(0xA), outbound: false, now: 50))])
        #expect(b.state == a.state)
        #expect(changesSentToB == 15, "exactly the missing changes, got \(changesSentToB)")
        // Watermarks reach storage at most once per `watermarkInterval` (or when a session ends).
        #expect(ea.peers[ReplicaID(0xB)]?.acknowledged == b.state.versionVector)
        _ = ea.tick(now: 50 + SyncConfig().watermarkInterval)
        #expect(a.watermark(of: ReplicaID(0xB)) == b.state.versionVector)
        try a.close()
        try b.close()
    }

    /// A node behind compaction gets one state catch-up; when that is larger than a log record
    /// may be (16 MiB by default; 2 KB here), it is made durable by a snapshot, not refused and
    /// resent forever. Found by `COMPACT=1 Tests/Campaign/long-offline.py 1000000`.
    @Test func aCatchUpLargerThanALogRecordIsKeptBySnapshot() throws {
        let da = Dir(), db = Dir()
        var oa = StoreOptions()
        oa.log.fsyncPolicy = .none
        oa.log.segmentSize = 4_096
        var ob = oa
        ob.log.maxRecordSize = 2_000
        let a = try ReplicaStore.open(at: da.path, replicaID: ReplicaID(0xA), options: oa)
        var b = try ReplicaStore.open(at: db.path, replicaID: ReplicaID(0xB), options: ob)
        for i in 0..<200 {
            _ = try a.commit { r, d in try r.set(FieldPath("memories", Key("m\(i)"), "text"), .string("note number \(i)"), now: 1_000, into: &d) }
        }
        let report = try a.compact().report
        #expect(!report.removedSegments.isEmpty)
        let ea = try SyncEngine(node: ReplicaID(0xA), storage: a, seed: 1, now: 0)
        var eb = try SyncEngine(node: ReplicaID(0xB), storage: b, seed: 2, now: 0)
        var catchUpBytes = 0
        func pump(_ first: [(Int, [SyncAction])]) throws {
            var work = first
            var steps = 0
            while !work.isEmpty {
                steps += 1
                #expect(steps < 1_000, "the sessions never settle: a catch-up is resent forever")
                if steps >= 1_000 { return }
                let (from, actions) = work.removeFirst()
                for act in actions {
                    switch act {
                    case .send(_, let bytes, _):
                        if from == 0, case .catchUp(_, let state) = try Message(decoding: bytes) { catchUpBytes = max(catchUpBytes, state.count) }
                        work.append(from == 0 ? (1, eb.receive(bytes, on: 2, now: 20)) : (0, ea.receive(bytes, on: 1, now: 20)))
                    case .flush: try (from == 0 ? a : b).flush()
                    default: break
                    }
                }
            }
        }
        try pump([(0, ea.connected(1, peer: ReplicaID(0xB), outbound: true, now: 1)), (1, eb.connected(2, peer: ReplicaID(0xA), outbound: false, now: 1))])
        #expect(catchUpBytes > 2_000, "the test needs a catch-up larger than B's record limit, got \(catchUpBytes) B")
        #expect(b.state == a.state ? true : false, "B does not hold A's state")
        // The feed cannot itemise it: a reader is told to re-read, as after compaction.
        #expect(throws: ChangeCursorExpired.self) { _ = try b.changes(after: 0, limit: 10) }
        // Durable across a restart, and the engine indexes the marker record.
        _ = eb.disconnected(2, now: 30, reason: "restart")
        _ = ea.disconnected(1, now: 30, reason: "restart")
        let before = b.state
        try b.close()
        b = try ReplicaStore.open(at: db.path, replicaID: ReplicaID(0xB), options: ob)
        #expect(b.state == before ? true : false, "B lost the catch-up on restart")
        eb = try SyncEngine(node: ReplicaID(0xB), storage: b, seed: 3, now: 40)
        // Later changes arrive as ordinary deltas and are itemised again.
        var out: [SyncAction] = []
        for i in 200..<205 {
            let r = try a.commit { r, d in try r.set(FieldPath("memories", Key("m\(i)"), "text"), .string("note \(i)"), now: 2_000, into: &d) }
            out.append(contentsOf: ea.localChange(sequence: r.sequence, delta: r.delta, now: 50))
        }
        try pump([(0, ea.connected(1, peer: ReplicaID(0xB), outbound: true, now: 50)), (1, eb.connected(2, peer: ReplicaID(0xA), outbound: false, now: 50))])
        #expect(b.state == a.state ? true : false, "B does not hold A's state")
        let expired = try #require(throws: ChangeCursorExpired.self) { _ = try b.changes(after: 0, limit: 10) }
        let page = try b.changes(after: expired.oldest - 1, limit: 100)
        #expect(page.changes.count == 5)
        try a.close()
        try b.close()
    }
}
