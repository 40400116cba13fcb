// Local edits (by position) and remote integration (by ID) of a text's storage.

extension TextStorage {
    // MARK: Local edits

    /// Inserts `s` at visible position `pos` (0 ≤ pos ≤ visible) as characters `first…` of
    /// `author`, and returns the item a delta carries for it.
    func localInsert(_ s: [Unicode.Scalar], at pos: Int, author: ReplicaID, first: UInt64) -> TextItem {
        let ai = self.author(author)
        index = nil  // local edits find places by position; remote ones rebuild the index
        var left: CharRef?
        var right: CharRef?
        var at = (0, 0)
        if pos > 0 {
            let (ci, ri, off) = locate(visible: pos - 1)
            let r = chunks[ci].runs[ri]
            left = CharRef(author: r.author, counter: r.counter + UInt64(off))
            if off < Int(r.length) - 1 {
                right = CharRef(author: r.author, counter: r.counter + UInt64(off) + 1)
                split(ci, ri, at: off + 1)
                at = (ci, ri + 1)
            } else {
                let (nc, nr) = next(ci, ri)
                right = run(at: nc, nr)?.first
                // Typing: extend the run the cursor is at the end of.
                if r.author == ai && r.end == first && !r.deleted && r.right == right
                    && Int(r.content) + Int(r.length) == scalars.count && Int(r.length) + s.count < Int(UInt32.max)
                {
                    chunks[ci].runs[ri].length += UInt32(s.count)
                    highest[Int(ai)] = first + UInt64(s.count)
                    chunks[ci].visible += s.count
                    visible += s.count
                    if ci < cursorChunk { cursorStart += s.count }
                    scalars.append(contentsOf: s)
                    return TextItem(id: Dot(author, first), length: s.count, left: dot(left), right: dot(right), content: s)
                }
                at = (ci, ri + 1)
            }
        } else {
            right = run(at: 0, 0)?.first
        }
        var run = TextRun(
            counter: first, leftCounter: 0, rightCounter: 0, content: UInt32(scalars.count), length: UInt32(s.count),
            author: ai, leftAuthor: CharRef.noAuthor, rightAuthor: CharRef.noAuthor, deleted: false)
        run.left = left
        run.right = right
        scalars.append(contentsOf: s)
        let (ci, _) = insert(run, at: at.0, at.1)
        rebalance(ci)
        return TextItem(id: Dot(author, first), length: s.count, left: dot(left), right: dot(right), content: s)
    }

    /// Deletes `n` visible characters from `pos` (pos + n ≤ visible).
    /// - Returns: the IDs deleted, ascending by author and counter, merged.
    func localDelete(at pos: Int, count n: Int) -> [TextRange] {
        guard n > 0 else { return [] }
        index = nil
        var ranges: [TextRange] = []
        var remaining = n
        var (ci, ri, off) = locate(visible: pos)
        let firstChunk = ci
        var lastChunk = ci
        while remaining > 0 && ci < chunks.count {
            let r = chunks[ci].runs[ri]
            if r.deleted {
                (ci, ri) = next(ci, ri)
                off = 0
                continue
            }
            let take = min(Int(r.length) - off, remaining)
            let (c2, r2) = delete(ci, ri, offset: off, count: take)
            ranges.append(TextRange(author: authors[Int(r.author)], start: r.counter + UInt64(off), length: UInt64(take)))
            remaining -= take
            lastChunk = c2
            (ci, ri) = next(c2, r2)
            off = 0
        }
        for c in stride(from: lastChunk, through: firstChunk, by: -1) { rebalance(c) }
        compactContentIfNeeded()
        return TextStorage.normalized(ranges)
    }

    // MARK: Remote integration

    /// Whether character `c` is held (integrated).
    func holds(_ c: CharRef?) -> Bool {
        guard let c else { return true }
        return find(c) != nil
    }

    /// Integrates `item` (any part already held is skipped; a part whose origins are missing
    /// waits in `pending`).
    /// - Returns: whether any character was integrated.
    @discardableResult
    func integrate(_ item: TextItem, splices: inout [TextSplice]?) -> Bool {
        let ai = author(item.id.replica)
        let end = item.end
        var c = item.id.counter
        var integrated = false
        let right = ref(item.right)
        while c < end {
            if let (ci, ri, off) = find(CharRef(author: ai, counter: c)) {
                let run = chunks[ci].runs[ri]
                let upto = min(run.end, end)
                if item.content == nil && !run.deleted {
                    deleteHeld(ci, ri, offset: off, count: Int(upto - c), splices: &splices)
                }
                c = upto
                continue
            }
            let stop = min(end, nextStart(ai, after: c) ?? end)
            let left = c == item.id.counter ? ref(item.left) : CharRef(author: ai, counter: c - 1)
            let from = Int(c - item.id.counter)
            let to = Int(stop - item.id.counter)
            if holds(left) && holds(right) {
                place(
                    author: ai, counter: c, length: to - from, left: left, right: right,
                    content: item.content.map { $0[from..<to] }, splices: &splices)
                integrated = true
                if !pendingDeletes.isEmpty { applyPendingDeletes(item.id.replica, c, stop, splices: &splices) }
            } else {
                pending.append(
                    TextItem(
                        id: Dot(item.id.replica, c), length: to - from, left: dot(left), right: item.right,
                        content: item.content.map { Array($0[from..<to]) }))
            }
            c = stop
        }
        return integrated
    }

    /// Retries waiting items until no more can be placed.
    func retryPending(splices: inout [TextSplice]?) {
        var progress = true
        while progress && !pending.isEmpty {
            progress = false
            let waiting = pending
            pending = []
            for item in waiting where integrate(item, splices: &splices) { progress = true }
        }
    }

    /// Places absent characters `counter..<counter+length` of author `ai` between their origins
    /// (both held), ordering them among concurrent insertions by the YATA scan.
    func place(
        author ai: UInt32, counter c: UInt64, length n: Int, left: CharRef?, right: CharRef?,
        content: ArraySlice<Unicode.Scalar>?, splices: inout [TextSplice]?
    ) {
        // The first candidate: just after the left origin (split so that it ends a run).
        var start = (0, 0)
        if let left, let (ci, ri, off) = find(left) {
            if off < Int(chunks[ci].runs[ri].length) - 1 { split(ci, ri, at: off + 1) }
            start = next(ci, ri)
        }
        // The right origin starts a run.
        if let right, let (ci, ri, off) = find(right), off > 0 {
            split(ci, ri, at: off)
            if start == (ci, ri + 1) { start = (ci, ri + 1) }
        }
        // Scan the runs between the origins (YATA, as in Yjs's Item.integrate).
        var o = start
        var at = start
        var scanned: [(author: UInt32, start: UInt64, end: UInt64)] = []
        var conflictStart = 0
        let me = authors[Int(ai)]
        func within(_ ref: CharRef, _ from: Int) -> Bool {
            for k in from..<scanned.count where scanned[k].author == ref.author {
                if ref.counter >= scanned[k].start && ref.counter < scanned[k].end { return true }
            }
            return false
        }
        while let r = run(at: o.0, o.1) {
            if let right, r.first == right { break }
            scanned.append((r.author, r.counter, r.end))
            if r.left == left {
                if authors[Int(r.author)] < me {
                    at = next(o.0, o.1)
                    conflictStart = scanned.count
                } else if r.right == right {
                    break
                }
            } else if let ol = r.left, within(ol, 0) {
                if !within(ol, conflictStart) {
                    at = next(o.0, o.1)
                    conflictStart = scanned.count
                }
            } else {
                break
            }
            o = next(o.0, o.1)
        }
        // Insert at `at`, extending the previous run when this continues it.
        let deleted = content == nil
        var prev: (Int, Int)?
        if at.1 > 0 {
            prev = (at.0, at.1 - 1)
        } else if at.0 > 0 {
            prev = (at.0 - 1, chunks[at.0 - 1].runs.count - 1)
        }
        if let (pc, pr) = prev {
            let p = chunks[pc].runs[pr]
            if p.author == ai && p.end == c && p.right == right && p.deleted == deleted && left == p.last
                && (deleted || Int(p.content) + Int(p.length) == scalars.count) && Int(p.length) + n < Int(UInt32.max)
            {
                if let splicesIn = splices, !deleted {
                    var s = splicesIn
                    s.append(TextSplice(position: visibleOffset(chunk: pc, run: pr) + Int(p.length), deleted: 0, inserted: Self.string(content)))
                    splices = s
                }
                chunks[pc].runs[pr].length += UInt32(n)
                if !deleted {
                    chunks[pc].visible += n
                    visible += n
                    if pc < cursorChunk { cursorStart += n }
                    scalars.append(contentsOf: content ?? [])
                }
                return
            }
        }
        var run = TextRun(
            counter: c, leftCounter: 0, rightCounter: 0, content: UInt32(scalars.count), length: UInt32(n),
            author: ai, leftAuthor: CharRef.noAuthor, rightAuthor: CharRef.noAuthor, deleted: deleted)
        run.left = left
        run.right = right
        if let content { scalars.append(contentsOf: content) }
        if splices != nil && !deleted {
            let position = at.0 < chunks.count ? visibleOffset(chunk: at.0, run: at.1) : visible
            splices?.append(TextSplice(position: position, deleted: 0, inserted: Self.string(content)))
        }
        let (ci, _) = insert(run, at: at.0, at.1)
        rebalance(ci)
    }

    static func string(_ s: ArraySlice<Unicode.Scalar>?) -> String {
        var v = String.UnicodeScalarView()
        if let s { v.append(contentsOf: s) }
        return String(v)
    }

    /// Deletes held characters `[offset, offset+n)` of a run, reporting the splice.
    func deleteHeld(_ ci: Int, _ ri: Int, offset: Int, count n: Int, splices: inout [TextSplice]?) {
        if splices != nil {
            splices?.append(TextSplice(position: visibleOffset(chunk: ci, run: ri) + offset, deleted: n, inserted: ""))
        }
        let (c2, _) = delete(ci, ri, offset: offset, count: n)
        rebalance(c2)
    }

    /// Deletes the characters of a range (the held ones now, the others when they arrive).
    func deleteRange(_ range: TextRange, splices: inout [TextSplice]?) {
        guard let ai = authorIndex[range.author] else {
            pendingDeletes.append(range)
            return
        }
        var c = range.start
        let end = range.end
        while c < end {
            if let (ci, ri, off) = find(CharRef(author: ai, counter: c)) {
                let run = chunks[ci].runs[ri]
                let upto = min(run.end, end)
                if !run.deleted { deleteHeld(ci, ri, offset: off, count: Int(upto - c), splices: &splices) }
                c = upto
            } else {
                let stop = min(end, nextStart(ai, after: c) ?? end)
                pendingDeletes.append(TextRange(author: range.author, start: c, length: stop - c))
                c = stop
            }
        }
    }

    /// Applies waiting deletions that cover characters `start..<end` of `author`, just placed.
    func applyPendingDeletes(_ author: ReplicaID, _ start: UInt64, _ end: UInt64, splices: inout [TextSplice]?) {
        var hits: [TextRange] = []
        pendingDeletes.removeAll { d in
            let overlaps = d.author == author && d.start < end && d.end > start
            if overlaps { hits.append(d) }
            return overlaps
        }
        for d in hits { deleteRange(d, splices: &splices) }
    }

    // MARK: Joins

    /// The integrated runs of this storage as items (document order).
    func runItems() -> [TextItem] {
        var out: [TextItem] = []
        out.reserveCapacity(runCount)
        let scalars = contentScalars()
        forEachRun { r in
            let content: [Unicode.Scalar]? = r.deleted ? nil : Array(scalars[Int(r.content)..<Int(r.content) + Int(r.length)])
            out.append(TextItem(id: Dot(authors[Int(r.author)], r.counter), length: Int(r.length), left: dot(r.left), right: dot(r.right), content: content))
        }
        return out
    }

    func absorbEvents(_ events: [ReplicaID: UInt64]) {
        for (a, c) in events where c > deleteEvents[a] ?? 0 { deleteEvents[a] = c }
    }

    /// Appends an item to the bag: merged into the last one when it continues it, kept in
    /// canonical order when it comes after it, and otherwise left for ``normalizeBag()``.
    func appendPending(_ item: TextItem) {
        if !pendingDeletes.isEmpty { bagNormalized = false }  // a deletion may cover the item
        guard let last = pending.last else {
            pending.append(item)
            return
        }
        // Merging an item that continues the last one is only a change of representation (the
        // same characters with the same origins), normalised or not.
        if last.id.replica == item.id.replica && last.end == item.id.counter
            && item.left == Dot(last.id.replica, last.end - 1) && item.right == last.right
            && (last.content == nil) == (item.content == nil)
        {
            let k = pending.count - 1
            pending[k].length += item.length
            if let c = item.content { pending[k].content?.append(contentsOf: c) }
            return
        }
        if !(last.id < item.id && (last.id.replica != item.id.replica || last.end <= item.id.counter)) { bagNormalized = false }
        pending.append(item)
    }

    /// This storage with its bag in canonical form (itself when it already is).
    func withNormalizedBag() -> TextStorage {
        if bagNormalized { return self }
        let c = copy()
        c.normalizeBag()
        return c
    }

    // MARK: Canonical ranges

    /// Ranges sorted, overlapping and adjacent ones merged.
    static func normalized(_ ranges: [TextRange]) -> [TextRange] {
        guard ranges.count > 1 else { return ranges }
        let sorted = ranges.sorted()
        var out: [TextRange] = [sorted[0]]
        for r in sorted.dropFirst() {
            let k = out.count - 1
            if out[k].author == r.author && r.start <= out[k].end {
                out[k].length = max(out[k].end, r.end) - out[k].start
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// Puts the bag (pending items and deletions) in canonical form: items sorted by ID,
    /// overlaps resolved (a character deleted anywhere is a tombstone), maximal runs; deletions
    /// of characters in the bag applied to it; the remaining deletions sorted and merged.
    func normalizeBag() {
        var deletes = Self.normalized(pendingDeletes)
        defer { bagNormalized = true }
        guard !pending.isEmpty else {
            pendingDeletes = deletes
            return
        }
        var items = pending.sorted { $0.id < $1.id }
        // Resolve overlaps character by character (rare: the same characters from two paths).
        var overlap = false
        for k in 1..<max(items.count, 1) where items[k].id.replica == items[k - 1].id.replica && items[k].id.counter < items[k - 1].end {
            overlap = true
            break
        }
        if overlap { items = Self.resolveOverlaps(items) }
        // Apply deletions to bag items (both sorted: a binary search each, no quadratic scan).
        if !deletes.isEmpty {
            // The first entry by `author` ending after `start` (both lists sorted, disjoint per author).
            func firstDelete(_ author: ReplicaID, after start: UInt64) -> Int {
                Self.lowerBound(deletes.count) { deletes[$0].author < author || (deletes[$0].author == author && deletes[$0].end <= start) }
            }
            func firstItem(_ author: ReplicaID, after start: UInt64) -> Int {
                Self.lowerBound(items.count) { items[$0].id.replica < author || (items[$0].id.replica == author && items[$0].end <= start) }
            }
            var remaining: [TextRange] = []
            for d in deletes {
                var leftover = [d]
                var k = firstItem(d.author, after: d.start)
                while k < items.count && items[k].id.replica == d.author && items[k].id.counter < d.end {
                    leftover = leftover.flatMap { Self.subtract($0, items[k].id.counter, items[k].end) }
                    k += 1
                }
                remaining.append(contentsOf: leftover)
            }
            var out: [TextItem] = []
            out.reserveCapacity(items.count)
            for item in items {
                var cuts: [(UInt64, UInt64)] = []
                if item.content != nil {
                    var k = firstDelete(item.id.replica, after: item.id.counter)
                    while k < deletes.count && deletes[k].author == item.id.replica && deletes[k].start < item.end {
                        cuts.append((max(deletes[k].start, item.id.counter), min(deletes[k].end, item.end)))
                        k += 1
                    }
                }
                if cuts.isEmpty { out.append(item) } else { out.append(contentsOf: Self.cut(item, cuts)) }
            }
            items = out
            deletes = Self.normalized(remaining)
        }
        // Merge adjacent items that continue each other.
        var merged: [TextItem] = []
        merged.reserveCapacity(items.count)
        for item in items {
            if var last = merged.last, last.id.replica == item.id.replica, last.end == item.id.counter,
                item.left == Dot(last.id.replica, last.end - 1), item.right == last.right,
                (last.content == nil) == (item.content == nil)
            {
                last.length += item.length
                if let c = item.content { last.content?.append(contentsOf: c) }
                merged[merged.count - 1] = last
            } else {
                merged.append(item)
            }
        }
        pending = merged
        pendingDeletes = deletes
    }

    /// The first index in `0..<count` for which `before` is false (`before` holds for a prefix).
    static func lowerBound(_ count: Int, _ before: (Int) -> Bool) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if before(mid) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    static func subtract(_ r: TextRange, _ start: UInt64, _ end: UInt64) -> [TextRange] {
        var out: [TextRange] = []
        if r.start < start { out.append(TextRange(author: r.author, start: r.start, length: min(r.end, start) - r.start)) }
        if r.end > end { out.append(TextRange(author: r.author, start: max(r.start, end), length: r.end - max(r.start, end))) }
        return out
    }

    /// Splits an item so that the characters in `cuts` (sorted, inside it) become tombstones.
    static func cut(_ item: TextItem, _ cuts: [(UInt64, UInt64)]) -> [TextItem] {
        var out: [TextItem] = []
        var c = item.id.counter
        func piece(_ from: UInt64, _ to: UInt64, tombstone: Bool) {
            guard to > from else { return }
            let a = Int(from - item.id.counter)
            let b = Int(to - item.id.counter)
            out.append(
                TextItem(
                    id: Dot(item.id.replica, from), length: b - a,
                    left: from == item.id.counter ? item.left : Dot(item.id.replica, from - 1), right: item.right,
                    content: tombstone ? nil : item.content.map { Array($0[a..<b]) }))
        }
        for (s, e) in cuts.sorted(by: { $0.0 < $1.0 }) {
            let s2 = max(s, c)
            piece(c, s2, tombstone: false)
            piece(s2, max(e, s2), tombstone: true)
            c = max(c, e)
        }
        piece(c, item.end, tombstone: false)
        // Adjacent tombstones from overlapping cuts merge in the caller's merge pass.
        return out
    }

    /// Resolves overlapping items character by character (deleted wins), then recompresses.
    static func resolveOverlaps(_ items: [TextItem]) -> [TextItem] {
        struct Char {
            var left: Dot?
            var right: Dot?
            var scalar: Unicode.Scalar?
        }
        var chars: [Dot: Char] = [:]
        for item in items {
            for k in 0..<item.length {
                let id = Dot(item.id.replica, item.id.counter + UInt64(k))
                let left = k == 0 ? item.left : Dot(item.id.replica, id.counter - 1)
                let scalar = item.content?[k]
                if let old = chars[id] {
                    // Keep the first origins seen (equal for honest peers); deleted wins.
                    if old.scalar != nil && scalar == nil { chars[id]?.scalar = nil }
                } else {
                    chars[id] = Char(left: left, right: item.right, scalar: scalar)
                }
            }
        }
        var out: [TextItem] = []
        for id in chars.keys.sorted() {
            guard let ch = chars[id] else { continue }
            if var last = out.last, last.id.replica == id.replica, last.end == id.counter,
                ch.left == Dot(id.replica, id.counter - 1), ch.right == last.right, (last.content == nil) == (ch.scalar == nil)
            {
                last.length += 1
                if let s = ch.scalar { last.content?.append(s) }
                out[out.count - 1] = last
            } else {
                out.append(TextItem(id: id, length: 1, left: ch.left, right: ch.right, content: ch.scalar.map { [$0] }))
            }
        }
        return out
    }
}

extension TextSequence {
    /// Joins `other` into this state, integrating its characters and deletions.
    /// - Parameters:
    ///   - other: a state or a delta's text.
    ///   - splices: when non-nil, receives the visible edits the join made, in order.
    mutating func integrate(_ other: TextSequence, splices: inout [TextSplice]?) {
        if other.isEmpty { return }
        if isEmpty && other.storage.pending.isEmpty && other.storage.pendingDeletes.isEmpty {
            // Nothing here: adopt the other state (shared until either side writes).
            storage = other.storage
            if other.storage.visible > 0 { splices?.append(TextSplice(position: 0, deleted: 0, inserted: other.string)) }
            return
        }
        makeUnique()
        let s = storage
        let o = other.storage
        for item in o.runItems() { s.integrate(item, splices: &splices) }
        for item in o.pending { s.integrate(item, splices: &splices) }
        for d in o.pendingDeletes { s.deleteRange(d, splices: &splices) }
        s.absorbEvents(o.deleteEvents)
        s.retryPending(splices: &splices)
        if !s.pending.isEmpty || !s.pendingDeletes.isEmpty { s.normalizeBag() }
        s.compactContentIfNeeded()
    }

    /// Joins `other` into this bag (a delta): the union of their items and deletions.
    /// - Parameter other: another delta's text.
    mutating func absorb(_ other: TextSequence) {
        if other.isEmpty { return }
        if isEmpty {
            storage = other.storage
            return
        }
        makeUnique()
        let s = storage
        let o = other.storage
        if s.runCount > 0 {
            s.pending.append(contentsOf: s.runItems())
            s.chunks = []
            s.chunkSlot = []
            s.runCount = 0
            s.visible = 0
            s.index = nil
            s.bagNormalized = false
        }
        for item in o.runItems() { s.appendPending(item) }
        for item in o.pending { s.appendPending(item) }
        if !o.pendingDeletes.isEmpty {
            s.pendingDeletes.append(contentsOf: o.pendingDeletes)
            s.bagNormalized = false
        }
        if !o.bagNormalized { s.bagNormalized = false }
        s.absorbEvents(o.deleteEvents)
    }

    /// Adds one local insertion to this bag (a delta's text), in place.
    mutating func appendInsertion(_ item: TextItem) {
        makeUnique()
        if storage.runCount > 0 {
            absorb(TextSequence.bag(inserting: item))
            return
        }
        storage.appendPending(item)
    }

    /// Adds one local deletion and its event dot to this bag (a delta's text), in place.
    mutating func appendDeletion(_ ranges: [TextRange], event: Dot) {
        makeUnique()
        if storage.runCount > 0 {
            absorb(TextSequence.bag(deleting: ranges, event: event))
            return
        }
        if !ranges.isEmpty {
            storage.pendingDeletes.append(contentsOf: ranges)
            storage.bagNormalized = false
        }
        if event.counter > storage.deleteEvents[event.replica] ?? 0 { storage.deleteEvents[event.replica] = event.counter }
    }

    /// A delta's text carrying one insertion.
    static func bag(inserting item: TextItem) -> TextSequence {
        let s = TextStorage()
        s.pending = [item]
        return TextSequence(storage: s)
    }

    /// A delta's text carrying deletions and the deletion's event dot.
    static func bag(deleting ranges: [TextRange], event: Dot) -> TextSequence {
        let s = TextStorage()
        s.pendingDeletes = ranges
        s.deleteEvents = [event.replica: event.counter]
        return TextSequence(storage: s)
    }

    /// The items and deletions a peer whose version vector is `peer` lacks: characters it has not
    /// seen (tombstones without content), and every deletion of characters it has seen.
    func missing(since peer: VersionVector) -> TextSequence {
        let s = TextStorage()
        let scalars = storage.contentScalars()
        storage.forEachRun { r in
            let author = storage.authors[Int(r.author)]
            let seen = peer[author]
            if r.end - 1 <= seen {
                if r.deleted { s.pendingDeletes.append(TextRange(author: author, start: r.counter, length: UInt64(r.length))) }
                return
            }
            let from = max(r.counter, seen + 1)
            if from > r.counter && r.deleted {
                s.pendingDeletes.append(TextRange(author: author, start: r.counter, length: from - r.counter))
            }
            let k = Int(from - r.counter)
            let content: [Unicode.Scalar]? =
                r.deleted ? nil : Array(scalars[Int(r.content) + k..<Int(r.content) + Int(r.length)])
            s.pending.append(
                TextItem(
                    id: Dot(author, from), length: Int(r.end - from),
                    left: from == r.counter ? storage.dot(r.left) : Dot(author, from - 1), right: storage.dot(r.right),
                    content: content))
        }
        for item in storage.pending where item.end - 1 > peer[item.id.replica] { s.pending.append(item) }
        s.pendingDeletes.append(contentsOf: storage.pendingDeletes)
        s.deleteEvents = storage.deleteEvents.filter { $0.value > peer[$0.key] }
        s.normalizeBag()
        return TextSequence(storage: s)
    }
}
