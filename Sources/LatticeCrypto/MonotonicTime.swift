import Glibc

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`), the time base of deadlines and session ages.
/// The sans-I/O types take `now` as a parameter; callers obtain it here (tests pass virtual times).
public enum MonotonicTime {
    /// The current monotonic time in nanoseconds.
    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}
