/// A latency histogram with fixed bucket bounds (seconds), in the shape Prometheus exposes:
/// cumulative counts per upper bound, a total count and a sum. A value type: copy it out under
/// whatever lock guards the writer.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending (the `+Inf` bucket is implicit).
    public let bounds: [Double]
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    public private(set) var counts: [UInt64]
    /// Observations.
    public private(set) var count: UInt64 = 0
    /// Sum of the observed values, seconds.
    public private(set) var sum: Double = 0

    /// 100 µs … 60 s, roughly ×2.5 apart: fsyncs, local round trips and LAN replication alike.
    public static let latencyBounds: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]

    public init(bounds: [Double] = Histogram.latencyBounds) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Records one value (negative values count as 0).
    public mutating func observe(_ seconds: Double) {
        let v = seconds.isFinite ? max(0, seconds) : 0
        var lo = 0
        var hi = bounds.count
        while lo < hi {  // first bound ≥ v
            let mid = (lo + hi) / 2
            if bounds[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        counts[lo] += 1
        count += 1
        sum += v
    }

    /// Cumulative counts per bound, then `+Inf` (= ``count``).
    public var cumulative: [UInt64] {
        var total: UInt64 = 0
        return counts.map {
            total += $0
            return total
        }
    }

    /// The value below which `q` (0…1) of the observations fall, as a bucket's upper bound
    /// (nil when empty; `.infinity` in the last bucket).
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = UInt64((Double(count) * min(max(q, 0), 1)).rounded(.up))
        for (i, c) in cumulative.enumerated() where c >= max(rank, 1) { return i < bounds.count ? bounds[i] : .infinity }
        return .infinity
    }
}
