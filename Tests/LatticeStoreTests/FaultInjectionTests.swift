import LatticeCRDT
import LatticeStore
import Synchronization
import Testing

@Suite struct FaultInjectionTests {
    /// A replica store whose disk filled up takes changes again once writes succeed (space came
    /// back), without being reopened; one whose disk failed (EIO) stays stopped.
    @Test(arguments: [Errno.noSpace, Errno.io])
    func aFullDiskResumesAndAFailedOneStops(errno: Int32) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let s = try ReplicaStore.open(at: dir.path, replicaID: ReplicaID(0xD15C), options: options(.batch, syscalls: faults.syscalls))
        defer { try? s.close() }
        func write(_ name: String) throws {
            try s.commit { r, d in try r.set(FieldPath("m", Key(name), "v"), .string(name), now: 1_000, into: &d) }
        }
        try write("kept")
        faults.plan.withLock { $0.write = { _, _, _ in -Int(errno) } }
        #expect(throws: StoreError.self) { try write("refused") }
        faults.plan.withLock { $0.write = nil }
        if errno == Errno.noSpace {
            try write("after")
            #expect(s.state.documentIDs(in: "m") == ["after", "kept"])
        } else {
            #expect(throws: StoreError.self) { try write("after") }
            #expect(s.state.documentIDs(in: "m") == ["kept"])
        }
    }

    @Test(arguments: [Errno.noSpace, Errno.io])
    func writeFailureIsNotAcknowledged(errno: Int32) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let store = try Store.open(at: dir.path, options: options(.batch, syscalls: faults.syscalls))
        for i in 1...10 { try store.log.appendDurably(type: 1, payload: payload(i)) }
        faults.plan.withLock { $0.write = { _, _, _ in -Int(errno) } }
        let seq = try store.log.append(type: 1, payload: payload(11))
        do {
            try store.log.waitDurable(upTo: seq)
            Issue.record("acknowledged a failed write")
        } catch let e as StoreError {
            #expect(e.errno == errno)
            #expect(e.code == (errno == Errno.noSpace ? .noSpace : .io))
            #expect(e.message.contains("pwrite"))
        }
        #expect(store.log.durableSequence == 10)
        // The log refuses further appends until reopened.
        #expect(throws: StoreError.self) { try store.log.append(type: 1, payload: [1]) }
        faults.plan.withLock { $0.write = nil }
        try? store.close()
        let reopened = try Store.open(at: dir.path)
        #expect(try reopened.log.records(from: 1).map(\.payload) == (1...10).map { payload($0) })
        #expect(try reopened.log.appendDurably(type: 1, payload: payload(11)) == 11)
        try reopened.close()
        #expect(try Store.verify(at: dir.path).isClean)
    }

    @Test(arguments: [FsyncPolicy.batch, .always], [Errno.io, Errno.noSpace])
    func fsyncFailureIsNotAcknowledged(policy: FsyncPolicy, errno: Int32) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let store = try Store.open(at: dir.path, options: options(policy, syscalls: faults.syscalls))
        for i in 1...5 { try store.log.appendDurably(type: 1, payload: payload(i)) }
        faults.plan.withLock { $0.fdatasync = { _ in -errno } }
        let acked = Mutex<Result<UInt64, StoreError>?>(nil)
        var thrown: StoreError? = nil
        do {
            let seq = try store.log.append(type: 1, payload: payload(6)) { r in acked.withLock { $0 = r } }
            try store.log.waitDurable(upTo: seq)
        } catch let e as StoreError {
            thrown = e
        }
        #expect(thrown?.errno == errno)
        #expect(thrown?.message.contains("fdatasync") == true)
        #expect(store.log.durableSequence == 5)
        if policy == .batch {
            // The callback got the failure, never a success.
            for _ in 0..<100 where acked.withLock({ $0 }) == nil { usleepMs(1) }
            if case .success = acked.withLock({ $0 }) { Issue.record("callback acknowledged a failed fsync") }
        }
        #expect(throws: StoreError.self) { try store.log.appendDurably(type: 1, payload: [1]) }
        faults.plan.withLock { $0.fdatasync = nil }
        try? store.close()
        // The unacknowledged record was cut back off; the store reopens consistent.
        let reopened = try Store.open(at: dir.path)
        #expect(try reopened.log.records(from: 1).map(\.payload) == (1...5).map { payload($0) })
        try reopened.close()
    }

    @Test func shortWritesAndEINTRAreRetried() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let counter = Mutex(0)
        let syncCalls = Mutex(0)
        let readCalls = Mutex(0)
        faults.plan.withLock {
            $0.write = { fd, buf, off in
                let n = counter.withLock { c -> Int in
                    c += 1
                    return c
                }
                if n % 3 == 0 { return -Int(Errno.interrupted) }
                if n % 3 == 1 && buf.count > 1 {  // write only part
                    return Syscalls.system.pwrite(fd, UnsafeRawBufferPointer(rebasing: buf[0..<(buf.count / 2)]), off)
                }
                return nil
            }
            $0.fdatasync = { _ in
                syncCalls.withLock { c -> Bool in
                    c += 1
                    return c % 2 == 0
                } ? -Errno.interrupted : nil
            }
            $0.pread = { fd, buf, off in
                // Short reads and EINTR on the read side too.
                if buf.count > 7 && off % 2 == 0 {
                    return Syscalls.system.pread(fd, UnsafeMutableRawBufferPointer(rebasing: buf[0..<7]), off)
                }
                return readCalls.withLock { c -> Bool in
                    c += 1
                    return c % 5 == 0
                } ? -Int(Errno.interrupted) : nil
            }
        }
        let store = try Store.open(at: dir.path, options: options(.batch, segmentSize: 2000, syscalls: faults.syscalls))
        for i in 1...300 { try store.log.append(type: 1, payload: payload(i)) }
        try store.log.sync()
        #expect(try store.log.records(from: 1).map(\.payload) == (1...300).map { payload($0) })
        try store.close()
        let reopened = try Store.open(
            at: dir.path,
            options: options(.batch, segmentSize: 2000, syscalls: faults.syscalls)
        )
        #expect(reopened.openReport.log.records == 300)
        #expect(try reopened.log.records(from: 1).map(\.payload) == (1...300).map { payload($0) })
        try reopened.close()
        #expect(counter.withLock { $0 } > 10)
        #expect(syncCalls.withLock { $0 } > 2)
        #expect(readCalls.withLock { $0 } > 10)
    }

    /// Group commit: while fsync blocks, appends are not acknowledged; they are right after.
    @Test func acknowledgedOnlyAfterFsync() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let gate = Mutex(true)  // true = fsync blocks
        let entered = Mutex(0)
        let store = try Store.open(at: dir.path, options: options(.batch, syscalls: faults.syscalls))
        faults.plan.withLock {
            $0.fdatasync = { _ in
                entered.withLock { $0 += 1 }
                while gate.withLock({ $0 }) { usleepMs(1) }
                return nil
            }
        }
        let log = store.log
        let acked = Mutex<[UInt64]>([])
        for i in 1...20 {
            try log.append(type: 1, payload: payload(i)) { r in
                if case .success(let s) = r { acked.withLock { $0.append(s) } }
            }
        }
        let waiterDone = Mutex(false)
        let waiter = try TestThread {
            try? log.waitDurable(upTo: 20)
            waiterDone.withLock { $0 = true }
        }
        while entered.withLock({ $0 }) == 0 { usleepMs(1) }
        usleepMs(20)
        #expect(log.durableSequence == 0)
        #expect(acked.withLock { $0 }.isEmpty)
        #expect(!waiterDone.withLock { $0 })
        gate.withLock { $0 = false }
        waiter.join()
        #expect(log.durableSequence == 20)
        #expect(waiterDone.withLock { $0 })
        for _ in 0..<100 where acked.withLock({ $0.count }) < 20 { usleepMs(1) }
        #expect(acked.withLock { $0 }.sorted() == Array(1...20))
        // One sync covered the whole batch.
        #expect(entered.withLock { $0 } <= 2)
        try store.close()
    }

    @Test func failureDuringRotation() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let faults = Faults()
        let store = try Store.open(at: dir.path, options: options(.always, segmentSize: 600, syscalls: faults.syscalls))
        for i in 1...4 { try store.log.append(type: 1, payload: payload(i)) }
        // Creating the next segment fsyncs its header: make that fail.
        faults.plan.withLock { $0.fsync = { _ in -Errno.io } }
        var failedAt: UInt64? = nil
        for i in 5...20 {
            do { try store.log.append(type: 1, payload: payload(i)) } catch {
                failedAt = UInt64(i)
                break
            }
        }
        #expect(failedAt != nil)
        faults.plan.withLock { $0.fsync = nil }
        try? store.close()
        let reopened = try Store.open(at: dir.path, options: options(.always, segmentSize: 600))
        let records = try reopened.log.records(from: 1)
        #expect(records.count >= Int(failedAt! - 1))
        for r in records { #expect(r.payload == payload(Int(r.sequence))) }
        try reopened.close()
        #expect(try Store.verify(at: dir.path).isClean)
    }
}
