import LatticeCRDT

/// The sorted `(value, document)` entries of one field index, packed for the cache.
///
/// A field index at a million documents is updated at random places: every probe of a search
/// is a cache miss, and the misses, not the comparisons, are the cost of index upkeep. So an
/// entry is 12 bytes in two parallel arrays per chunk — a 64-bit *summary* of its value and
/// the document's *slot* — and a search reads only summaries: a chunk's summaries span a few
/// cache lines, the chunks' last summaries one contiguous array. The value of a slot lives in a
/// side table (``FieldIndex``), read only where inexact summaries tie; equal values go by slot.
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
    ///
    /// With `from`, every entry before `from` must be below too (the answer for an earlier
    /// target): the search gallops forward from there, so a batch of sorted targets is found in
    /// one forward sweep whose probes stay near each other (``FieldIndex/flush()``).
    /// - Parameters:
    ///   - sum: the target's summary.
    ///   - from: where the search may start.
    ///   - below: the full comparison, asked only for entries whose summary is `sum`.
    /// - Returns: the position.
    func partition(_ sum: UInt64, from: Position = .start, _ below: (UInt32) -> Bool) -> Position {
        let n = lastSums.count
        var lo = from.chunk
        var hi = n
        guard lo < n else { return end }
        lastSums.withUnsafeBufferPointer { last in
            @inline(__always) func chunkIsBelow(_ c: Int) -> Bool {
                let s = last[c]
                return s < sum || (s == sum && below(lastSlots[c]))
            }
            if lo > 0 || from.index > 0 {
                // Probes at from, from + 1, from + 3, from + 7, …: the first chunk that is not
                // all below lies before the first probe that says so.
                let first = lo
                var reach = 1
                var probe = first
                while probe < n {
                    if !chunkIsBelow(probe) {
                        hi = probe
                        break
                    }
                    lo = probe + 1
                    reach &*= 2
                    probe = first + reach - 1
                }
            }
            while lo < hi {
                let mid = (lo + hi) / 2
                if chunkIsBelow(mid) { lo = mid + 1 } else { hi = mid }
            }
        }
        guard lo < n else { return end }
        let c = lo
        let index = sums[c].withUnsafeBufferPointer { chunk in
            var a = c == from.chunk ? from.index : 0
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

    /// Inserts a batch of entries, each at the position ``partition(_:from:_:)`` gave for it in
    /// the order as it was before the batch (positions ascending; entries sharing a position
    /// go in the batch's order). One pass over the chunks the batch touches, from the last: a
    /// chunk is rebuilt once with all its new entries and cut into pieces of ``chunkSize`` when
    /// it grew past twice that.
    mutating func insert(_ batch: [(sum: UInt64, slot: UInt32, at: Position)]) {
        guard !batch.isEmpty else { return }
        if sums.isEmpty {
            // The batch's positions are all the end, which is the start: (0, 0).
            sums = [[]]
            slots = [[]]
            lastSums = [0]
            lastSlots = [0]
            counts = [0]
        }
        let lastChunk = sums.count - 1
        let lastCount = counts[lastChunk]
        // Past every entry: the end of the last chunk.
        @inline(__always) func place(_ p: Position) -> Position {
            p.chunk > lastChunk ? Position(chunk: lastChunk, index: lastCount) : p
        }
        var k = batch.count - 1
        while k >= 0 {
            let c = place(batch[k].at).chunk
            var j = k
            while j >= 0 && place(batch[j].at).chunk == c { j -= 1 }
            count += k - j
            let total = counts[c] + k - j
            if total <= 2 * Self.chunkSize {
                // In place: grow the chunk, then merge from the back.
                let had = counts[c]
                sums[c].append(contentsOf: repeatElement(0, count: k - j))
                slots[c].append(contentsOf: repeatElement(0, count: k - j))
                sums[c].withUnsafeMutableBufferPointer { sum in
                    slots[c].withUnsafeMutableBufferPointer { slot in
                        var w = total - 1
                        var i = had - 1
                        var t = k
                        while t > j {
                            let at = place(batch[t].at).index
                            while i >= at {
                                sum[w] = sum[i]
                                slot[w] = slot[i]
                                w -= 1
                                i -= 1
                            }
                            sum[w] = batch[t].sum
                            slot[w] = batch[t].slot
                            w -= 1
                            t -= 1
                        }
                    }
                }
                counts[c] = total
                lastSums[c] = sums[c][total - 1]
                lastSlots[c] = slots[c][total - 1]
            } else {
                let oldSums = sums[c]
                let oldSlots = slots[c]
                var newSums: [UInt64] = []
                var newSlots: [UInt32] = []
                newSums.reserveCapacity(total)
                newSlots.reserveCapacity(total)
                var i = 0
                for t in (j + 1)...k {
                    let at = place(batch[t].at).index
                    while i < at {
                        newSums.append(oldSums[i])
                        newSlots.append(oldSlots[i])
                        i += 1
                    }
                    newSums.append(batch[t].sum)
                    newSlots.append(batch[t].slot)
                }
                newSums.append(contentsOf: oldSums[i...])
                newSlots.append(contentsOf: oldSlots[i...])
                var pieceSums: [[UInt64]] = []
                var pieceSlots: [[UInt32]] = []
                var start = 0
                while start < total {
                    let end = total - start < 2 * Self.chunkSize ? total : start + Self.chunkSize
                    pieceSums.append(Array(newSums[start..<end]))
                    pieceSlots.append(Array(newSlots[start..<end]))
                    start = end
                }
                sums.replaceSubrange(c...c, with: pieceSums)
                slots.replaceSubrange(c...c, with: pieceSlots)
                lastSums.replaceSubrange(c...c, with: pieceSums.map { $0[$0.count - 1] })
                lastSlots.replaceSubrange(c...c, with: pieceSlots.map { $0[$0.count - 1] })
                counts.replaceSubrange(c...c, with: pieceSums.map(\.count))
            }
            k = j
        }
    }

    /// Removes the entries at `positions` (ascending, distinct, each before the end), from the
    /// last, so that the earlier positions stay valid; a chunk left empty is dropped.
    mutating func remove(_ positions: [Position]) {
        var k = positions.count - 1
        while k >= 0 {
            let c = positions[k].chunk
            var j = k
            while j >= 0 && positions[j].chunk == c {
                sums[c].remove(at: positions[j].index)
                slots[c].remove(at: positions[j].index)
                j -= 1
            }
            counts[c] -= k - j
            count -= k - j
            if counts[c] == 0 {
                sums.remove(at: c)
                slots.remove(at: c)
                lastSums.remove(at: c)
                lastSlots.remove(at: c)
                counts.remove(at: c)
            } else {
                lastSums[c] = sums[c][counts[c] - 1]
                lastSlots[c] = slots[c][counts[c] - 1]
            }
            k = j
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
    /// value's order-preserving bits — a number's IEEE 754 total-order bits (all but the last
    /// 4), the first 7 bytes of a string or bytes (zero-padded) — and in the lowest bit whether
    /// the summary leaves anything out (``summaryIsExact(_:)``). Different summaries order as
    /// their keys; equal exact summaries are equal keys; equal inexact ones need the full
    /// comparison.
    ///
    /// Monotone with the flag too: an exact key is the smallest of the keys sharing its value
    /// bits (a number whose dropped bits are zero; a string of at most 7 bytes without a zero
    /// byte, which every other string with the same first 7 bytes, zero-padded, extends).
    var summary: UInt64 {
        switch self {
        case .null: return 0
        case .bool(let b): return 1 << 61 | (b ? 2 : 0)
        case .number(let d):
            let bits = Self.orderedBits(d)
            return 2 << 61 | (bits >> 4) << 1 | (bits & 0xF == 0 ? 0 : 1)
        case .string(let k):
            var s = k.string
            return 3 << 61 | s.withUTF8 { Self.prefixBits(UnsafeRawBufferPointer($0)) }
        case .bytes(let b): return 4 << 61 | b.withUnsafeBytes { Self.prefixBits($0) }
        }
    }

    /// Whether a summary determines its key (see ``summary``).
    @inline(__always)
    static func summaryIsExact(_ summary: UInt64) -> Bool { summary & 1 == 0 }

    /// The first 7 bytes, big-endian, zero-padded, shifted left by one, with the inexact flag:
    /// set when there are more than 7 bytes or a zero byte among them.
    @inline(__always)
    static func prefixBits(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var v: UInt64 = 0
        var inexact = bytes.count > 7
        for i in 0..<7 {
            let b = i < bytes.count ? bytes[i] : 0
            if b == 0 && i < bytes.count { inexact = true }
            v = v << 8 | UInt64(b)
        }
        return v << 1 | (inexact ? 1 : 0)
    }
}
