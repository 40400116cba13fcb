import Foundation
import LatticeCRDT
import Testing

private let path = FieldPath("knowledge", "k1", "body")

private func text(_ r: Replica) -> String {
    if case .text(let s)? = r.state.value(path) { return s }
    return ""
}

private func replica(_ n: UInt64) -> Replica { Replica(id: ReplicaID(n &* 0x1000_0000_0001)) }

@Suite("Text: a sequence CRDT (seeded; LATTICE_SEED replays one case)")
struct TextTests {
    @Test func localEditsMatchAPlainString() throws {
        for seed in propertySeeds(60, salt: 41) {
            var g = SplitMix64(seed: seed)
            var r = replica(1)
            var model: [Unicode.Scalar] = []
            for step in 0..<400 {
                let at = Int.random(in: 0...model.count, using: &g)
                if model.isEmpty || Int.random(in: 0..<10, using: &g) < 6 {
                    let piece = Workload.textPieces.randomElement(using: &g)!
                    _ = try r.insertText(path, at: at, piece, now: UInt64(step))
                    model.insert(contentsOf: piece.unicodeScalars, at: at)
                } else {
                    let n = Int.random(in: 0...min(5, model.count - at), using: &g)
                    _ = try r.deleteText(path, at: at, count: n, now: UInt64(step))
                    model.removeSubrange(at..<at + n)
                }
                var expected = String.UnicodeScalarView()
                expected.append(contentsOf: model)
                if text(r) != String(expected) {
                    failed("local text differs from the model at step \(step)", seed: seed, test: "localEditsMatchAPlainString")
                    break
                }
            }
            // The state survives an encode/decode round trip.
            let decoded = try ReplicaState(decoding: r.state.encoded())
            if decoded != r.state || decoded.encoded() != r.state.encoded() {
                failed("text state does not round-trip", seed: seed, test: "localEditsMatchAPlainString")
            }
        }
    }

    @Test func concurrentEditsConvergeInAnyDeliveryOrder() throws {
        for seed in propertySeeds(80, salt: 42) {
            var g = SplitMix64(seed: seed)
            var replicas = (1...3).map { replica(UInt64($0)) }
            var deltas: [Delta] = []
            for step in 0..<60 {
                let i = Int.random(in: 0..<3, using: &g)
                if Int.random(in: 0..<4, using: &g) == 0 && !deltas.isEmpty {
                    replicas[i].apply(deltas.randomElement(using: &g)!, now: UInt64(step))
                    continue
                }
                let length = text(replicas[i]).unicodeScalars.count
                let at = Int.random(in: 0...length, using: &g)
                var d = Delta()
                if length == 0 || Bool.random(using: &g) {
                    try replicas[i].insertText(path, at: at, Workload.textPieces.randomElement(using: &g)!, now: UInt64(step), into: &d)
                } else {
                    try replicas[i].deleteText(path, at: at, count: Int.random(in: 0...(length - at), using: &g), now: UInt64(step), into: &d)
                }
                if !d.isEmpty { deltas.append(d) }
            }
            for i in replicas.indices {
                var order = deltas + deltas.filter { _ in Bool.random(using: &g) }
                order.shuffle(using: &g)
                for d in order { replicas[i].apply(d, now: 100) }
            }
            let strings = replicas.map(text)
            if Set(strings).count != 1 || replicas[0].state != replicas[1].state || replicas[1].state != replicas[2].state {
                failed("replicas diverged: \(strings.map { $0.debugDescription })", seed: seed, test: "concurrentEditsConvergeInAnyDeliveryOrder")
            }
            if replicas[0].state.encoded() != replicas[2].state.encoded() {
                failed("equal texts encode differently", seed: seed, test: "concurrentEditsConvergeInAnyDeliveryOrder")
            }
            // A catch-up from state alone reaches the same text.
            var fresh = replica(9)
            fresh.join(replicas[0].state.delta(since: fresh.state.versionVector), now: 100)
            if text(fresh) != strings[0] { failed("catch-up differs", seed: seed, test: "concurrentEditsConvergeInAnyDeliveryOrder") }
        }
    }

    @Test func concurrentInsertionsAtOnePlaceDoNotInterleave() throws {
        var a = replica(1)
        var b = replica(2)
        let base = try a.insertText(path, at: 0, "[]", now: 1)
        b.apply(base, now: 1)
        var da: [Delta] = []
        var db: [Delta] = []
        // Each types a word one character at a time at the same place.
        for (k, ch) in "hello".enumerated() { da.append(try a.insertText(path, at: 1 + k, String(ch), now: 2)) }
        for (k, ch) in "WORLD".enumerated() { db.append(try b.insertText(path, at: 1 + k, String(ch), now: 2)) }
        for d in db.reversed() { a.apply(d, now: 3) }  // out of order: the later ones wait
        for d in da { b.apply(d, now: 3) }
        #expect(text(a) == text(b))
        #expect(text(a) == "[helloWORLD]" || text(a) == "[WORLDhello]")
    }

    @Test func deletingARangeWhileAnotherSideEditsInsideIt() throws {
        var a = replica(1)
        var b = replica(2)
        b.apply(try a.insertText(path, at: 0, "one two three", now: 1), now: 1)
        let cut = try a.deleteText(path, at: 3, count: 4, now: 2)  // " two"
        let inside = try b.insertText(path, at: 5, "X", now: 2)  // "one tXwo three"
        let after = try b.deleteText(path, at: 8, count: 6, now: 3)  // drops " three"
        a.apply(inside, now: 4)
        a.apply(after, now: 4)
        b.apply(cut, now: 4)
        #expect(text(a) == "oneX")
        #expect(text(b) == "oneX")
        #expect(a.state == b.state)
        // An insert into a range deleted concurrently survives; the range's characters do not.
        var c = replica(3)
        c.join(a.state, now: 5)
        let wipe = try a.deleteText(path, at: 0, count: 4, now: 6)
        let add = try c.insertText(path, at: 2, "++", now: 6)
        a.apply(add, now: 7)
        c.apply(wipe, now: 7)
        #expect(text(a) == "++")
        #expect(text(c) == "++")
    }

    @Test func positionsAreUnicodeScalarsAndNeverSplitOne() throws {
        var a = replica(1)
        _ = try a.insertText(path, at: 0, "e\u{301}👍🏽!", now: 1)  // e + combining acute, thumbs + skin tone
        #expect(text(a).unicodeScalars.count == 5)
        _ = try a.insertText(path, at: 1, "x", now: 2)  // between e and its combining mark: allowed, scalar-aligned
        #expect(text(a) == "ex\u{301}👍🏽!")
        _ = try a.deleteText(path, at: 3, count: 2, now: 3)  // the emoji and its modifier
        #expect(text(a) == "ex\u{301}!")
        #expect(throws: EditError.self) { try a.insertText(path, at: 5, "late", now: 4) }
        #expect(throws: EditError.self) { try a.deleteText(path, at: 2, count: 3, now: 4) }
        let before = a.state
        #expect(throws: EditError.self) {
            var d = Delta()
            try a.applySplices(path, [TextSplice(position: 0, deleted: 1, inserted: "y"), TextSplice(position: 9, deleted: 0, inserted: "z")], now: 5, into: &d)
        }
        #expect(a.state == before)  // nothing changed
        let decoded = try ReplicaState(decoding: a.state.encoded())
        if case .text(let s)? = decoded.value(path) { #expect(s == "ex\u{301}!") } else { Issue.record("no text after decoding") }
    }

    @Test func typingIsOneRunAndCostsAFewBytes() throws {
        var a = replica(1)
        var deltaBytes = 0
        for (k, ch) in "The quick brown fox jumps over the lazy dog".enumerated() {
            deltaBytes = try a.insertText(path, at: k, String(ch), now: UInt64(k)).encoded().count
        }
        let state = a.state.encoded()
        // 43 characters of text, one run: the state is the text plus a small constant.
        #expect(state.count < 43 + 48, "state of one typed sentence: \(state.count) bytes")
        #expect(deltaBytes < 64, "one keystroke's delta: \(deltaBytes) bytes")
    }

    @Test func registerBecomesTextAndPutReplacesText() throws {
        var a = replica(1)
        var b = replica(2)
        b.apply(try a.set(path, .string("draft"), now: 1), now: 1)
        var d = Delta()
        try a.convertToText(path, now: 2, into: &d)
        #expect(text(a) == "draft")
        b.apply(d, now: 3)
        #expect(text(b) == "draft")
        #expect(b.state.field(path)?.registers.isEmpty == true)
        var r = Delta()
        try b.replaceText(path, with: "final", now: 4, into: &r)
        a.apply(r, now: 5)
        #expect(text(a) == "final")
        #expect(throws: EditError.self) { try a.set(path, .string("no"), now: 6) }
        var n = Delta()
        #expect(throws: EditError.self) { try a.convertToText(FieldPath("k", "d", "n"), now: 6, into: &n) }
    }

    @Test func deletingADocumentKeepsConcurrentTextEdits() throws {
        var a = replica(1)
        var b = replica(2)
        b.apply(try a.insertText(path, at: 0, "memo", now: 1), now: 1)
        let del = a.deleteDocument(path.collection, path.document, now: 2)
        #expect(a.state.document(path.collection, path.document) == nil)
        #expect(a.state.documentIDs(in: path.collection).isEmpty)
        let edit = try b.insertText(path, at: 4, "!", now: 2)
        a.apply(edit, now: 3)
        b.apply(del, now: 3)
        #expect(text(a) == "!")
        #expect(a.state == b.state)
    }

    @Test func textDecoderRefusesTruncationsAndGarbage() throws {
        var a = replica(1)
        var b = replica(2)
        b.apply(try a.insertText(path, at: 0, "héllo wörld", now: 1), now: 1)
        b.apply(try a.deleteText(path, at: 2, count: 3, now: 2), now: 2)
        _ = try b.insertText(path, at: 1, "✓", now: 3)
        let bytes = b.state.encoded()
        for n in 0..<bytes.count { #expect(throws: DecodeError.self) { try ReplicaState(decoding: Array(bytes[..<n])) } }
        var g = SplitMix64(seed: 7)
        var refused = 0
        for _ in 0..<2000 {
            var m = bytes
            m[Int.random(in: 3..<m.count, using: &g)] ^= UInt8.random(in: 1...255, using: &g)
            if let s = try? ReplicaState(decoding: m) {
                #expect(s.encoded() == m)  // whatever decodes is canonical
            } else {
                refused += 1
            }
        }
        #expect(refused > 0)
    }

    /// The decode fuzzer starts from text: `Fuzz/FailCases/decode/seed-text-*` are a state, a
    /// delta with characters still waiting for their origins and deletions of characters not held,
    /// and a catch-up, each holding text. `LATTICE_WRITE_FUZZ_SEEDS=1` writes them again (after a
    /// format change).
    @Test func theDecodeFuzzerHasTextSeeds() throws {
        var a = replica(1)
        var b = replica(2)
        var deltas: [Delta] = []
        deltas.append(try a.insertText(path, at: 0, "héllo wörld 👍🏽", now: 1))
        deltas.append(try a.deleteText(path, at: 2, count: 3, now: 2))
        deltas.append(try a.insertText(path, at: 4, "e\u{301}", now: 3))
        for d in deltas { b.apply(d, now: 4) }
        deltas.append(try b.insertText(path, at: 1, "✓✓", now: 5))
        var waiting = replica(3)
        waiting.apply(deltas[2], now: 6)  // origins not held yet: waits, with a deletion of unheld characters
        waiting.apply(deltas[1], now: 6)
        // A paragraph typed with a few backspaces and a second author's word: typing-shaped runs
        // far enough from the end for the decoder's lean pass.
        var typist = replica(4)
        var at = 0
        for (k, ch) in "Notes from the call: the user prefers short answers, likes examples in Swift, and asked to be reminded on Fridays about the weekly report.".unicodeScalars.enumerated() {
            _ = try typist.insertText(path, at: at, String(ch), now: 10)
            at += 1
            if k % 29 == 28 {
                _ = try typist.deleteText(path, at: at - 1, count: 1, now: 10)
                at -= 1
            }
        }
        var other = replica(5)
        other.join(typist.state, now: 11)
        typist.apply(try other.insertText(path, at: 20, "(important) ", now: 12), now: 12)
        let seeds: [(String, [UInt8])] = [
            ("seed-text-typed-state", typist.state.encoded()),
            ("seed-text-state", b.state.encoded()),
            ("seed-text-waiting-state", waiting.state.encoded()),
            ("seed-text-delta", deltas[3].encoded()),
            ("seed-text-catch-up", b.state.delta(since: a.state.versionVector).encoded()),
        ]
        let dir = "/" + String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/") + "/Fuzz/FailCases/decode/"
        if ProcessInfo.processInfo.environment["LATTICE_WRITE_FUZZ_SEEDS"] == "1" {
            for (name, bytes) in seeds { _ = FileManager.default.createFile(atPath: dir + name, contents: Data(bytes)) }
        }
        for (name, bytes) in seeds {
            let stored = FileManager.default.contents(atPath: dir + name).map { [UInt8]($0) }
            #expect(stored == bytes, "\(name) is missing or stale: run with LATTICE_WRITE_FUZZ_SEEDS=1")
            #expect(InvariantChecks.codecRoundTrip(bytes) == nil, "\(name)")
        }
        #expect(try ReplicaState(decoding: seeds[2].1).field(path)?.text != nil)
    }
}
