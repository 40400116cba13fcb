import LatticeCRDT

/// The sorted `(value, document)` entries of one field index, packed for the cache.
///
/// A field index at a million documents is updated at random places: every probe of a search
/// is a cache miss, and the misses, not the comparisons, are the cost of index upkeep. So an
/// entry is 12 bytes in two parallel arrays per chunk — a 64-bit *summary* of its value and
/// the document's *slot* — and a search reads only summaries: a chunk's summaries span a few
/// cache lines, the chunks' last summaries one contiguous array. The value and document ID of a
/// slot live in side tables (``FieldIndex``), read only where summaries tie.
///
/// A summary is monotone in the order (`a < b` implies `summary(a) <= summary(b)`; see
/// ``IndexKey/summary``), so a search compares summaries and calls the caller's full
/// comparison only for entries whose summary equals the target's.
struct PackedOrder {
    /// Chunks of summaries, ascending; never empty.
    private var sums: [[UInt64]] = []
    /// The slots, parallel to `sums`.
    private var slots: [[UInt32]] = []
    /// Each chunk's last summary and slot, contiguous (a search's first half reads only these).
    private var lastSums: [UInt64] = []
    private var lastSlots: [UInt32] = []
    /// Each chunk's entry count, contiguous (``distance(from:to:)`` sums these).
    private var counts: [Int] = []
    /// The number of entries.
    private(set) var count = 0

    /// A chunk is split when it grows past twice this (64 entries: 512 bytes of summaries).
    static var chunkSize: Int { 64 }

    /// A place: chunk and index (`chunk == chunkCount` is the end).
    typealias Position = ChunkPosition

    /// Empty.
    init() {}

    /// From entries already in order.
    init(sorted entries: [(sum: UInt64, slot: UInt32)]) {
        var i = 0
        while i < entries.count {
            let end = min(i + Self.chunkSize, entries.count)
            sums.append(entries[i..<end].map(\.sum))
            slots.append(entries[i..<end].map(\.slot))
            lastSums.append(entries[end - 1].sum)
            lastSlots.append(entries[end - 1].slot)
            counts.append(end - i)
            i = end
        }
        count = entries.count
    }

    /// The end position.
    var end: Position { Position(chunk: sums.count, index: 0) }

    /// The first position whose entry is not *below* the target: an entry is below when its
    /// summary is smaller than `sum`, or equal to it and `below(slot)` says so. Entries must be
    /// partitioned that way (every below entry before every other).
    /// - Parameters:
    ///   - sum: the target's summary.
    ///   - below: the full comparison, asked only for entries whose summary is `sum`.
    /// - Returns: the position.
    func partition(_ sum: UInt64, _ below: (UInt32) -> Bool) -> Position {
        var lo = 0
        var hi = lastSums.count
        lastSums.withUnsafeBufferPointer { last in
            while lo < hi {
                let mid = (lo + hi) / 2
                let s = last[mid]
                if s < sum || (s == sum && below(lastSlots[mid])) { lo = mid + 1 } else { hi = mid }
            }
        }
        guard lo < sums.count else { return end }
        let c = lo
        let index = sums[c].withUnsafeBufferPointer { chunk in
            var a = 0
            var b = chunk.count
            while a < b {
                let mid = (a + b) / 2
                let s = chunk[mid]
                if s < sum || (s == sum && below(slots[c][mid])) { a = mid + 1 } else { b = mid }
            }
            return a
        }
        return Position(chunk: c, index: index)
    }

    /// The slot at `p` (a position before the end).
    func slot(at p: Position) -> UInt32 { slots[p.chunk][p.index] }

    /// Inserts an entry at the position ``partition(_:_:)`` gives for it.
    mutating func insert(_ sum: UInt64, _ slot: UInt32, at position: Position) {
        if sums.isEmpty {
            sums = [[sum]]
            slots = [[slot]]
            lastSums = [sum]
            lastSlots = [slot]
            counts = [1]
            count = 1
            return
        }
        var p = position
        // Past every entry: append to the last chunk.
        if p.chunk == sums.count { p = Position(chunk: sums.count - 1, index: counts[sums.count - 1]) }
        let c = p.chunk
        sums[c].insert(sum, at: p.index)
        slots[c].insert(slot, at: p.index)
        counts[c] += 1
        count += 1
        if p.index == counts[c] - 1 {
            lastSums[c] = sum
            lastSlots[c] = slot
        }
        if counts[c] > 2 * Self.chunkSize {
            let half = Self.chunkSize
            let tailSums = Array(sums[c][half...])
            let tailSlots = Array(slots[c][half...])
            sums[c].removeSubrange(half...)
            slots[c].removeSubrange(half...)
            sums.insert(tailSums, at: c + 1)
            slots.insert(tailSlots, at: c + 1)
            lastSums.insert(lastSums[c], at: c + 1)
            lastSlots.insert(lastSlots[c], at: c + 1)
            counts.insert(tailSums.count, at: c + 1)
            lastSums[c] = sums[c][half - 1]
            lastSlots[c] = slots[c][half - 1]
            counts[c] = half
        }
    }

    /// Removes the entry at `p` (a position before the end).
    mutating func remove(at p: Position) {
        let c = p.chunk
        sums[c].remove(at: p.index)
        slots[c].remove(at: p.index)
        counts[c] -= 1
        count -= 1
        if counts[c] == 0 {
            sums.remove(at: c)
            slots.remove(at: c)
            lastSums.remove(at: c)
            lastSlots.remove(at: c)
            counts.remove(at: c)
        } else if p.index == counts[c] {
            lastSums[c] = sums[c][p.index - 1]
            lastSlots[c] = slots[c][p.index - 1]
        }
    }

    /// The number of entries from `a` up to `b`.
    func distance(from a: Position, to b: Position) -> Int { ChunkWalk.distance(counts, from: a, to: b) }

    /// Visits slots in order from `start` until `body` returns false or the end.
    func forEach(from start: Position, _ body: (UInt32) -> Bool) { ChunkWalk.forEach(slots, from: start, body) }

    /// Visits slots before `end` downwards until `body` returns false or the start.
    func forEachDescending(before end: Position, _ body: (UInt32) -> Bool) { ChunkWalk.forEachDescending(slots, before: end, body) }
}

extension IndexKey {
    /// A 64-bit summary monotone in the order: the kind's rank in the top 3 bits, then the
    /// value's order-preserving bits — a number's IEEE 754 total-order bits, the first 8 bytes of
    /// a string or bytes (zero-padded) — cut to the 61 bits left. Different summaries order as
    /// their keys; equal ones need the full comparison.
    var summary: UInt64 {
        switch self {
        case .null: return 0
        case .bool(let b): return 1 << 61 | (b ? 1 : 0)
        case .number(let d): return 2 << 61 | Self.orderedBits(d) >> 3
        case .string(let k):
            var s = k.string
            return 3 << 61 | s.withUTF8 { Self.prefixBits(UnsafeRawBufferPointer($0)) } >> 3
        case .bytes(let b): return 4 << 61 | b.withUnsafeBytes { Self.prefixBits($0) } >> 3
        }
    }

    /// The first 8 bytes, big-endian, zero-padded.
    @inline(__always)
    static func prefixBits(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(i < bytes.count ? bytes[i] : 0) }
        return v
    }
}
