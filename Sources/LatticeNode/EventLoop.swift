#if canImport(Glibc)
    import Glibc
#endif
import CLinux
import Synchronization

/// Why an event-loop operation failed: the call and `errno`.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The system call.
    public var call: String
    /// `errno`.
    public var code: Int32

    init(_ call: String, _ code: Int32 = errno) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

/// One thread's epoll loop: file-descriptor readiness, timers on the monotonic clock, and tasks
/// posted from other threads (woken through an eventfd). Everything runs on the thread that
/// calls ``run()``; only ``post(_:)`` and ``stop()`` may be called from elsewhere.
public final class EventLoop: @unchecked Sendable {
    /// A readiness callback: receives the epoll event bits.
    public typealias Handler = (UInt32) -> Void

    /// A scheduled timer's handle.
    public struct Timer: Hashable, Sendable {
        let id: UInt64
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private var handlers: [Int32: Handler] = [:]
    private var timers: [(deadline: UInt64, id: UInt64, body: () -> Void)] = []
    private var cancelled: Set<UInt64> = []
    private var nextTimer: UInt64 = 1
    private let posted = Mutex<[@Sendable () -> Void]>([])
    private let stopping = Atomic<Bool>(false)

    /// Creates a loop (an epoll instance and an eventfd).
    /// - Throws: ``SystemError`` from `epoll_create1` or `eventfd`.
    public init() throws {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemError("epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let e = SystemError("eventfd")
            close(epollFD)
            throw e
        }
        try register(wakeFD, events: UInt32(EPOLLIN.rawValue)) { [wakeFD] _ in
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
        }
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    /// Milliseconds on the monotonic clock.
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    // MARK: Descriptors

    /// Watches `fd` for `events` (EPOLLIN, EPOLLOUT, …; level-triggered).
    public func register(_ fd: Int32, events: UInt32, _ handler: @escaping Handler) throws {
        var ev = epoll_event()
        ev.events = events
        clinux_set_event_fd(&ev, fd)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else { throw SystemError("epoll_ctl(ADD)") }
        handlers[fd] = handler
    }

    /// Changes the events watched on `fd`.
    public func modify(_ fd: Int32, events: UInt32) throws {
        var ev = epoll_event()
        ev.events = events
        clinux_set_event_fd(&ev, fd)
        guard epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &ev) == 0 else { throw SystemError("epoll_ctl(MOD)") }
    }

    /// Stops watching `fd` (call before closing it).
    public func unregister(_ fd: Int32) {
        var ev = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &ev)
        handlers[fd] = nil
    }

    // MARK: Timers

    /// Runs `body` on the loop after `milliseconds`.
    @discardableResult
    public func schedule(after milliseconds: UInt64, _ body: @escaping () -> Void) -> Timer {
        let id = nextTimer
        nextTimer += 1
        let deadline = Self.now() + milliseconds
        var i = timers.count
        timers.append((deadline, id, body))
        // Keep ascending by deadline (few timers: insertion is cheap).
        while i > 0, timers[i - 1].deadline > deadline {
            timers.swapAt(i, i - 1)
            i -= 1
        }
        return Timer(id: id)
    }

    /// Cancels a timer that has not fired.
    public func cancel(_ timer: Timer) { cancelled.insert(timer.id) }

    // MARK: Cross-thread

    /// Runs `task` on the loop thread soon; callable from any thread.
    public func post(_ task: @escaping @Sendable () -> Void) {
        posted.withLock { $0.append(task) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Makes ``run()`` return after the current iteration; callable from any thread.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: Running

    /// Runs until ``stop()``.
    public func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while !stopping.load(ordering: .sequentiallyConsistent) {
            var timeout: Int32 = -1
            if let first = timers.first {
                let now = Self.now()
                timeout = first.deadline <= now ? 0 : Int32(min(first.deadline - now, 60_000))
            }
            let n = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            if n < 0 && errno != EINTR { break }
            if n > 0 {
                for k in 0..<Int(n) {
                    let fd = clinux_event_fd(&events[k])
                    let bits = events[k].events
                    handlers[fd]?(bits)
                }
            }
            let tasks = posted.withLock { tasks -> [@Sendable () -> Void] in
                let t = tasks
                tasks.removeAll()
                return t
            }
            for t in tasks { t() }
            let now = Self.now()
            while let first = timers.first, first.deadline <= now {
                timers.removeFirst()
                if cancelled.remove(first.id) != nil { continue }
                first.body()
            }
        }
    }
}
