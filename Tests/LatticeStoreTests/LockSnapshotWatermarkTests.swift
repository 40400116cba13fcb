import Glibc
import LatticeCRDT
import LatticeStore
import Testing

@Suite struct LockTests {
    /// flock belongs to the open file description, so a second open in this same process conflicts.
    @Test func secondWriterGetsLockedWithPid() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let first = try Store.open(at: dir.path)
        do {
            _ = try Store.open(at: dir.path)
            Issue.record("second writer opened the directory")
        } catch let e as StoreError {
            #expect(e.code == .locked)
            #expect(e.message.contains("pid \(getpid())"))
        }
        #expect(throws: StoreError.self) { try Store.verify(at: dir.path) }
        #expect(throws: StoreError.self) { try Store.repair(at: dir.path) }
        try first.close()
        let second = try Store.open(at: dir.path)
        try second.close()
    }
}

@Suite struct SnapshotTests {
    @Test func newestValidWinsAndFallsBack() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = StoreOptions()
        o.keepSnapshots = 3
        let store = try Store.open(at: dir.path, options: o)
        #expect(store.recoveredSnapshot == nil)
        for s in [10, 20, 30, 40] as [UInt64] {
            try store.snapshots.write(
                sequence: s,
                metadata: Array("meta\(s)".utf8),
                payload: payload(Int(s), size: 1000)
            )
        }
        // Keep 3: the oldest went.
        #expect(
            listNames(dir.path + "/snapshots")
                == [10, 20, 30, 40].dropFirst().map { String(repeating: "0", count: 18) + "\($0).snap" }
        )
        try store.close()

        let reopened = try Store.open(at: dir.path, options: o)
        #expect(reopened.recoveredSnapshot?.sequence == 40)
        #expect(reopened.recoveredSnapshot?.metadata == Array("meta40".utf8))
        #expect(reopened.recoveredSnapshot?.payload == payload(40, size: 1000))
        try reopened.close()

        // Damage the newest: fall back to 30. Truncate 30 too: fall back to 20.
        let newest = dir.path + "/snapshots/00000000000000000040.snap"
        var bytes = readBytes(newest)
        bytes[500] ^= 1
        writeBytes(newest, bytes)
        let s30 = dir.path + "/snapshots/00000000000000000030.snap"
        writeBytes(s30, Array(readBytes(s30).dropLast(10)))
        let fallback = try Store.open(at: dir.path, options: o)
        #expect(fallback.recoveredSnapshot?.sequence == 20)
        #expect(fallback.openReport.damagedSnapshots.map(\.sequence) == [40, 30])
        try fallback.close()
        #expect(try !Store.verify(at: dir.path).isClean)
        let repair = try Store.repair(at: dir.path)
        #expect(repair.movedAside.count == 2)
        #expect(repair.after.isClean)
        #expect(fileExists(newest + ".damaged"))

        // All damaged: none (full log replay).
        let s20 = dir.path + "/snapshots/00000000000000000020.snap"
        writeBytes(s20, [1, 2, 3])
        let none = try Store.open(at: dir.path, options: o)
        #expect(none.recoveredSnapshot == nil)
        try none.close()
    }

    @Test func encodeDecodeRejectsEveryTruncation() {
        let s = Snapshot(sequence: 7, createdAtNanoseconds: 123, metadata: [1, 2], payload: [3, 4, 5])
        let bytes = SnapshotStore.encode(s)
        #expect((try? SnapshotStore.decode(bytes).get()) == s)
        for n in 0..<bytes.count {
            if case .success = SnapshotStore.decode(Array(bytes.prefix(n))) { Issue.record("accepted \(n) bytes") }
        }
    }
}

@Suite struct WatermarkTests {
    @Test func persistExpireAndReload() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try Store.open(at: dir.path)
        let a = ReplicaID(1), b = ReplicaID(2)
        try store.watermarks.acknowledge(peer: "peer-a", vector: VersionVector([a: 5, b: 2]), seenAtNanoseconds: 100)
        try store.watermarks.acknowledge(peer: "peer-a", vector: VersionVector([a: 3, b: 7]), seenAtNanoseconds: 50)
        try store.watermarks.acknowledge(peer: "peer-b", vector: VersionVector([a: 1]), seenAtNanoseconds: 200)
        try store.watermarks.expire(peer: "peer-b")
        #expect(throws: StoreError.self) { try store.watermarks.expire(peer: "nobody") }
        try store.close()

        let reopened = try Store.open(at: dir.path)
        let all = reopened.watermarks.all
        #expect(all.map(\.peer) == ["peer-a", "peer-b"])
        #expect(all[0].acknowledged == VersionVector([a: 5, b: 7]))
        #expect(all[0].lastSeenNanoseconds == 100)
        #expect(!all[0].expired)
        #expect(all[1].expired)
        #expect(reopened.openReport.peers == 2)
        // Acknowledging revives an expired peer; remove forgets it.
        try reopened.watermarks.acknowledge(peer: "peer-b", vector: VersionVector(), seenAtNanoseconds: 300)
        #expect(reopened.watermarks.watermark(for: "peer-b")?.expired == false)
        try reopened.watermarks.remove(peer: "peer-a")
        try reopened.close()
        #expect(try Store.open(at: dir.path).watermarks.all.map(\.peer) == ["peer-b"])
    }

    @Test func damagedFileRefusesOpenAndRepairMovesItAside() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let store = try Store.open(at: dir.path)
            try store.watermarks.acknowledge(peer: "p", vector: VersionVector([ReplicaID(9): 1]), seenAtNanoseconds: 1)
            try store.close()
        }
        let path = dir.path + "/peers/watermarks"
        var bytes = readBytes(path)
        bytes[bytes.count / 2] ^= 0x10
        writeBytes(path, bytes)
        #expect(throws: StoreError.self) { try Store.open(at: dir.path) }
        for n in 0..<bytes.count {
            if case .success = WatermarkStore.decode(Array(bytes.prefix(n))) { Issue.record("accepted \(n) bytes") }
        }
        let repair = try Store.repair(at: dir.path)
        #expect(repair.movedAside == [path + ".damaged"])
        let store = try Store.open(at: dir.path)
        #expect(store.watermarks.all.isEmpty)
        try store.close()
    }
}
