/// A sorted collection of distinct elements in chunks of a few hundred: O(log n) search and
/// O(chunk) insertion and removal (a short `memmove`), ordered iteration without copying.
/// The query indexes keep their sorted values and document IDs in it.
struct SortedChunks<Element: Comparable> {
    /// Non-empty sorted chunks; every element of a chunk sorts before every element of the next.
    private(set) var chunks: [[Element]] = []
    /// Each chunk's last element, contiguous: a search walks this array, not the chunks' heap
    /// blocks (a cache miss per step at a million elements), then opens one chunk.
    private var lasts: [Element] = []
    /// Each chunk's element count, contiguous (``distance(from:to:)`` sums these).
    private var counts: [Int] = []
    /// The number of elements.
    private(set) var count = 0

    /// A chunk is split when it grows past twice this.
    static var chunkSize: Int { 32 }

    /// A place in the collection: chunk and index (`chunk == chunks.count` is the end).
    typealias Position = ChunkPosition

    /// An empty collection.
    init() {}

    /// A collection of `sorted` (ascending, distinct).
    init(sorted: [Element]) {
        var i = 0
        while i < sorted.count {
            let end = min(i + Self.chunkSize, sorted.count)
            chunks.append(Array(sorted[i..<end]))
            lasts.append(sorted[end - 1])
            counts.append(end - i)
            i = end
        }
        count = sorted.count
    }

    /// The end position.
    var end: Position { Position(chunk: chunks.count, index: 0) }

    /// The first position whose element is not `below` (`below` is true for a prefix of the
    /// order, false after it).
    func partition(_ below: (Element) -> Bool) -> Position {
        var lo = 0
        var hi = lasts.count
        lasts.withUnsafeBufferPointer { last in
            while lo < hi {
                let mid = (lo + hi) / 2
                if below(last[mid]) { lo = mid + 1 } else { hi = mid }
            }
        }
        guard lo < chunks.count else { return end }
        let index = chunks[lo].withUnsafeBufferPointer { chunk in
            var a = 0
            var b = chunk.count
            while a < b {
                let mid = (a + b) / 2
                if below(chunk[mid]) { a = mid + 1 } else { b = mid }
            }
            return a
        }
        return Position(chunk: lo, index: index)
    }

    /// Whether `element` is held.
    func contains(_ element: Element) -> Bool {
        let p = partition { $0 < element }
        return p.chunk < chunks.count && chunks[p.chunk][p.index] == element
    }

    /// Inserts `element`; whether it was new.
    @discardableResult
    mutating func insert(_ element: Element) -> Bool {
        if chunks.isEmpty {
            chunks = [[element]]
            lasts = [element]
            counts = [1]
            count = 1
            return true
        }
        var p = partition { $0 < element }
        if p.chunk == chunks.count {
            // Past every element: append to the last chunk.
            p = Position(chunk: chunks.count - 1, index: counts[chunks.count - 1])
        } else if chunks[p.chunk][p.index] == element {
            return false
        }
        let c = p.chunk
        chunks[c].insert(element, at: p.index)
        counts[c] += 1
        if p.index == counts[c] - 1 { lasts[c] = element }
        count += 1
        if counts[c] > 2 * Self.chunkSize {
            let tail = Array(chunks[c][Self.chunkSize...])
            chunks[c].removeSubrange(Self.chunkSize...)
            chunks.insert(tail, at: c + 1)
            lasts.insert(lasts[c], at: c + 1)
            lasts[c] = chunks[c][Self.chunkSize - 1]
            counts.insert(tail.count, at: c + 1)
            counts[c] = Self.chunkSize
        }
        return true
    }

    /// Removes `element`; whether it was held.
    @discardableResult
    mutating func remove(_ element: Element) -> Bool {
        let p = partition { $0 < element }
        let c = p.chunk
        guard c < chunks.count, chunks[c][p.index] == element else { return false }
        chunks[c].remove(at: p.index)
        counts[c] -= 1
        count -= 1
        if counts[c] == 0 {
            chunks.remove(at: c)
            lasts.remove(at: c)
            counts.remove(at: c)
        } else if p.index == counts[c] {
            lasts[c] = chunks[c][counts[c] - 1]
        }
        return true
    }

    /// The number of elements from `a` up to (not including) `b`: O(chunks between).
    func distance(from a: Position, to b: Position) -> Int { ChunkWalk.distance(counts, from: a, to: b) }

    /// Visits elements from `start` upwards until `body` returns false or the end.
    func forEach(from start: Position, _ body: (Element) -> Bool) { ChunkWalk.forEach(chunks, from: start, body) }

    /// Visits elements before `end` downwards until `body` returns false or the start.
    func forEachDescending(before end: Position, _ body: (Element) -> Bool) { ChunkWalk.forEachDescending(chunks, before: end, body) }
}
