/// Collaborative text: a sequence CRDT whose concurrent edits merge character by character.
///
/// The algorithm is YATA as refined by Yjs: every inserted character has an ID (the dot that
/// minted it) and two *origins*, the IDs of its left and right neighbours when it was inserted.
/// A replica places a remote character between its origins, ordering concurrent insertions at the
/// same place by a deterministic scan (author IDs break ties), so every replica that holds the
/// same characters holds them in the same order, and two runs typed concurrently at one place
/// never interleave. A deleted character stays as a *tombstone* — its ID and origins, never its
/// content — so later concurrent insertions can still find their place.
///
/// Characters are Unicode scalars: positions count scalars (`String.unicodeScalars`), so an edit
/// can never split one. Consecutive typing by one author is one *run* (one record, a few bytes).
///
/// A `TextSequence` is a state-based CRDT on its own: the set of characters (with origins and
/// contents) and the set of deleted IDs, joined by union. A state holds them integrated in
/// document order; a delta holds them as a *bag* (``pending``) and never needs to be integrated.
/// Characters whose origins have not arrived yet (out-of-order delivery) wait in the bag of the
/// state until they do; deletions of characters not seen yet wait likewise.
///
/// Equality, hashing and encoding are over the canonical form (maximal runs), so two replicas
/// that hold the same characters are equal whatever their run boundaries.
public struct TextSequence: Hashable, Sendable, CustomStringConvertible {
    var storage: TextStorage

    /// The empty text.
    public init() { storage = TextStorage() }

    /// A text holding `string`, inserted by `author` with counters `first...` (tests, imports).
    init(storage: TextStorage) { self.storage = storage }

    /// The number of visible characters (Unicode scalars).
    public var count: Int { storage.visible }

    /// Whether the text holds nothing at all: no character, tombstone or waiting change.
    public var isEmpty: Bool { storage.runCount == 0 && storage.pending.isEmpty && storage.pendingDeletes.isEmpty && storage.deleteEvents.isEmpty }

    /// Whether no character is visible.
    public var isBlank: Bool { storage.visible == 0 }

    /// The visible string.
    public var string: String { storage.string() }

    public var description: String { string }

    /// Makes the storage this value's own, with its runs built (every mutation starts here).
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        if storage.encodedRuns != nil { storage.materialize() }
    }

    public static func == (lhs: TextSequence, rhs: TextSequence) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.storage.canonicalBytes() == rhs.storage.canonicalBytes()
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.canonicalBytes())
    }
}

/// A character ID in a text's author table: author index and counter.
struct CharRef: Hashable {
    var author: UInt32
    var counter: UInt64

    static let noAuthor = UInt32.max
}

/// One run: consecutive characters by one author, with consecutive counters, each the left origin
/// of the next, sharing one right origin, all visible or all deleted.
struct TextRun {
    /// The first character's counter.
    var counter: UInt64
    /// The left origin's counter (when `leftAuthor` is not `CharRef.noAuthor`).
    var leftCounter: UInt64
    /// The right origin's counter (when `rightAuthor` is not `CharRef.noAuthor`).
    var rightCounter: UInt64
    /// Offset of the first scalar in the storage's content buffer (meaningless when deleted).
    var content: UInt32
    /// The number of characters.
    var length: UInt32
    var author: UInt32
    var leftAuthor: UInt32
    var rightAuthor: UInt32
    var deleted: Bool

    var left: CharRef? {
        get { leftAuthor == CharRef.noAuthor ? nil : CharRef(author: leftAuthor, counter: leftCounter) }
        set {
            leftAuthor = newValue?.author ?? CharRef.noAuthor
            leftCounter = newValue?.counter ?? 0
        }
    }

    var right: CharRef? {
        get { rightAuthor == CharRef.noAuthor ? nil : CharRef(author: rightAuthor, counter: rightCounter) }
        set {
            rightAuthor = newValue?.author ?? CharRef.noAuthor
            rightCounter = newValue?.counter ?? 0
        }
    }

    var last: CharRef { CharRef(author: author, counter: counter + UInt64(length) - 1) }
    var first: CharRef { CharRef(author: author, counter: counter) }
    var end: UInt64 { counter + UInt64(length) }

    @inline(__always)
    func holds(_ c: CharRef) -> Bool { c.author == author && c.counter >= counter && c.counter < end }

    var visibleLength: Int { deleted ? 0 : Int(length) }
}

/// Up to ``TextStorage/maxRuns`` runs in document order, with their visible length.
struct TextChunk {
    var runs: [TextRun]
    var visible: Int
    /// A stable identity (the ID index names chunks by it).
    var id: Int32
}

/// Characters not integrated (a delta's content, or a state's characters waiting for an origin),
/// named by replica ID so that bags of different texts join without translating tables.
public struct TextItem: Hashable, Sendable {
    /// The first character's ID.
    public var id: Dot
    /// The number of characters.
    public var length: Int
    /// The left origin (`nil`: the start of the text).
    public var left: Dot?
    /// The right origin (`nil`: the end of the text).
    public var right: Dot?
    /// The scalars, or `nil` for a tombstone (deleted characters, content gone).
    public var content: [Unicode.Scalar]?

    var end: UInt64 { id.counter + UInt64(length) }
}

/// A range of character IDs by one author.
public struct TextRange: Hashable, Sendable, Comparable {
    /// The author.
    public var author: ReplicaID
    /// The first counter.
    public var start: UInt64
    /// The number of characters.
    public var length: UInt64

    var end: UInt64 { start + length }

    public static func < (a: TextRange, b: TextRange) -> Bool {
        a.author != b.author ? a.author < b.author : a.start < b.start
    }
}

/// One edit as an editor applies it: at `position`, delete `deleted` scalars, then insert `inserted`.
public struct TextSplice: Hashable, Sendable {
    /// Position in Unicode scalars, in the text as it is before this splice.
    public var position: Int
    /// The number of scalars removed at `position`.
    public var deleted: Int
    /// The text inserted at `position` (after the removal).
    public var inserted: String

    /// Creates a splice.
    public init(position: Int, deleted: Int, inserted: String) {
        self.position = position
        self.deleted = deleted
        self.inserted = inserted
    }
}

/// The mutable representation behind a `TextSequence` (copy-on-write: never mutated while shared).
// @unchecked Sendable: a TextSequence checks isKnownUniquelyReferenced before every mutation and
// copies a shared storage, so a storage reachable from two threads is never written.
final class TextStorage: @unchecked Sendable {
    static let maxRuns = 128

    /// Authors by index (in order of first appearance).
    var authors: [ReplicaID] = []
    var authorIndex: [ReplicaID: UInt32] = [:]
    /// Per author index, one past the highest counter of an integrated run (0: none), so that
    /// the version costs O(authors), not O(runs).
    var highest: [UInt64] = []
    /// The author looked up last (a run of edits by one author hashes its ID once).
    var lastAuthor: UInt32?
    /// Integrated runs in document order.
    var chunks: [TextChunk] = []
    /// Chunk ID → position in `chunks`.
    var chunkSlot: [Int] = []
    var visible = 0
    var runCount = 0
    /// Scalars of visible (and some deleted) runs; runs point into it.
    var scalars: [Unicode.Scalar] = []
    /// Scalars in `scalars` no visible run uses.
    var deadScalars = 0
    /// The runs of a decoded text not built yet: their validated encoding and the visible text
    /// (`TextSequence+Load.swift`). While set, `chunks`, `chunkSlot` and `scalars` are empty and
    /// `runCount`, `visible` and `highest` are already right.
    var encodedRuns: EncodedRuns?
    /// Characters not integrated (by author, counter; normalised on read).
    var pending: [TextItem] = []
    /// Deletions of characters not held yet.
    var pendingDeletes: [TextRange] = []
    /// Whether `pending` and `pendingDeletes` are in canonical form (a delta's bag may grow by
    /// appends and be normalised only when encoded or compared).
    var bagNormalized = true
    /// The highest counter of a deletion event per author (a deletion mints a dot of its own).
    var deleteEvents: [ReplicaID: UInt64] = [:]
    /// Per author, run starts sorted by counter, with the chunk holding each: built on demand by
    /// remote integration, dropped by local edits (which find places by position, not by ID).
    var index: [[IndexEntry]]?
    /// The last chunk a position lookup visited and the visible offset of its start.
    var cursorChunk = 0
    var cursorStart = 0

    struct IndexEntry {
        var start: UInt64
        var chunk: Int32
    }

    init() {}

    func copy() -> TextStorage {
        let c = TextStorage()
        c.authors = authors
        c.authorIndex = authorIndex
        c.highest = highest
        c.chunks = chunks
        c.chunkSlot = chunkSlot
        c.visible = visible
        c.runCount = runCount
        c.scalars = scalars
        c.deadScalars = deadScalars
        c.pending = pending
        c.pendingDeletes = pendingDeletes
        c.bagNormalized = bagNormalized
        c.deleteEvents = deleteEvents
        c.index = index
        c.encodedRuns = encodedRuns
        return c
    }

    // MARK: Authors

    @inline(__always)
    func author(_ id: ReplicaID) -> UInt32 {
        if let last = lastAuthor, authors[Int(last)] == id { return last }
        if let i = authorIndex[id] {
            lastAuthor = i
            return i
        }
        let i = UInt32(authors.count)
        authors.append(id)
        authorIndex[id] = i
        highest.append(0)
        if index != nil { index?.append([]) }
        return i
    }

    func ref(_ dot: Dot?) -> CharRef? {
        guard let dot else { return nil }
        return CharRef(author: author(dot.replica), counter: dot.counter)
    }

    func existingRef(_ dot: Dot?) -> CharRef? {
        guard let dot, let a = authorIndex[dot.replica] else { return nil }
        return CharRef(author: a, counter: dot.counter)
    }

    func dot(_ ref: CharRef?) -> Dot? {
        guard let ref else { return nil }
        return Dot(authors[Int(ref.author)], ref.counter)
    }

    // MARK: Reading

    func string() -> String {
        if let encodedRuns { return encodedRuns.text }
        var utf8: [UInt8] = []
        utf8.reserveCapacity(visible + visible / 8)
        scalars.withUnsafeBufferPointer { buf in
            for chunk in chunks {
                for run in chunk.runs where !run.deleted {
                    let start = Int(run.content)
                    for k in start..<start + Int(run.length) { TextCodec.appendUTF8(buf[k], &utf8) }
                }
            }
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Calls `body` with every run in document order (`content` points into ``contentScalars()``).
    func forEachRun(_ body: (TextRun) -> Void) {
        if let encodedRuns {
            encodedRuns.forEach(body)
            return
        }
        for chunk in chunks { for run in chunk.runs { body(run) } }
    }

    // MARK: Positions

    /// The chunk holding visible character `p` (0 ≤ p < visible) and the visible offset of its start.
    func chunk(holding p: Int) -> (index: Int, start: Int) {
        var ci = cursorChunk
        var start = cursorStart
        if ci >= chunks.count || start > visible {
            ci = 0
            start = 0
        }
        while start > p && ci > 0 {
            ci -= 1
            start -= chunks[ci].visible
        }
        while ci < chunks.count - 1 && p >= start + chunks[ci].visible {
            start += chunks[ci].visible
            ci += 1
        }
        cursorChunk = ci
        cursorStart = start
        return (ci, start)
    }

    /// Where visible character `p` is: chunk, run and offset in the run.
    func locate(visible p: Int) -> (chunk: Int, run: Int, offset: Int) {
        let (ci, start) = chunk(holding: p)
        var rest = p - start
        let runs = chunks[ci].runs
        for ri in 0..<runs.count where !runs[ri].deleted {
            let n = Int(runs[ri].length)
            if rest < n { return (ci, ri, rest) }
            rest -= n
        }
        return (ci, runs.count - 1, 0)  // unreachable with consistent counts
    }

    /// The visible offset of the start of run `ri` of chunk `ci`.
    func visibleOffset(chunk ci: Int, run ri: Int) -> Int {
        var p = 0
        if ci == cursorChunk && ci < chunks.count {
            p = cursorStart
        } else {
            for k in 0..<min(ci, chunks.count) { p += chunks[k].visible }
        }
        guard ci < chunks.count else { return visible }
        for k in 0..<ri { p += chunks[ci].runs[k].visibleLength }
        return p
    }

    /// The position after `(ci, ri)`.
    @inline(__always)
    func next(_ ci: Int, _ ri: Int) -> (Int, Int) {
        ri + 1 < chunks[ci].runs.count ? (ci, ri + 1) : (ci + 1, 0)
    }

    /// The run at a position, or nil at the end.
    @inline(__always)
    func run(at ci: Int, _ ri: Int) -> TextRun? {
        ci < chunks.count && ri < chunks[ci].runs.count ? chunks[ci].runs[ri] : nil
    }

    // MARK: Structural edits

    /// Splits run `ri` of chunk `ci` so that its first `k` characters stay (0 < k < length).
    func split(_ ci: Int, _ ri: Int, at k: Int) {
        var left = chunks[ci].runs[ri]
        var right = left
        right.counter += UInt64(k)
        right.content += UInt32(k)
        right.length -= UInt32(k)
        right.leftAuthor = left.author
        right.leftCounter = left.counter + UInt64(k) - 1
        left.length = UInt32(k)
        chunks[ci].runs[ri] = left
        chunks[ci].runs.insert(right, at: ri + 1)
        runCount += 1
        if index != nil { indexInsert(right.author, right.counter, chunk: chunks[ci].id) }
    }

    /// Inserts `run` at position `(ci, ri)` (`ci == chunks.count` appends).
    /// - Returns: where it went.
    @discardableResult
    func insert(_ run: TextRun, at ci: Int, _ ri: Int) -> (Int, Int) {
        var (ci, ri) = (ci, ri)
        if run.end > highest[Int(run.author)] { highest[Int(run.author)] = run.end }
        if chunks.isEmpty {
            let id = Int32(chunkSlot.count)
            chunkSlot.append(0)
            chunks.append(TextChunk(runs: [run], visible: run.visibleLength, id: id))
            visible += run.visibleLength
            runCount += 1
            if index != nil { indexInsert(run.author, run.counter, chunk: id) }
            return (0, 0)
        }
        if ri == 0 && ci > 0 {
            ci -= 1
            ri = chunks[ci].runs.count
        } else if ci == chunks.count {
            ci -= 1
            ri = chunks[ci].runs.count
        }
        chunks[ci].runs.insert(run, at: ri)
        chunks[ci].visible += run.visibleLength
        visible += run.visibleLength
        runCount += 1
        if ci < cursorChunk { cursorStart += run.visibleLength }
        if index != nil { indexInsert(run.author, run.counter, chunk: chunks[ci].id) }
        return (ci, ri)
    }

    /// Splits chunk `ci` while it holds more than `maxRuns` runs.
    func rebalance(_ ci: Int) {
        guard ci < chunks.count, chunks[ci].runs.count > Self.maxRuns else { return }
        let runs = chunks[ci].runs
        let half = runs.count / 2
        let moved = Array(runs[half...])
        let kept = Array(runs[..<half])
        let movedVisible = moved.reduce(0) { $0 + $1.visibleLength }
        let id = Int32(chunkSlot.count)
        chunkSlot.append(0)
        chunks[ci].runs = kept
        chunks[ci].visible -= movedVisible
        chunks.insert(TextChunk(runs: moved, visible: movedVisible, id: id), at: ci + 1)
        for k in (ci + 1)..<chunks.count { chunkSlot[Int(chunks[k].id)] = k }
        if cursorChunk > ci { cursorChunk += 1 }
        if index != nil {
            for run in moved { indexMove(run.author, run.counter, to: id) }
        }
        rebalance(ci)
        rebalance(ci + 1)
    }

    /// Marks characters `[offset, offset+n)` of run `ri` in chunk `ci` deleted (splitting as
    /// needed). - Returns: the position of the deleted run.
    @discardableResult
    func delete(_ ci: Int, _ ri: Int, offset: Int, count n: Int) -> (Int, Int) {
        var ri = ri
        let len = Int(chunks[ci].runs[ri].length)
        if offset > 0 {
            split(ci, ri, at: offset)
            ri += 1
        }
        if n < len - offset { split(ci, ri, at: n) }
        let was = chunks[ci].runs[ri].deleted
        if !was {
            chunks[ci].runs[ri].deleted = true
            chunks[ci].visible -= n
            visible -= n
            deadScalars += n
            if ci < cursorChunk { cursorStart -= n }
        }
        return (ci, ri)
    }

    // MARK: Content buffer

    /// Drops the scalars of deleted runs from the buffer once they are most of it.
    func compactContentIfNeeded() {
        guard deadScalars > 4096 && deadScalars > visible else { return }
        compactContent()
    }

    /// Drops the scalars of deleted runs from the buffer now (after an erase).
    func compactContent() {
        var fresh: [Unicode.Scalar] = []
        fresh.reserveCapacity(visible)
        for ci in chunks.indices {
            for ri in chunks[ci].runs.indices where !chunks[ci].runs[ri].deleted {
                let r = chunks[ci].runs[ri]
                let start = Int(r.content)
                chunks[ci].runs[ri].content = UInt32(fresh.count)
                fresh.append(contentsOf: scalars[start..<start + Int(r.length)])
            }
        }
        scalars = fresh
        deadScalars = 0
    }

    // MARK: ID index

    func buildIndex() {
        var idx = Array(repeating: [IndexEntry](), count: authors.count)
        for chunk in chunks {
            for run in chunk.runs { idx[Int(run.author)].append(IndexEntry(start: run.counter, chunk: chunk.id)) }
        }
        for a in idx.indices where idx[a].count > 1 {
            // Runs by one author mostly appear in counter order: check before sorting.
            var sorted = true
            for k in 1..<idx[a].count where idx[a][k - 1].start > idx[a][k].start {
                sorted = false
                break
            }
            if !sorted { idx[a].sort { $0.start < $1.start } }
        }
        index = idx
    }

    /// The index of the last entry of `list` starting at or before `counter`, or -1.
    @inline(__always)
    static func floor(_ list: [IndexEntry], _ counter: UInt64) -> Int {
        lowerBound(list.count) { list[$0].start <= counter } - 1
    }

    func indexInsert(_ author: UInt32, _ start: UInt64, chunk: Int32) {
        let a = Int(author)
        guard index != nil else { return }
        let list = index![a]
        if list.isEmpty || list[list.count - 1].start < start {
            index![a].append(IndexEntry(start: start, chunk: chunk))
            return
        }
        let at = Self.floor(list, start) + 1
        index![a].insert(IndexEntry(start: start, chunk: chunk), at: at)
    }

    func indexMove(_ author: UInt32, _ start: UInt64, to chunk: Int32) {
        let a = Int(author)
        guard let list = index?[a] else { return }
        let at = Self.floor(list, start)
        if at >= 0 && list[at].start == start { index![a][at].chunk = chunk }
    }

    /// Where character `c` is: chunk, run and offset, or nil when this text does not hold it.
    func find(_ c: CharRef) -> (chunk: Int, run: Int, offset: Int)? {
        if index == nil { buildIndex() }
        guard let idx = index, Int(c.author) < idx.count else { return nil }
        let list = idx[Int(c.author)]
        let at = Self.floor(list, c.counter)
        guard at >= 0 else { return nil }
        let ci = chunkSlot[Int(list[at].chunk)]
        let start = list[at].start
        let runs = chunks[ci].runs
        for ri in runs.indices where runs[ri].author == c.author && runs[ri].counter == start {
            return runs[ri].holds(c) ? (ci, ri, Int(c.counter - start)) : nil
        }
        return nil
    }

    /// The first counter ≥ `counter` at which author `a` has a run here (for absent stretches).
    func nextStart(_ a: UInt32, after counter: UInt64) -> UInt64? {
        if index == nil { buildIndex() }
        guard let list = index?[Int(a)] else { return nil }
        let at = Self.floor(list, counter) + 1
        return at < list.count ? list[at].start : nil
    }
}
