/// A hybrid-logical-clock stamp: 48 bits of milliseconds since the Unix epoch and a 16-bit
/// logical counter, packed so that integer order is causal-then-physical order.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The packed value: `milliseconds << 16 | logical`.
    public let rawValue: UInt64

    /// Creates a stamp from its packed value.
    /// - Parameter rawValue: `milliseconds << 16 | logical`.
    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Creates a stamp from parts.
    /// - Parameters:
    ///   - milliseconds: wall-clock milliseconds since the Unix epoch (low 48 bits are kept).
    ///   - logical: the logical counter.
    @inlinable
    public init(milliseconds: UInt64, logical: UInt16 = 0) {
        rawValue = (milliseconds & 0xFFFF_FFFF_FFFF) << 16 | UInt64(logical)
    }

    /// The zero stamp, below every real one.
    public static let zero = Timestamp(rawValue: 0)

    /// Milliseconds since the Unix epoch.
    @inlinable public var milliseconds: UInt64 { rawValue >> 16 }
    /// The logical counter within one millisecond.
    @inlinable public var logical: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    @inlinable
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `milliseconds.logical`.
    public var description: String { "\(milliseconds).\(logical)" }
}

/// A hybrid logical clock (Kulkarni et al., 2014).
///
/// Local stamps never go backwards and are above every stamp observed, so a write always wins
/// over what its writer has seen. A remote stamp more than `maxSkew` milliseconds ahead of the
/// local wall clock drags the clock forward only up to that bound; such events are counted in
/// `skewedObservations`. The clock reads no time itself: callers pass the wall clock in, which
/// keeps the CRDT core free of I/O. Merge results never depend on it.
public struct HybridLogicalClock: Sendable {
    /// The highest stamp issued or absorbed.
    public private(set) var last: Timestamp
    /// How far ahead of the local wall clock a remote stamp may drag this clock, in milliseconds.
    public var maxSkew: UInt64
    /// Remote stamps that were ahead of the local wall clock by more than `maxSkew`.
    public private(set) var skewedObservations: UInt64 = 0

    /// Creates a clock.
    /// - Parameters:
    ///   - last: the highest stamp known so far (for example, recovered from the log).
    ///   - maxSkew: the bound on forward drag, in milliseconds (default one minute).
    public init(last: Timestamp = .zero, maxSkew: UInt64 = 60_000) {
        self.last = last
        self.maxSkew = maxSkew
    }

    /// Issues a stamp for a local event.
    /// - Parameter wallMilliseconds: the local wall clock, in milliseconds since the epoch.
    /// - Returns: a stamp greater than every stamp issued or absorbed before.
    public mutating func tick(wallMilliseconds: UInt64) -> Timestamp {
        last = peek(wallMilliseconds: wallMilliseconds)
        return last
    }

    /// The stamp `tick(wallMilliseconds:)` would issue now, without issuing it.
    /// - Parameter wallMilliseconds: the local wall clock, in milliseconds since the epoch.
    /// - Returns: the next stamp.
    public func peek(wallMilliseconds: UInt64) -> Timestamp {
        Timestamp(rawValue: max(Timestamp(milliseconds: wallMilliseconds).rawValue, last.rawValue &+ 1))
    }

    /// Absorbs a stamp seen on a remote event.
    /// - Parameters:
    ///   - remote: the remote stamp.
    ///   - wallMilliseconds: the local wall clock, in milliseconds since the epoch.
    public mutating func observe(_ remote: Timestamp, wallMilliseconds: UInt64) {
        guard remote > last else { return }
        let bound = Timestamp(milliseconds: wallMilliseconds &+ maxSkew, logical: .max)
        if remote > bound {
            skewedObservations &+= 1
            if bound > last { last = bound }
        } else {
            last = remote
        }
    }
}
