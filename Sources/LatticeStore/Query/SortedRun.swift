/// One sorted run of a field index's `(value, document)` entries: a 64-bit *summary* of each
/// value and the document's *slot*, in two flat parallel arrays (12 bytes an entry), ordered by
/// value then slot. A run is never changed in place: ``FieldIndex`` builds a new one by merging
/// (``merged(_:_:keepingOlder:precedes:)``), a sequential pass over memory.
///
/// A summary is monotone in the order (`a < b` implies `summary(a) <= summary(b)`; see
/// ``IndexKey/summary``), so a search compares summaries and asks the caller's full comparison
/// only for entries whose summary equals the target's.
struct SortedRun {
    /// The summaries, ascending.
    private(set) var sums: [UInt64] = []
    /// The slots, parallel to `sums`.
    private(set) var slots: [UInt32] = []

    /// Empty.
    init() {}

    /// From entries already in order.
    init(sums: [UInt64], slots: [UInt32]) {
        self.sums = sums
        self.slots = slots
    }

    /// The number of entries.
    var count: Int { sums.count }

    /// The first index whose entry is not *below* the target: an entry is below when its
    /// summary is smaller than `sum`, or equal to it and `below(slot)` says so (entries must be
    /// partitioned that way).
    /// - Parameters:
    ///   - sum: the target's summary.
    ///   - below: the full comparison, asked only for entries whose summary is `sum`.
    /// - Returns: the index (`count` when every entry is below).
    func partition(_ sum: UInt64, _ below: (UInt32) -> Bool) -> Int {
        sums.withUnsafeBufferPointer { s in
            var lo = 0
            var hi = s.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if s[mid] < sum { lo = mid + 1 } else { hi = mid }
            }
            // Among the entries of this summary (usually none or a few), the full comparison.
            var end = lo
            var top = s.count
            while end < top {
                let mid = (end + top) / 2
                if s[mid] <= sum { end = mid + 1 } else { top = mid }
            }
            while lo < end {
                let mid = (lo + end) / 2
                if below(slots[mid]) { lo = mid + 1 } else { end = mid }
            }
            return lo
        }
    }

    /// The run holding the entries of `left` (the older run) that `keepLeft` keeps and every
    /// entry of `right`, in order: one sequential merge. `precedes(a, b)` compares two kept
    /// entries of different runs (summaries first, then the caller's values and slots).
    @inline(__always)
    static func merged(
        _ left: SortedRun,
        _ right: SortedRun,
        keepingOlder keepLeft: (UInt32) -> Bool,
        precedes: (_ a: (UInt64, UInt32), _ b: (UInt64, UInt32)) -> Bool
    ) -> SortedRun {
        let capacity = left.count + right.count
        var written = 0
        var outSlots: [UInt32] = []
        let outSums = [UInt64](unsafeUninitializedCapacity: capacity) { sums, sumsCount in
            outSlots = [UInt32](unsafeUninitializedCapacity: capacity) { slots, slotsCount in
                left.sums.withUnsafeBufferPointer { ls in
                    left.slots.withUnsafeBufferPointer { lt in
                        right.sums.withUnsafeBufferPointer { rs in
                            right.slots.withUnsafeBufferPointer { rt in
                                var i = 0
                                var j = 0
                                var w = 0
                                @inline(__always) func put(_ sum: UInt64, _ slot: UInt32) {
                                    sums[w] = sum
                                    slots[w] = slot
                                    w += 1
                                }
                                while true {
                                    while i < ls.count && !keepLeft(lt[i]) { i += 1 }
                                    if i == ls.count || j == rs.count { break }
                                    if precedes((rs[j], rt[j]), (ls[i], lt[i])) {
                                        put(rs[j], rt[j])
                                        j += 1
                                    } else {
                                        put(ls[i], lt[i])
                                        i += 1
                                    }
                                }
                                while i < ls.count {
                                    if keepLeft(lt[i]) { put(ls[i], lt[i]) }
                                    i += 1
                                }
                                while j < rs.count {
                                    put(rs[j], rt[j])
                                    j += 1
                                }
                                written = w
                            }
                        }
                    }
                }
                slotsCount = written
            }
            sumsCount = written
        }
        return SortedRun(sums: outSums, slots: outSlots)
    }
}
