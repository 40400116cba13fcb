import Glibc

/// A detached pthread for tests (no Foundation `Thread`).
struct TestThread {
    private let handle: pthread_t

    init(_ body: @escaping @Sendable () -> Void) throws {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let r = pthread_create(
            &tid,
            nil,
            { arg in
                Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
                return nil
            },
            box
        )
        precondition(r == 0)
        handle = tid
    }

    func detach() { pthread_detach(handle) }
    func join() { pthread_join(handle, nil) }
}

func usleepMs(_ ms: Int) { usleep(UInt32(ms * 1000)) }
