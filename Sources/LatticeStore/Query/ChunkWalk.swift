/// A place in storage kept as ordered chunks (``SortedChunks``): chunk and
/// index in it (`chunk == chunk count` is the end).
struct ChunkPosition: Comparable {
    var chunk: Int
    var index: Int

    /// The first position.
    static var start: ChunkPosition { ChunkPosition(chunk: 0, index: 0) }

    static func < (a: ChunkPosition, b: ChunkPosition) -> Bool { a.chunk != b.chunk ? a.chunk < b.chunk : a.index < b.index }
}

/// The walks both chunked orders share.
enum ChunkWalk {
    /// The number of entries from `a` up to (not including) `b`, given each chunk's count:
    /// O(chunks between).
    static func distance(_ counts: [Int], from a: ChunkPosition, to b: ChunkPosition) -> Int {
        guard a < b else { return 0 }
        if a.chunk == b.chunk { return b.index - a.index }
        var n = counts[a.chunk] - a.index
        var c = a.chunk + 1
        while c < b.chunk {
            n += counts[c]
            c += 1
        }
        if b.chunk < counts.count { n += b.index }
        return n
    }

    /// Visits entries from `start` upwards until `body` returns false or the end.
    @inline(__always)
    static func forEach<E>(_ chunks: [[E]], from start: ChunkPosition, _ body: (E) -> Bool) {
        var c = start.chunk
        var i = start.index
        while c < chunks.count {
            let chunk = chunks[c]
            while i < chunk.count {
                if !body(chunk[i]) { return }
                i += 1
            }
            c += 1
            i = 0
        }
    }

    /// Visits entries before `end` downwards until `body` returns false or the start.
    @inline(__always)
    static func forEachDescending<E>(_ chunks: [[E]], before end: ChunkPosition, _ body: (E) -> Bool) {
        var c = min(end.chunk, chunks.count - 1)
        guard c >= 0 else { return }
        var i = end.chunk < chunks.count ? end.index - 1 : chunks[c].count - 1
        while c >= 0 {
            let chunk = chunks[c]
            while i >= 0 {
                if !body(chunk[i]) { return }
                i -= 1
            }
            c -= 1
            if c >= 0 { i = chunks[c].count - 1 }
        }
    }
}
