import LatticeCRDT
import LatticeStore
import Synchronization
import Testing

@Suite struct ReplicaStoreFaultTests {
    /// A change whose fsync fails is not acknowledged: `commit` throws, the in-memory state is
    /// rolled back, further commits are refused, and a reopen holds exactly the acknowledged changes.
    @Test(arguments: [FsyncPolicy.batch, .always])
    func failedFsyncIsNotAcknowledgedAndRolledBack(policy: FsyncPolicy) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let me = ReplicaID(7)
        let s = try ReplicaStore.open(at: dir.path, replicaID: me, options: options(policy, syscalls: faults.syscalls))
        for i in 0..<5 {
            try s.commit { r, d in try r.set(FieldPath("c", Key("d\(i)"), "v"), .int(Int64(i)), now: 1_000, into: &d) }
        }
        let acknowledged = s.state
        faults.plan.withLock { $0.fdatasync = { _ in -Errno.io } }
        #expect(throws: StoreError.self) {
            try s.commit { r, d in try r.set(FieldPath("c", "lost", "v"), .int(9), now: 2_000, into: &d) }
        }
        #expect(s.state == acknowledged)
        faults.plan.withLock { $0.fdatasync = nil }
        #expect(throws: StoreError.self) {
            try s.commit { r, d in try r.set(FieldPath("c", "later", "v"), .int(9), now: 3_000, into: &d) }
        }
        try? s.close()
        let t = try ReplicaStore.open(at: dir.path, replicaID: me)
        #expect(t.state.documentIDs(in: "c").map(\.string) == ["d0", "d1", "d2", "d3", "d4"])
        try t.commit { r, d in try r.set(FieldPath("c", "after", "v"), .int(1), now: 4_000, into: &d) }
        try t.close()
        #expect(try Store.verify(at: dir.path).isClean)
    }
}
