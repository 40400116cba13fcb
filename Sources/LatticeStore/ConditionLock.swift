import Glibc

/// A pthread mutex with a few condition variables on the monotonic clock, for the group-commit
/// hand-off between appenders, waiters and the sync thread.
///
/// `@unchecked Sendable`: the pthread objects live at stable heap addresses for the object's
/// lifetime and pthread functions are thread-safe by contract.
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conds: UnsafeMutablePointer<pthread_cond_t>
    private let condCount: Int

    /// - Parameter conditions: how many condition variables (indexed from 0).
    init(conditions: Int = 1) {
        mutex = .allocate(capacity: 1)
        condCount = conditions
        conds = .allocate(capacity: conditions)
        let r1 = pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        for i in 0..<conditions {
            precondition(pthread_cond_init(conds + i, &attr) == 0, "pthread_cond_init failed")
        }
        pthread_condattr_destroy(&attr)
        precondition(r1 == 0, "pthread_mutex_init failed")
    }

    deinit {
        for i in 0..<condCount { pthread_cond_destroy(conds + i) }
        pthread_mutex_destroy(mutex)
        conds.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the mutex.
    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a signal on condition `c`; the mutex must be held.
    func wait(_ c: Int = 0) { pthread_cond_wait(conds + c, mutex) }

    /// Waits for a signal on `c` or until the monotonic clock reaches `deadline` (nanoseconds);
    /// the mutex must be held.
    func wait(_ c: Int = 0, untilNanoseconds deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(conds + c, mutex, &ts)
    }

    /// Wakes every waiter on condition `c`.
    func broadcast(_ c: Int = 0) { pthread_cond_broadcast(conds + c) }

    /// Wakes one waiter on condition `c`.
    func signal(_ c: Int = 0) { pthread_cond_signal(conds + c) }

    /// The monotonic clock in nanoseconds.
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The wall clock in nanoseconds since the Unix epoch.
    static func wallNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// A joinable pthread running one closure: the group-commit sync thread. Never the Swift
/// concurrency pool, because `fsync` blocks.
struct SyncThread {
    private let handle: pthread_t

    /// Starts `body` on a new thread.
    init(name: String, _ body: @escaping @Sendable () -> Void) throws {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let r = pthread_create(
            &tid,
            nil,
            { arg in
                let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
                box.body()
                return nil
            },
            box
        )
        guard r == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw StoreError(.io, "pthread_create for \(name)", errno: r)
        }
        handle = tid
    }

    /// Waits for the thread to finish.
    func join() { pthread_join(handle, nil) }
}
