// The canonical encoding of a text field (format in Docs/FORMATS.md, "Text").
//
//   runs       count, then per run (document order, maximal runs):
//                flags: bits 0–1 length (0, 1, 2: 1–3 characters; 3: a varint length − 4
//                follows the counter) · bit 2 deleted · bits 3–4 left origin mode · bits 5–6
//                right origin mode · bit 7 same author as the previous run
//                [author], counter − (end of this author's previous run) as zigzag, [length − 4],
//                [left origin], [right origin]. Origin modes: 0 the neighbouring run's end (left:
//                the previous run's last character, right: the next run's first), 1 none, 2 the
//                run's own author (zigzag counter − the run's counter), 3 another author
//                (author, zigzag counter − that author's previous end)
//   content    byte count, then the UTF-8 of every visible run in document order
//   pending    count, then per item (ascending ID): author, counter, length − 1, flags
//                (1 tombstone · 2 no left · 8 no right), [left], [right], [byte count, UTF-8]
//   deletions  count, then per range (ascending): author, start, length − 1
//   events     count, then per author (ascending ID): author, highest deletion counter
//
// An author is a varint v: below the number of authors named so far, that author; equal to it, a
// new author follows as a varint k (k ≥ 1: entry k − 1 of the message's replica table; 0: the
// 8-byte replica ID, only for replicas not in that table).

/// A run as encoded: origins resolved, adjacent continuing runs merged.
struct CanonicalRun: Equatable {
    var author: UInt32
    var counter: UInt64
    var length: UInt64
    var left: CharRef?
    var right: CharRef?
    var deleted: Bool

    var end: UInt64 { counter + length }
    var last: CharRef { CharRef(author: author, counter: end - 1) }
    var first: CharRef { CharRef(author: author, counter: counter) }

    /// Whether `next` continues this run (same author, next counters, chained origins).
    func continues(into next: CanonicalRun) -> Bool {
        next.author == author && next.counter == end && next.left == last && next.right == right && next.deleted == deleted
    }
}

extension TextStorage {
    /// The runs in document order, merged maximally.
    func canonicalRuns() -> [CanonicalRun] {
        var out: [CanonicalRun] = []
        out.reserveCapacity(runCount)
        forEachRun { r in
            let c = CanonicalRun(author: r.author, counter: r.counter, length: UInt64(r.length), left: r.left, right: r.right, deleted: r.deleted)
            if let last = out.last, last.continues(into: c) {
                out[out.count - 1].length += c.length
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// The canonical encoding with a self-contained author table (equality and hashing).
    func canonicalBytes() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + runCount * 6 + visible)
        TextCodec.encode(self, &w, ReplicaIndex(replicas: []))
        return w.bytes
    }
}

enum TextCodec {
    /// Tests only: the index of a canonical run to write as two runs (a non-canonical encoding
    /// the decoder must refuse, whichever of its passes reads it).
    @TaskLocal static var splitRunForTesting: Int?

    struct AuthorWriter {
        var table: [ReplicaID: UInt64] = [:]
        let index: ReplicaIndex

        mutating func write(_ id: ReplicaID, _ w: inout ByteWriter) {
            if let k = table[id] {
                w.varint(k)
                return
            }
            let k = UInt64(table.count)
            table[id] = k
            w.varint(k)
            if let i = index[id] {
                w.varint(i + 1)
            } else {
                w.varint(0)
                w.u64le(id.rawValue)
            }
        }
    }

    static func encode(_ storage: TextStorage, _ w: inout ByteWriter, _ index: ReplicaIndex) {
        let s = storage.withNormalizedBag()
        var authors = AuthorWriter(index: index)
        var runs = s.canonicalRuns()
        if let k = splitRunForTesting, k < runs.count, runs[k].length >= 2 {
            // Not canonical: run k as two runs that should be one (tests of the decoder only).
            var second = runs[k]
            second.counter += 1
            second.length -= 1
            second.left = CharRef(author: second.author, counter: runs[k].counter)
            runs[k].length = 1
            runs.insert(second, at: k + 1)
        }
        var lastEnd: [UInt32: UInt64] = [:]
        w.varint(runs.count)
        for (k, run) in runs.enumerated() {
            let prev: CanonicalRun? = k > 0 ? runs[k - 1] : nil
            let next: CanonicalRun? = k + 1 < runs.count ? runs[k + 1] : nil
            var flags: UInt8 = run.length <= 3 ? UInt8(run.length - 1) : 3
            if run.deleted { flags |= TextCodec.deleted }
            let leftMode = TextCodec.originMode(run.left, implicit: prev?.last, author: run.author)
            let rightMode = TextCodec.originMode(run.right, implicit: next?.first, author: run.author)
            flags |= leftMode << 3 | rightMode << 5
            if let prev, prev.author == run.author { flags |= TextCodec.sameAuthor }
            w.byte(flags)
            if flags & TextCodec.sameAuthor == 0 { authors.write(s.authors[Int(run.author)], &w) }
            w.signed(Int64(bitPattern: run.counter &- (lastEnd[run.author] ?? 0)))
            if run.length > 3 { w.varint(run.length - 4) }
            func origin(_ mode: UInt8, _ origin: CharRef?) {
                guard let origin else { return }
                if mode == TextCodec.ownAuthor {
                    w.signed(Int64(bitPattern: origin.counter &- run.counter))
                } else if mode == TextCodec.otherAuthor {
                    authors.write(s.authors[Int(origin.author)], &w)
                    w.signed(Int64(bitPattern: origin.counter &- (lastEnd[origin.author] ?? 0)))
                }
            }
            origin(leftMode, run.left)
            origin(rightMode, run.right)
            lastEnd[run.author] = run.end
        }
        // Content: the visible text.
        if let encoded = s.encodedRuns {
            w.varint(encoded.text.utf8.count)
            w.bytes.append(contentsOf: encoded.text.utf8)
        } else {
            var utf8: [UInt8] = []
            utf8.reserveCapacity(s.visible)
            s.forEachRun { r in
                guard !r.deleted else { return }
                for scalar in s.scalars[Int(r.content)..<Int(r.content) + Int(r.length)] { appendUTF8(scalar, &utf8) }
            }
            w.varint(utf8.count)
            w.bytes.append(contentsOf: utf8)
        }
        // Pending items.
        w.varint(s.pending.count)
        for item in s.pending {
            authors.write(item.id.replica, &w)
            w.varint(item.id.counter)
            w.varint(item.length - 1)
            var flags: UInt8 = item.content == nil ? 1 : 0
            if item.left == nil { flags |= 2 }
            if item.right == nil { flags |= 8 }
            w.byte(flags)
            if let left = item.left {
                authors.write(left.replica, &w)
                w.varint(left.counter)
            }
            if let right = item.right {
                authors.write(right.replica, &w)
                w.varint(right.counter)
            }
            if let content = item.content {
                var bytes: [UInt8] = []
                for scalar in content { appendUTF8(scalar, &bytes) }
                w.varint(bytes.count)
                w.bytes.append(contentsOf: bytes)
            }
        }
        w.varint(s.pendingDeletes.count)
        for d in s.pendingDeletes {
            authors.write(d.author, &w)
            w.varint(d.start)
            w.varint(d.length - 1)
        }
        w.varint(s.deleteEvents.count)
        for (author, counter) in s.deleteEvents.sorted(by: { $0.key < $1.key }) {
            authors.write(author, &w)
            w.varint(counter)
        }
    }

    // Run flags: bits 0–1 length (1, 2, 3, or 3 = a varint length − 4 follows) · bit 2 deleted ·
    // bits 3–4 left origin mode · bits 5–6 right origin mode · bit 7 same author as the previous run.
    static let deleted: UInt8 = 4
    static let sameAuthor: UInt8 = 0x80
    /// Origin modes: the neighbouring run's end (left: the previous run's last character; right:
    /// the next run's first), none, the run's own author (counter relative to the run's), another
    /// author (author, then counter relative to that author's previous end in the block).
    static let neighbour: UInt8 = 0
    static let noOrigin: UInt8 = 1
    static let ownAuthor: UInt8 = 2
    static let otherAuthor: UInt8 = 3

    /// The mode an origin is written in (the neighbouring one exactly when it applies).
    @inline(__always)
    static func originMode(_ origin: CharRef?, implicit: CharRef?, author: UInt32) -> UInt8 {
        guard let origin else { return noOrigin }
        if let implicit, origin == implicit { return neighbour }
        return origin.author == author ? ownAuthor : otherAuthor
    }

    @inline(__always)
    static func appendUTF8(_ scalar: Unicode.Scalar, _ out: inout [UInt8]) {
        let v = scalar.value
        if v < 0x80 {
            out.append(UInt8(v))
        } else if v < 0x800 {
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Decodes strict UTF-8 into scalars (nil on any invalid sequence).
    static func scalars(_ raw: UnsafeRawBufferPointer, reserve: Int) -> [Unicode.Scalar]? {
        if !raw.contains(where: { $0 >= 0x80 }) {
            return [Unicode.Scalar](unsafeUninitializedCapacity: raw.count) { buffer, n in
                for (k, b) in raw.enumerated() { buffer[k] = Unicode.Scalar(b) }
                n = raw.count
            }
        }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(reserve)
        var it = raw.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): out.append(s)
            case .emptyInput: return out
            case .error: return nil
            }
        }
    }
}

extension MessageDecoder {
    /// Reads an author reference, adding new authors to `table` (see the format above).
    mutating func readTextAuthor(_ table: inout [ReplicaID]) throws(DecodeError) -> ReplicaID {
        table[try readTextAuthorIndex(&table)]
    }

    /// Reads an author reference as its index in `table`, adding a new author to it.
    @inline(__always)
    mutating func readTextAuthorIndex(_ table: inout [ReplicaID]) throws(DecodeError) -> Int {
        let at = r.offset
        let v = try r.varint()
        if v < UInt64(table.count) { return Int(v) }
        return try readNewTextAuthor(&table, v, at: at)
    }

    /// The rest of a reference `v` that is not below `table.count`: a new author.
    mutating func readNewTextAuthor(_ table: inout [ReplicaID], _ v: UInt64, at: Int) throws(DecodeError) -> Int {
        guard v == UInt64(table.count) else { throw .nonCanonical("text author reference out of order", offset: at) }
        let k = try r.varint()
        let id: ReplicaID
        if k == 0 {
            id = ReplicaID(try r.u64le())
            if replicas.contains(id) { throw .nonCanonical("text author inline but in the replica table", offset: at) }
        } else {
            guard k <= UInt64(replicas.count) else { throw .replicaIndexOutOfRange(k - 1, offset: at) }
            id = replicas[Int(k - 1)]
        }
        if table.contains(id) { throw .nonCanonical("text author named twice", offset: at) }
        table.append(id)
        return table.count - 1
    }

    /// Reads a counter delta against `base` as a valid dot counter.
    mutating func readTextCounter(base: UInt64) throws(DecodeError) -> UInt64 {
        let at = r.offset
        let c = base &+ UInt64(bitPattern: try r.signed())
        guard c >= 1, c <= Dot.maxCounter else { throw .invalidCounter(offset: at) }
        return c
    }

    /// Checks that characters `start..<start+length` of `author` are in the message's context.
    func checkInContext(_ author: ReplicaID, _ start: UInt64, _ length: UInt64, at: Int) throws(DecodeError) {
        let last = start + length - 1
        let covered = context.vector[author]
        if last <= covered { return }
        let from = max(start, covered + 1)
        guard last - from + 1 <= UInt64(context.cloud.count) else { throw .entryOutsideContext(offset: at) }
        for c in from...last where !context.cloud.contains(Dot(author, c)) { throw .entryOutsideContext(offset: at) }
    }

    /// A run, item or range length (`length − 1` as written), at most `UInt32.max` (the longest
    /// run a text holds in memory).
    mutating func readLength() throws(DecodeError) -> UInt64 {
        let at = r.offset
        let n = try r.varint()
        guard n < UInt64(UInt32.max) else { throw .lengthTooLarge(Int(clamping: n), limit: Int(UInt32.max), offset: at) }
        return n + 1
    }

    /// Reads a text field (after a field header with the text bit). The runs are validated here
    /// and kept encoded until the first edit or merge (`TextSequence+Load.swift`).
    /// - Parameter lean: false reads every run the careful way (tests compare the two paths).
    mutating func readText(lean: Bool = true) throws(DecodeError) -> TextSequence {
        let s = TextStorage()
        var table: [ReplicaID] = []
        let runCount = try r.count(minimumItemSize: 2)
        let runsStart = r.offset
        let runs = try readTextRuns(runCount, s, &table, lean: lean)
        // Content.
        let cat = r.offset
        let byteCount = try r.count()
        guard UInt64(byteCount) >= runs.visible, runs.visible <= UInt64(UInt32.max) else {
            throw .nonCanonical("text content shorter than its runs", offset: cat)
        }
        let raw = try r.bytes(byteCount)
        guard let text = String(validating: raw.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else { throw .invalidUTF8(offset: cat) }
        guard UInt64(TextCodec.scalarCount(raw)) == runs.visible else { throw .nonCanonical("text content length differs from its runs", offset: cat) }
        if runCount > 0 {
            let bytes = Array(UnsafeRawBufferPointer(rebasing: r.buffer[runsStart..<runs.end]))
            s.encodedRuns = EncodedRuns(bytes: bytes, count: runCount, text: text, visible: Int(runs.visible))
        }
        s.runCount = runCount
        s.visible = Int(runs.visible)
        // Pending items.
        let pat = r.offset
        let pendingCount = try r.count(minimumItemSize: 5)
        s.pending.reserveCapacity(pendingCount)
        for _ in 0..<pendingCount {
            let at = r.offset
            let author = try readTextAuthor(&table)
            let cat = r.offset
            let counter = try r.varint()
            guard counter >= 1, counter <= Dot.maxCounter else { throw .invalidCounter(offset: cat) }
            let length = try readLength()
            guard counter <= Dot.maxCounter - length + 1 else { throw .invalidCounter(offset: at) }
            let flags = try r.byte()
            guard flags & ~UInt8(1 | 2 | 8) == 0 else { throw .nonCanonical("text item flags", offset: at) }
            var left: Dot?
            var right: Dot?
            if flags & 2 == 0 {
                let la = try readTextAuthor(&table)
                let lat = r.offset
                let lc = try r.varint()
                guard lc >= 1, lc <= Dot.maxCounter else { throw .invalidCounter(offset: lat) }
                left = Dot(la, lc)
            }
            if flags & 8 == 0 {
                let ra = try readTextAuthor(&table)
                let rat = r.offset
                let rc = try r.varint()
                guard rc >= 1, rc <= Dot.maxCounter else { throw .invalidCounter(offset: rat) }
                right = Dot(ra, rc)
            }
            var content: [Unicode.Scalar]?
            if flags & 1 == 0 {
                let bat = r.offset
                let n = try r.count()
                guard UInt64(n) >= length else { throw .nonCanonical("text item content shorter than its length", offset: bat) }
                guard let sc = TextCodec.scalars(try r.bytes(n), reserve: Int(length)), UInt64(sc.count) == length else {
                    throw .invalidUTF8(offset: bat)
                }
                content = sc
            }
            let item = TextItem(id: Dot(author, counter), length: Int(length), left: left, right: right, content: content)
            if let prev = s.pending.last {
                guard prev.id < item.id, prev.id.replica != item.id.replica || prev.end <= item.id.counter else {
                    throw .nonCanonical("text items not ascending", offset: at)
                }
                if prev.id.replica == item.id.replica && prev.end == item.id.counter && item.left == Dot(prev.id.replica, prev.end - 1)
                    && item.right == prev.right && (prev.content == nil) == (item.content == nil)
                {
                    throw .nonCanonical("text items not maximal", offset: at)
                }
            }
            try checkInContext(author, counter, length, at: at)
            _ = s.author(author)
            s.pending.append(item)
        }
        // Pending deletions.
        let dcount = try r.count(minimumItemSize: 3)
        s.pendingDeletes.reserveCapacity(dcount)
        for _ in 0..<dcount {
            let at = r.offset
            let author = try readTextAuthor(&table)
            let start = try r.varint()
            let length = try readLength()
            guard start >= 1, start <= Dot.maxCounter - length + 1 else { throw .invalidCounter(offset: at) }
            let d = TextRange(author: author, start: start, length: length)
            if let prev = s.pendingDeletes.last, !(prev < d) || (prev.author == d.author && prev.end >= d.start) {
                throw .nonCanonical("text deletions not ascending and apart", offset: at)
            }
            s.pendingDeletes.append(d)
        }
        // Delete events.
        let ecount = try r.count(minimumItemSize: 2)
        var lastEvent: ReplicaID?
        for _ in 0..<ecount {
            let at = r.offset
            let author = try readTextAuthor(&table)
            let c = try r.varint()
            guard c >= 1, c <= Dot.maxCounter else { throw .invalidCounter(offset: at) }
            if let lastEvent, !(lastEvent < author) { throw .nonCanonical("text deletion events not ascending", offset: at) }
            lastEvent = author
            s.deleteEvents[author] = c
        }
        // Characters are unique; deletions name none that is held or in the bag. The run pass
        // checked the runs among themselves with bitmaps; a bag, or counters too sparse for
        // bitmaps, takes the general check.
        if runs.duplicate { throw .nonCanonical("a text character appears twice", offset: pat) }
        if runs.sparse || !s.pending.isEmpty || !s.pendingDeletes.isEmpty {
            var spans = SpanSet(authors: s.authors.count)
            s.forEachRun { run in spans.add(run.author, run.counter, UInt64(run.length)) }
            for item in s.pending { spans.add(s.author(item.id.replica), item.id.counter, UInt64(item.length)) }
            guard spans.disjoint() else { throw .nonCanonical("a text character appears twice", offset: pat) }
            for d in s.pendingDeletes {
                guard let a = s.authorIndex[d.author] else { continue }
                if spans.intersects(a, d.start, d.end) { throw .nonCanonical("a text deletion names a character it should have deleted", offset: pat) }
            }
        }
        return TextSequence(storage: s)
    }
}

/// The character ranges of a decoded text, per author, checked for overlaps: with a bitmap when
/// an author's counters span little more than its characters (the usual case: linear in the
/// characters), sorted otherwise (a hostile message with huge, sparse ranges).
struct SpanSet {
    private var ranges: [[(start: UInt64, end: UInt64)]]
    private var bitmaps: [(base: UInt64, words: [UInt64])?] = []
    private var sorted = false

    init(authors: Int) { ranges = Array(repeating: [], count: authors) }

    mutating func add(_ author: UInt32, _ start: UInt64, _ length: UInt64) {
        while ranges.count <= Int(author) { ranges.append([]) }
        ranges[Int(author)].append((start, start + length))
    }

    /// Whether no two ranges of one author overlap (prepares ``intersects(_:_:_:)``).
    mutating func disjoint() -> Bool {
        bitmaps = Array(repeating: nil, count: ranges.count)
        for a in ranges.indices where !ranges[a].isEmpty {
            var lo = UInt64.max
            var hi: UInt64 = 0
            var total: UInt64 = 0
            for r in ranges[a] {
                lo = min(lo, r.start)
                hi = max(hi, r.end)
                total &+= r.end - r.start
            }
            let span = hi - lo
            if span <= 1 << 24 && span <= 4 * total + 4_096 {
                var words = [UInt64](repeating: 0, count: Int(span / 64) + 1)
                for r in ranges[a] {
                    var c = r.start - lo
                    let end = r.end - lo
                    while c < end {
                        let w = Int(c / 64)
                        let bit = c % 64
                        let n = min(64 - bit, end - c)
                        let mask = n == 64 ? UInt64.max : ((UInt64(1) << n) - 1) << bit
                        if words[w] & mask != 0 { return false }
                        words[w] |= mask
                        c += n
                    }
                }
                bitmaps[a] = (lo, words)
            } else {
                ranges[a].sort { $0.start < $1.start }
                for k in ranges[a].indices.dropFirst() where ranges[a][k].start < ranges[a][k - 1].end { return false }
            }
        }
        sorted = true
        return true
    }

    /// Whether any character of `author` in `start..<end` is held (after ``disjoint()``).
    func intersects(_ author: UInt32, _ start: UInt64, _ end: UInt64) -> Bool {
        guard Int(author) < ranges.count, sorted else { return false }
        if let (base, words) = bitmaps[Int(author)] {
            let top = base + UInt64(words.count) * 64
            var c = max(start, base)
            let stop = min(end, top)
            while c < stop {
                let w = Int((c - base) / 64)
                let bit = (c - base) % 64
                let n = min(64 - bit, stop - c)
                let mask = n == 64 ? UInt64.max : ((UInt64(1) << n) - 1) << bit
                if words[w] & mask != 0 { return true }
                c += n
            }
            return false
        }
        let list = ranges[Int(author)]
        // The first range ending after `start` must start at or after `end`.
        let lo = TextStorage.lowerBound(list.count) { list[$0].end <= start }
        return lo < list.count && list[lo].start < end
    }
}
