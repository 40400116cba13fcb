/// A unique event identifier: the `counter`-th event minted by `replica`. Counters start at 1.
public struct Dot: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The replica that minted the dot.
    public var replica: ReplicaID
    /// The per-replica sequence number, starting at 1.
    public var counter: UInt64

    /// The largest counter the codec accepts (2^62): far beyond any real replica's history, and
    /// low enough that `counter + 1` and range arithmetic never overflow.
    public static let maxCounter: UInt64 = 1 << 62

    /// Creates a dot.
    /// - Parameters:
    ///   - replica: the minting replica.
    ///   - counter: its sequence number (≥ 1).
    @inlinable
    public init(_ replica: ReplicaID, _ counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    /// Orders by replica, then counter.
    @inlinable
    public static func < (lhs: Dot, rhs: Dot) -> Bool {
        lhs.replica != rhs.replica ? lhs.replica < rhs.replica : lhs.counter < rhs.counter
    }

    /// `replica:counter`.
    public var description: String { "\(replica):\(counter)" }
}
