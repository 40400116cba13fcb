/// An immutable set of dots stored as sorted, non-adjacent counter ranges per replica: compact in
/// memory and on the wire whatever the counters. Used for the references of a `StateDelta`.
public struct DotSet: Hashable, Sendable {
    /// Replica → ascending, non-overlapping, non-adjacent ranges.
    public private(set) var ranges: [ReplicaID: [ClosedRange<UInt64>]]

    /// The empty set.
    public init() { ranges = [:] }

    /// Creates a set from per-replica counters in any order (duplicates allowed; 0 is not a dot
    /// counter and is ignored).
    /// - Parameter counters: replica → counters.
    public init(_ counters: [ReplicaID: [UInt64]]) {
        var out: [ReplicaID: [ClosedRange<UInt64>]] = [:]
        for (replica, list) in counters {
            let sorted = list.filter { $0 > 0 }.sorted()
            guard !sorted.isEmpty else { continue }
            var result: [ClosedRange<UInt64>] = []
            var lo = sorted[0]
            var hi = sorted[0]
            for c in sorted.dropFirst() where c != hi {
                if c == hi + 1 {
                    hi = c
                } else {
                    result.append(lo...hi)
                    lo = c
                    hi = c
                }
            }
            result.append(lo...hi)
            out[replica] = result
        }
        ranges = out
    }

    /// Creates a set from normalised ranges (the decoder checks the order).
    init(normalized: [ReplicaID: [ClosedRange<UInt64>]]) { ranges = normalized }

    /// Whether the set holds `dot` (binary search).
    public func contains(_ dot: Dot) -> Bool {
        guard let list = ranges[dot.replica] else { return false }
        var lo = 0
        var hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if list[mid].upperBound < dot.counter { lo = mid + 1 } else { hi = mid }
        }
        return lo < list.count && list[lo].contains(dot.counter)
    }

    /// The number of ranges (the encoding's size driver).
    public var rangeCount: Int { ranges.values.reduce(0) { $0 + $1.count } }

    /// Whether the set is empty.
    public var isEmpty: Bool { ranges.isEmpty }
}
