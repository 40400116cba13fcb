// Loading a text: the decoder validates the whole run block in one pass (everything the
// canonical form requires, the causal context, no character twice) without building the runs,
// keeps the block as its bytes, and takes the visible string straight from the content block
// (validated UTF-8). The runs are built on the first edit or merge (`TextSequence.makeUnique`).
//
// The choice, and why it is safe. Decoding is lazy in *building*, never in *checking*: every
// rule the eager decoder enforced is enforced before `readText` returns, so a malformed or
// hostile encoding is still refused with a `DecodeError` at the one place that can report it.
// Deferring a check instead would move its failure to an edit, a merge or an encode, none of
// which can report a decoding error (a join cannot fail at all), so the text would have to be
// dropped or kept half-valid: silent corruption. What is kept is immutable (`let` fields of a
// value type): building the runs re-reads bytes that already passed validation, with a reader
// that cannot fail and cannot read out of bounds, so it produces exactly the runs the eager
// decoder produced. A kept block is turned into runs only on the mutating path, which owns the
// storage exclusively (copy-on-write); read-only paths on a shared storage (the string, encoding,
// equality, catch-ups) walk the bytes and write nothing, so concurrent readers need no lock.
//
// The pass: runs by the previous run's author whose origins are their own or none (typing, and
// the tombstones of deleting it: nearly every run) go through a lean loop with its state in
// registers, no bounds checks (it runs only 48 bytes or more before the end of the input) and
// no error values; every other run, and any run that loop finds odd, goes through the careful
// path, which reads it again field by field and throws the precise error.

/// The integrated runs of a decoded text, kept as their validated encoding until the text is
/// first edited or merged into.
struct EncodedRuns: Sendable {
    /// The runs as encoded (after their count), validated by the decoder. Authors are numbered in
    /// order of first appearance, which is the storage's author index.
    let bytes: [UInt8]
    /// The number of runs.
    let count: Int
    /// The visible text: the content block (validated UTF-8).
    let text: String
    /// The number of scalars of `text`.
    let visible: Int

    /// Calls `body` with every run in document order. A run's `content` is the offset of its
    /// first scalar in `text` (visible runs only).
    func forEach(_ body: (TextRun) -> Void) {
        bytes.withUnsafeBufferPointer { buffer in
            var r = TrustedReader(buffer: buffer)
            // Per author: the end of its previous run (counters are written relative to it).
            var lastEnd: [UInt64] = []
            var visible: UInt32 = 0
            var prev = TextRun(
                counter: 0, leftCounter: 0, rightCounter: 0, content: 0, length: 0,
                author: CharRef.noAuthor, leftAuthor: CharRef.noAuthor, rightAuthor: CharRef.noAuthor, deleted: false)
            var prevRightImplicit = false
            /// An author reference: an index below the number named so far, or a new author
            /// (then its replica table index, or 0 and its 8-byte ID, which the index replaces).
            func author(_ r: inout TrustedReader) -> UInt32 {
                let v = r.varint()
                if v < UInt64(lastEnd.count) { return UInt32(v) }
                if r.varint() == 0 { r.skip(8) }
                lastEnd.append(0)
                return UInt32(lastEnd.count - 1)
            }
            /// An origin written in `mode` (the neighbour's is resolved by the caller).
            func origin(_ mode: UInt8, _ a: UInt32, _ counter: UInt64, _ r: inout TrustedReader) -> (UInt32, UInt64) {
                switch mode {
                case TextCodec.ownAuthor: return (a, counter &+ r.signed())
                case TextCodec.otherAuthor:
                    let oa = author(&r)
                    return (oa, lastEnd[Int(oa)] &+ r.signed())
                default: return (CharRef.noAuthor, 0)
                }
            }
            for k in 0..<count {
                let flags = r.byte()
                let a = flags & TextCodec.sameAuthor != 0 && k > 0 ? prev.author : author(&r)
                let counter = lastEnd[Int(a)] &+ r.signed()
                let length = flags & 3 == 3 ? UInt32(truncatingIfNeeded: r.varint() &+ 4) : UInt32(flags & 3) + 1
                let leftMode = (flags >> 3) & 3
                var left = origin(leftMode, a, counter, &r)
                if leftMode == TextCodec.neighbour && k > 0 { left = (prev.author, prev.counter &+ UInt64(prev.length) &- 1) }
                let right = origin((flags >> 5) & 3, a, counter, &r)
                if k > 0 {
                    if prevRightImplicit {
                        prev.rightAuthor = a
                        prev.rightCounter = counter
                    }
                    body(prev)
                }
                let deleted = flags & TextCodec.deleted != 0
                prev = TextRun(
                    counter: counter, leftCounter: left.1, rightCounter: right.1, content: visible, length: length,
                    author: a, leftAuthor: left.0, rightAuthor: right.0, deleted: deleted)
                if !deleted { visible &+= length }
                lastEnd[Int(a)] = counter &+ UInt64(length)
                prevRightImplicit = (flags >> 5) & 3 == TextCodec.neighbour
            }
            if count > 0 { body(prev) }
        }
    }
}

/// Reads bytes that already passed validation: never fails and never reads out of bounds (past
/// the end it reads zeros, which validated bytes never ask for).
struct TrustedReader {
    let buffer: UnsafeBufferPointer<UInt8>
    var offset = 0

    @inline(__always)
    mutating func byte() -> UInt8 {
        guard offset < buffer.count else { return 0 }
        defer { offset += 1 }
        return buffer[offset]
    }

    @inline(__always)
    mutating func varint() -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < buffer.count {
            let b = buffer[offset]
            offset += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 || shift >= 63 { return result }
            shift += 7
        }
        return result
    }

    /// A zigzag varint, as the two's complement bits of the signed value.
    @inline(__always)
    mutating func signed() -> UInt64 {
        let z = varint()
        return (z >> 1) ^ (0 &- (z & 1))
    }

    @inline(__always)
    mutating func skip(_ n: Int) { offset = min(offset + n, buffer.count) }
}

extension TextStorage {
    /// Builds the runs of a storage that still holds its encoding (the first edit or merge).
    func materialize() {
        guard let encoded = encodedRuns else { return }
        encodedRuns = nil
        scalars = TextCodec.scalars(encoded.text, count: encoded.visible)
        var runs: [TextRun] = []
        runs.reserveCapacity(encoded.count)
        encoded.forEach { runs.append($0) }
        // The chunks, in document order, half full.
        let per = TextStorage.maxRuns / 2
        chunks.reserveCapacity((runs.count + per - 1) / per)
        var from = 0
        while from < runs.count {
            let to = min(from + per, runs.count)
            let slice = Array(runs[from..<to])
            var visible = 0
            for run in slice where !run.deleted { visible += Int(run.length) }
            let id = Int32(chunkSlot.count)
            chunkSlot.append(chunks.count)
            chunks.append(TextChunk(runs: slice, visible: visible, id: id))
            from = to
        }
    }

    /// The scalars runs point into (their `content`): the buffer, or the visible text of a
    /// storage that still holds its encoding (built for the caller, not kept).
    func contentScalars() -> [Unicode.Scalar] {
        if let encoded = encodedRuns { return TextCodec.scalars(encoded.text, count: encoded.visible) }
        return scalars
    }
}

extension TextCodec {
    /// The scalars of `text`, which has `count` of them.
    static func scalars(_ text: String, count: Int) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(count)
        out.append(contentsOf: text.unicodeScalars)
        return out
    }

    /// The number of scalars of valid UTF-8: its bytes that do not continue a sequence (bit
    /// pattern `10xxxxxx`), counted eight at a time.
    static func scalarCount(_ utf8: UnsafeRawBufferPointer) -> Int {
        var continuing = 0
        var i = 0
        while i + 8 <= utf8.count {
            let w = utf8.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            continuing &+= (w & ~(w << 1) & 0x8080_8080_8080_8080).nonzeroBitCount
            i += 8
        }
        while i < utf8.count {
            if utf8[i] & 0xC0 == 0x80 { continuing += 1 }
            i += 1
        }
        return utf8.count - continuing
    }
}

/// What the run pass of the decoder found.
struct TextRunPass {
    /// The number of visible characters.
    var visible: UInt64
    /// The offset just after the last run.
    var end: Int
    /// Whether a character appeared twice among the runs (refused once the bag is read, as the
    /// general check would).
    var duplicate: Bool
    /// Whether the duplicate check was left to ``SpanSet`` (counters too sparse for bitmaps).
    var sparse: Bool
}

/// The run pass's state per author (by table index), in memory it manages itself so that the
/// pass's loop does no reference counting or uniqueness checks.
struct TextRunAuthors: ~Copyable {
    struct Slot {
        /// The end of the author's previous run in the block (counters are relative to it).
        var lastEnd: UInt64 = 0
        /// The highest end of its runs.
        var highest: UInt64 = 0
        /// How far the message's context vector covers it.
        var covered: UInt64 = 0
        /// Its characters seen so far, one bit per counter from `wordBase * 64`.
        var wordBase: UInt64 = 0
        var wordCount = 0
        var words: UnsafeMutablePointer<UInt64>?
    }

    private(set) var slots: UnsafeMutablePointer<Slot>
    private(set) var count = 0
    private var capacity = 4
    /// Bitmap words allocated, and the most that may be (a few bytes per input byte).
    private var words = 0
    private let budget: Int
    /// Whether some author's counters spread too far for the budget (no bitmap is used then).
    private(set) var sparse = false

    init(budget: Int) {
        self.budget = budget
        slots = .allocate(capacity: 4)
    }

    deinit {
        for k in 0..<count { slots[k].words?.deallocate() }
        slots.deallocate()
    }

    mutating func append(covered: UInt64) {
        if count == capacity {
            let fresh = UnsafeMutablePointer<Slot>.allocate(capacity: capacity * 2)
            fresh.moveInitialize(from: slots, count: count)
            slots.deallocate()
            slots = fresh
            capacity *= 2
        }
        (slots + count).initialize(to: Slot(covered: covered))
        count += 1
    }

    /// Marks counters `start..<end` (end > start) of author `a` (< count).
    /// - Returns: false when one of them was already marked.
    @inline(__always)
    mutating func mark(_ a: Int, _ start: UInt64, _ end: UInt64) -> Bool {
        let lo = start >> 6
        let hi = (end - 1) >> 6
        let slot = slots + a
        let b = slot.pointee.wordBase
        if lo == hi, lo >= b, lo - b < UInt64(slot.pointee.wordCount), let words = slot.pointee.words {
            let n = end - start
            let mask = n == 64 ? UInt64.max : ((1 << n) - 1) << (start & 63)
            let w = words + Int(lo - b)
            let old = w.pointee
            w.pointee = old | mask
            return old & mask == 0
        }
        return markSlowly(a, start, end)
    }

    private mutating func markSlowly(_ a: Int, _ start: UInt64, _ end: UInt64) -> Bool {
        if sparse { return true }
        let lo = start >> 6
        let hi = (end - 1) >> 6
        let b = slots[a].wordBase
        if !(lo >= b && hi - b < UInt64(slots[a].wordCount)) {
            guard grow(a, lo, hi) else { return true }
        }
        guard let words = slots[a].words else { return true }
        let base = slots[a].wordBase << 6
        var c = start
        var clean = true
        while c < end {
            let w = words + Int((c - base) >> 6)
            let bit = c & 63
            let n = min(64 - bit, end - c)
            let mask = n == 64 ? UInt64.max : ((1 << n) - 1) << bit
            if w.pointee & mask != 0 { clean = false }
            w.pointee |= mask
            c += n
        }
        return clean
    }

    /// Widens author `a`'s bitmap to cover words `lo...hi` (doubling, so that a series of
    /// widenings costs linear time), or gives up on bitmaps when that passes the budget.
    private mutating func grow(_ a: Int, _ lo: UInt64, _ hi: UInt64) -> Bool {
        let count = UInt64(slots[a].wordCount)
        let oldLo = slots[a].wordBase
        let oldHi = oldLo &+ count &- 1
        var newLo = lo
        var newHi = hi
        if count > 0 {
            newLo = lo < oldLo ? min(lo, oldLo >= count ? oldLo - count : 0) : oldLo
            newHi = hi > oldHi ? max(hi, oldHi &+ count) : oldHi
        }
        let room = UInt64(budget - (words - Int(count)))
        if newHi - newLo >= room {
            // Exactly what is needed, without the doubling, if that fits.
            newLo = count > 0 ? min(lo, oldLo) : lo
            newHi = count > 0 ? max(hi, oldHi) : hi
            guard newHi - newLo < room else {
                sparse = true
                return false
            }
        }
        let size = Int(newHi - newLo + 1)
        let fresh = UnsafeMutablePointer<UInt64>.allocate(capacity: size)
        fresh.initialize(repeating: 0, count: size)
        if let old = slots[a].words {
            (fresh + Int(oldLo - newLo)).update(from: old, count: Int(count))
            old.deallocate()
        }
        slots[a].words = fresh
        slots[a].wordBase = newLo
        slots[a].wordCount = size
        words += size - Int(count)
        return true
    }
}

/// One run as read from the block, before the checks against its neighbours. Origins name an
/// author by table index (`Int.max`: none, or the neighbouring run when the mode says so).
struct TextRunFields {
    var author: Int
    var counter: UInt64
    var length: UInt64
    var leftAuthor = Int.max
    var leftCounter: UInt64 = 0
    var rightAuthor = Int.max
    var rightCounter: UInt64 = 0
}

/// The run pass's view of the previous run (and of a check waiting on it).
struct TextRunPrevious {
    /// `rightAuthor` of a run whose right origin is implicit: the next run's first character.
    static let implicit = -1
    /// Its author (`Int.max`: no previous run).
    var author = Int.max
    var end: UInt64 = 0
    /// Its right origin (`Int.max`: none; `implicit`: the next run's first character).
    var rightAuthor = Int.max
    var rightCounter: UInt64 = 0
    /// Its flags' deleted bit.
    var deleted: UInt8 = 0
    var at = 0
    /// Whether it continues the run before it in everything but the right origin, which was
    /// implicit: the two are one run (not canonical) if its right origin, resolved by the next
    /// run, equals `heldAuthor`/`heldCounter`, the right origin of the run before it.
    var held = false
    var heldAuthor = Int.max
    var heldCounter: UInt64 = 0

    var rightImplicit: Bool { rightAuthor == Self.implicit }
}

/// Why a run breaks the canonical form (the checks against its neighbours).
enum TextRunFault {
    case explicitLeft
    case explicitRight
    case previousNotMaximal
    case notMaximal
    case beyondInput
}

extension TextRunPrevious {
    /// Checks `run` (with `flags`; not the first run) against this previous run: the rules of
    /// Docs/FORMATS.md "Text" that involve two runs, and the visible length against the input
    /// left (`remaining`).
    /// - Returns: whether every check passed, and whether `run` continues this run in everything
    ///   but, perhaps, the right origin (for ``advance(_:flags:continues:at:)``).
    @inline(__always)
    func check(_ run: TextRunFields, flags: UInt8, remaining: Int) -> (ok: Bool, continues: Bool) {
        let a = run.author
        let counter = run.counter
        let deleted = flags & TextCodec.deleted
        let rightImplicit = (flags >> 5) & 3 == TextCodec.neighbour
        // The previous run's right origin, resolved: implicit means this run's first character.
        let resolvedAuthor = self.rightImplicit ? a : rightAuthor
        let resolvedCounter = self.rightImplicit ? counter : rightCounter
        // Same author, next counter, left origin the previous run's last character, same deletion.
        let continues = (flags >> 3) & 3 == TextCodec.neighbour && author == a && end == counter && self.deleted == deleted
        let fails =
            // An explicit left origin that is the previous run's last character.
            (run.leftAuthor == author && run.leftCounter == end &- 1)
            // An explicit right origin of the previous run that is this run's first character.
            || (rightAuthor == a && rightCounter == counter)
            // The previous run continued the one before it, and its implicit right origin (this
            // run's first character) is that run's right origin: they were one run.
            || (held && heldAuthor == a && heldCounter == counter)
            // This run continues the previous one, with the same right origin.
            || (continues && !rightImplicit && resolvedAuthor == run.rightAuthor && resolvedCounter == run.rightCounter)
            // Every visible character takes at least one content byte: bounded by the input.
            || (deleted == 0 && run.length > UInt64(remaining))
        return (!fails, continues)
    }

    /// The first rule `run` breaks (after ``check(_:flags:remaining:)`` failed), in the order
    /// the checks are made.
    func fault(_ run: TextRunFields, flags: UInt8, remaining: Int) -> TextRunFault {
        let a = run.author
        let counter = run.counter
        if run.leftAuthor == author && run.leftCounter == end &- 1 { return .explicitLeft }
        if rightAuthor == a && rightCounter == counter { return .explicitRight }
        if held && heldAuthor == a && heldCounter == counter { return .previousNotMaximal }
        let deleted = flags & TextCodec.deleted
        let continues = (flags >> 3) & 3 == TextCodec.neighbour && author == a && end == counter && self.deleted == deleted
        let resolvedAuthor = rightImplicit ? a : rightAuthor
        let resolvedCounter = rightImplicit ? counter : rightCounter
        if continues && (flags >> 5) & 3 != TextCodec.neighbour && resolvedAuthor == run.rightAuthor && resolvedCounter == run.rightCounter {
            return .notMaximal
        }
        return .beyondInput
    }

    /// This state after `run` (with `flags`, at offset `at`; `continues` from the check).
    @inline(__always)
    mutating func advance(_ run: TextRunFields, flags: UInt8, continues: Bool, at: Int) {
        let rightImplicit = (flags >> 5) & 3 == TextCodec.neighbour
        held = continues && rightImplicit
        heldAuthor = self.rightImplicit ? run.author : rightAuthor
        heldCounter = self.rightImplicit ? run.counter : rightCounter
        author = run.author
        end = run.counter &+ run.length
        rightAuthor = rightImplicit ? Self.implicit : run.rightAuthor
        rightCounter = run.rightCounter
        deleted = flags & TextCodec.deleted
        self.at = at
    }
}

extension MessageDecoder {
    /// Validates `count` runs (everything the format requires of them, see Docs/FORMATS.md
    /// "Text") without building them: authors go into `table` and `s` (in the same order, so a
    /// table index is the storage's author index), and `s.highest` is set.
    ///
    /// Runs by the previous run's author whose origins are their own or none (typing, and the
    /// tombstones of deleting it) go through a lean loop that keeps its state in registers;
    /// anything else, and anything that loop finds odd, through a careful path that throws the
    /// precise error.
    /// - Parameter lean: false reads every run the careful way (tests compare the two paths).
    mutating func readTextRuns(_ count: Int, _ s: TextStorage, _ table: inout [ReplicaID], lean: Bool = true) throws(DecodeError) -> TextRunPass {
        var authors = TextRunAuthors(budget: max(4_096, r.buffer.count))
        let buffer = r.buffer
        let n = buffer.count
        var offset = r.offset
        var prev = TextRunPrevious()
        var visible: UInt64 = 0
        var duplicate = false
        var k = 0
        while k < count {
            if k > 0 && lean {
                leanTextRuns(count, &k, &offset, &prev, &visible, &duplicate, &authors)
                if k == count { break }
            }
            // One run the careful way.
            let at = offset
            guard at < n else { throw .truncated(offset: at) }
            let flags = buffer[at]
            r.offset = at + 1
            let run = try readTextRun(k, flags, at: at, previous: prev.author, &table, s, &authors)
            offset = r.offset
            let slot = authors.slots + run.author
            let end = run.counter &+ run.length
            let remaining = n &- offset
            // The first run's left origin is never the neighbour (refused above), and nothing
            // precedes it: `prev` is empty, so only the length check can fail.
            let (ok, continues) = prev.check(run, flags: flags, remaining: remaining)
            let fault = ok ? nil : prev.fault(run, flags: flags, remaining: remaining)
            if let fault, fault != .beyondInput { try throwTextRunFault(fault, run, at: at, previousAt: prev.at, remaining: remaining) }
            if end &- 1 > slot.pointee.covered { try checkInContext(table[run.author], run.counter, run.length, at: at) }
            if let fault { try throwTextRunFault(fault, run, at: at, previousAt: prev.at, remaining: remaining) }
            visible &+= flags & TextCodec.deleted != 0 ? 0 : run.length
            slot.pointee.highest = max(slot.pointee.highest, end)
            slot.pointee.lastEnd = end
            if !authors.mark(run.author, run.counter, end) { duplicate = true }
            prev.advance(run, flags: flags, continues: continues, at: at)
            k += 1
        }
        if prev.rightImplicit && count > 0 { throw .nonCanonical("implicit right origin after the last run", offset: prev.at) }
        r.offset = offset
        s.highest = (0..<authors.count).map { authors.slots[$0].highest }
        return TextRunPass(visible: visible, end: offset, duplicate: duplicate, sparse: authors.sparse)
    }

    /// Reads runs from run `k` while they are lean: by the previous run's author, origins own
    /// or none, every check passed, in the context vector, and at least 48 bytes before the end
    /// of the input (so that four varints of ten bytes read without bounds checks). Stops at the
    /// first run that is not, leaving it to the careful path.
    @inline(__always)
    private func leanTextRuns(
        _ count: Int, _ k: inout Int, _ offset: inout Int, _ previous: inout TextRunPrevious, _ visible: inout UInt64,
        _ duplicate: inout Bool, _ authors: inout TextRunAuthors
    ) {
        let buffer = r.buffer
        let n = buffer.count
        let a = previous.author
        let slot = authors.slots + a
        var lastEnd = slot.pointee.lastEnd
        var highest = slot.pointee.highest
        let covered = slot.pointee.covered
        var wordBase = slot.pointee.wordBase
        var wordCount = UInt64(slot.pointee.wordCount)
        var words = slot.pointee.words
        // The previous run, in registers (its author is `a`).
        var pEnd = previous.end
        var pRightAuthor = previous.rightAuthor
        var pRightCounter = previous.rightCounter
        var pDeleted = previous.deleted
        var held = previous.held
        var heldAuthor = previous.heldAuthor
        var heldCounter = previous.heldCounter
        var pAt = previous.at
        var o = offset
        var i = k
        var total = visible
        var twice = duplicate
        let limit = Dot.maxCounter
        while i < count && o + 48 <= n {
            let flags = buffer[o]
            guard flags & TextCodec.sameAuthor != 0 && flags & 0x18 != 0x18 && flags & 0x60 != 0x60 else { break }
            var p = o + 1
            var odd = false
            /// A varint (unrolled for up to three bytes); `odd` when not minimal or past 64 bits.
            @inline(__always)
            func varint() -> UInt64 {
                let b0 = buffer[p]
                if b0 < 0x80 {
                    p &+= 1
                    return UInt64(b0)
                }
                let b1 = buffer[p &+ 1]
                if b1 < 0x80 {
                    p &+= 2
                    odd = odd || b1 == 0
                    return UInt64(b0 & 0x7F) | UInt64(b1) &<< 7
                }
                let b2 = buffer[p &+ 2]
                if b2 < 0x80 {
                    p &+= 3
                    odd = odd || b2 == 0
                    return UInt64(b0 & 0x7F) | UInt64(b1 & 0x7F) &<< 7 | UInt64(b2) &<< 14
                }
                var value = UInt64(b0 & 0x7F) | UInt64(b1 & 0x7F) &<< 7 | UInt64(b2 & 0x7F) &<< 14
                var shift: UInt64 = 21
                p &+= 3
                while true {
                    let c = buffer[p]
                    p &+= 1
                    value |= UInt64(c & 0x7F) &<< shift
                    if c < 0x80 {
                        if c == 0 || (shift == 63 && c > 1) { odd = true }
                        return value
                    }
                    shift &+= 7
                    if shift > 63 {
                        odd = true
                        return value
                    }
                }
            }
            let counter = lastEnd &+ zigzag(varint())
            var run = TextRunFields(author: a, counter: counter, length: UInt64(flags & 3) &+ 1)
            if flags & 3 == 3 {
                run.length = varint() &+ 4
                odd = odd || run.length &- 4 >= UInt64(UInt32.max) - 3
            }
            if (flags >> 3) & 3 == TextCodec.ownAuthor {
                run.leftAuthor = a
                run.leftCounter = counter &+ zigzag(varint())
                odd = odd || run.leftCounter &- 1 >= limit
            }
            if (flags >> 5) & 3 == TextCodec.ownAuthor {
                run.rightAuthor = a
                run.rightCounter = counter &+ zigzag(varint())
                odd = odd || run.rightCounter &- 1 >= limit
            }
            let end = counter &+ run.length
            // Valid counters, the run's last included: inside the context vector (which ends at
            // or below the largest counter), or the careful path checks the context's cloud.
            odd = odd || counter &- 1 >= limit || end &- 1 > covered
            // The checks of TextRunPrevious.check, for a run by the previous run's author.
            let deleted = flags & TextCodec.deleted
            let rightImplicit = (flags >> 5) & 3 == TextCodec.neighbour
            let pImplicit = pRightAuthor == TextRunPrevious.implicit
            let resolvedAuthor = pImplicit ? a : pRightAuthor
            let resolvedCounter = pImplicit ? counter : pRightCounter
            let continues = (flags >> 3) & 3 == TextCodec.neighbour && pEnd == counter && pDeleted == deleted
            odd =
                odd || (run.leftAuthor == a && run.leftCounter == pEnd &- 1) || (pRightAuthor == a && pRightCounter == counter)
                || (held && heldAuthor == a && heldCounter == counter)
                || (continues && !rightImplicit && resolvedAuthor == run.rightAuthor && resolvedCounter == run.rightCounter)
                || (deleted == 0 && run.length > UInt64(n &- p))
            if odd { break }

            // Mark its characters: inline within one bitmap word, out of line otherwise.
            let lo = counter &>> 6
            let w = lo &- wordBase
            if lo == (end &- 1) &>> 6 && w < wordCount, let words {
                let mask = (UInt64.max &>> (64 &- run.length)) &<< (counter & 63)
                let old = words[Int(w)]
                words[Int(w)] = old | mask
                twice = twice || old & mask != 0
            } else {
                twice = !authors.mark(a, counter, end) || twice
                wordBase = slot.pointee.wordBase
                wordCount = UInt64(slot.pointee.wordCount)
                words = slot.pointee.words
            }
            total &+= flags & TextCodec.deleted != 0 ? 0 : run.length
            highest = max(highest, end)
            lastEnd = end
            held = continues && rightImplicit
            heldAuthor = resolvedAuthor
            heldCounter = resolvedCounter
            pRightAuthor = rightImplicit ? TextRunPrevious.implicit : run.rightAuthor
            pRightCounter = run.rightCounter
            pEnd = end
            pDeleted = deleted
            pAt = o
            o = p
            i += 1
        }
        slot.pointee.lastEnd = lastEnd
        slot.pointee.highest = highest
        previous.end = pEnd
        previous.rightAuthor = pRightAuthor
        previous.rightCounter = pRightCounter
        previous.deleted = pDeleted
        previous.held = held
        previous.heldAuthor = heldAuthor
        previous.heldCounter = heldCounter
        previous.at = pAt
        offset = o
        k = i
        visible = total
        duplicate = twice
    }

    /// Throws the error for `fault`, in the order the checks are made (the context check, made
    /// before the length check, comes first when it fails).
    private func throwTextRunFault(
        _ fault: TextRunFault, _ run: TextRunFields, at: Int, previousAt: Int, remaining: Int
    ) throws(DecodeError) -> Never {
        switch fault {
        case .explicitLeft: throw .nonCanonical("explicit left origin equal to the previous run's end", offset: at)
        case .explicitRight: throw .nonCanonical("explicit right origin equal to the next run's start", offset: previousAt)
        case .previousNotMaximal: throw .nonCanonical("text runs not maximal", offset: previousAt)
        case .notMaximal: throw .nonCanonical("text runs not maximal", offset: at)
        case .beyondInput: throw .lengthTooLarge(Int(clamping: run.length), limit: remaining, offset: at)
        }
    }

    /// Reads run `k` after its `flags` (at `at`; `r` just after them), checking each field as it
    /// goes; a new author goes into `table`, `s` and `authors`.
    private mutating func readTextRun(
        _ k: Int, _ flags: UInt8, at: Int, previous: Int, _ table: inout [ReplicaID], _ s: TextStorage, _ authors: inout TextRunAuthors
    ) throws(DecodeError) -> TextRunFields {
        let leftMode = (flags >> 3) & 3
        let rightMode = (flags >> 5) & 3
        guard k > 0 || (flags & TextCodec.sameAuthor == 0 && leftMode != TextCodec.neighbour) else {
            throw .nonCanonical("text run refers to no previous run", offset: at)
        }
        let a: Int
        if flags & TextCodec.sameAuthor != 0 {
            a = previous
        } else {
            a = try readTextRunAuthor(&table, s, &authors)
            if a == previous { throw .nonCanonical("text run author not marked as repeated", offset: at) }
        }
        let counter = try readTextCounter(base: authors.slots[a].lastEnd)
        var length = UInt64(flags & 3) + 1
        if flags & 3 == 3 {
            let lat = r.offset
            let n = try r.varint()
            guard n < UInt64(UInt32.max) - 3 else { throw .lengthTooLarge(Int(clamping: n), limit: Int(UInt32.max), offset: lat) }
            length = n + 4
        }
        guard counter <= Dot.maxCounter - length + 1 else { throw .invalidCounter(offset: at) }
        var run = TextRunFields(author: a, counter: counter, length: length)
        (run.leftAuthor, run.leftCounter) = try readTextRunOrigin(leftMode, a, counter, at: at, &table, s, &authors)
        (run.rightAuthor, run.rightCounter) = try readTextRunOrigin(rightMode, a, counter, at: at, &table, s, &authors)
        return run
    }

    /// An origin written in `mode` for a run by author `a` starting at `counter` (`Int.max`:
    /// none, or the neighbouring run's, which the caller resolves).
    private mutating func readTextRunOrigin(
        _ mode: UInt8, _ a: Int, _ counter: UInt64, at: Int, _ table: inout [ReplicaID], _ s: TextStorage, _ authors: inout TextRunAuthors
    ) throws(DecodeError) -> (Int, UInt64) {
        if mode == TextCodec.ownAuthor { return (a, try readTextCounter(base: counter)) }
        guard mode == TextCodec.otherAuthor else { return (Int.max, 0) }
        let author = try readTextRunAuthor(&table, s, &authors)
        guard author != a else { throw .nonCanonical("text origin of the run's own author written as another's", offset: at) }
        return (author, try readTextCounter(base: authors.slots[author].lastEnd))
    }

    /// An author reference in the run block, as a table index (a new author goes into the
    /// table, the storage and `authors`).
    private mutating func readTextRunAuthor(_ table: inout [ReplicaID], _ s: TextStorage, _ authors: inout TextRunAuthors) throws(DecodeError) -> Int {
        let a = try readTextAuthorIndex(&table)
        if a == authors.count {
            _ = s.author(table[a])
            authors.append(covered: context.vector[table[a]])
        }
        return a
    }
}

/// The signed value of a zigzag varint, as the two's complement bits.
@inline(__always)
func zigzag(_ z: UInt64) -> UInt64 { (z >> 1) ^ (0 &- (z & 1)) }
