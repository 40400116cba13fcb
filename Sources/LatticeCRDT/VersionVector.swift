/// For each replica, the highest counter such that every dot `(replica, 1...counter)` has been seen.
///
/// Missing replicas count as 0. The vector is a join-semilattice under pointwise maximum.
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline
    internal var counters: [ReplicaID: UInt64]

    /// The empty vector (nothing seen).
    public init() { counters = [:] }

    /// Creates a vector from explicit entries; zero entries are dropped.
    /// - Parameter entries: replica → highest contiguous counter.
    public init(_ entries: [ReplicaID: UInt64]) {
        counters = entries.filter { $0.value > 0 }
    }

    /// A vector from counters that are all above zero (no filtering copy).
    init(positive entries: [ReplicaID: UInt64]) {
        counters = entries
    }

    /// The contiguous counter seen from `replica` (0 when none).
    @inlinable
    public subscript(replica: ReplicaID) -> UInt64 {
        get { counters[replica, default: 0] }
        set {
            if newValue == 0 { counters[replica] = nil } else { counters[replica] = newValue }
        }
    }

    /// Raises the entry of `dot`'s replica to `dot` when it is the next counter, in one hashed
    /// lookup. - Returns: whether `dot` is now at or below this vector (false: it lies beyond
    /// the next counter, nothing changed).
    @inline(__always)
    mutating func advance(_ dot: Dot) -> Bool {
        if let i = counters.index(forKey: dot.replica) {
            let have = counters.values[i]
            if dot.counter <= have { return true }
            guard dot.counter == have + 1 else { return false }
            counters.values[i] = dot.counter
            return true
        }
        guard dot.counter == 1 else { return dot.counter == 0 }
        counters[dot.replica] = 1
        return true
    }

    /// Whether `dot` lies at or below this vector.
    @inlinable
    public func contains(_ dot: Dot) -> Bool { counters[dot.replica, default: 0] >= dot.counter }

    /// The replicas with a non-zero entry, in ascending order.
    public var replicas: [ReplicaID] { counters.keys.sorted() }

    /// The entries in ascending replica order.
    public var entries: [(replica: ReplicaID, counter: UInt64)] {
        counters.sorted { $0.key < $1.key }.map { (replica: $0.key, counter: $0.value) }
    }

    /// The number of non-zero entries.
    public var count: Int { counters.count }

    /// Whether no dot has been seen.
    public var isEmpty: Bool { counters.isEmpty }

    /// Sum of all entries: the number of events this vector covers.
    public var total: UInt64 { counters.values.reduce(0, &+) }

    /// Pointwise maximum, in place.
    /// - Parameter other: the vector to absorb.
    /// - Returns: whether any entry rose.
    @discardableResult
    public mutating func formUnion(_ other: VersionVector) -> Bool {
        var changed = false
        for (replica, counter) in other.counters where counter > counters[replica, default: 0] {
            counters[replica] = counter
            changed = true
        }
        return changed
    }

    /// Pointwise maximum.
    /// - Parameter other: the other vector.
    /// - Returns: the join of both.
    public func union(_ other: VersionVector) -> VersionVector {
        var copy = self
        copy.formUnion(other)
        return copy
    }

    /// Pointwise minimum (the events both have seen).
    /// - Parameter other: the other vector.
    /// - Returns: the meet of both.
    public func intersection(_ other: VersionVector) -> VersionVector {
        var result = VersionVector()
        for (replica, counter) in counters {
            let m = min(counter, other[replica])
            if m > 0 { result.counters[replica] = m }
        }
        return result
    }

    /// Whether every entry of `self` is ≤ the matching entry of `other`.
    /// - Parameter other: the candidate dominator.
    public func isDominated(by other: VersionVector) -> Bool {
        counters.allSatisfy { other[$0.key] >= $0.value }
    }

    /// How many events `self` has that `other` lacks (sum of positive differences).
    /// - Parameter other: the peer's vector.
    public func missing(from other: VersionVector) -> UInt64 {
        counters.reduce(0) { $0 &+ ($1.value > other[$1.key] ? $1.value - other[$1.key] : 0) }
    }

    /// The entries of `self` that are above `other`'s: what a peer told `other` lacks. A peer
    /// that joins them into `other` gets the same result as joining all of `self`. O(count).
    /// - Parameter other: what the peer was already told.
    public func entries(above other: VersionVector) -> VersionVector {
        var out: [ReplicaID: UInt64] = [:]
        for (replica, counter) in counters where counter > other[replica] { out[replica] = counter }
        return VersionVector(positive: out)
    }

    /// A 64-bit digest of the entries, independent of their order, O(count) with no sorting:
    /// equal vectors have equal digests; different ones collide with probability ~2⁻⁶⁴ (for
    /// anti-entropy between authenticated peers: a collision only delays a round).
    public var digest: UInt64 {
        var sum: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(counters.count &+ 1)
        for (replica, counter) in counters {
            sum = sum &+ Self.mix(replica.rawValue ^ Self.mix(counter &+ 0x632B_E59B_D9B4_E019))
        }
        return sum
    }

    /// SplitMix64's finaliser.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `{replica:counter, …}` in ascending replica order.
    public var description: String {
        "{" + entries.map { "\($0.replica):\($0.counter)" }.joined(separator: ", ") + "}"
    }
}
