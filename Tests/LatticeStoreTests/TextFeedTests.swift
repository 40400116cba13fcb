import LatticeCRDT
import LatticeStore
import Testing

/// The change feed reports text edits as splices an editor can apply: following the feed from
/// an empty text, applying every change's splices in order, always gives the node's text.
@Suite struct TextFeedTests {
    static let me = ReplicaID(0xA1)
    static let other = ReplicaID(0xB2)
    static let body = FieldPath("knowledge", "k1", "body")

    /// An editor's copy of the text, in Unicode scalars.
    struct Editor {
        var scalars: [Unicode.Scalar] = []
        var version = "v1"
        var text: String { String(String.UnicodeScalarView(scalars)) }

        /// Applies one change; false when the feed says to re-read.
        mutating func follow(_ change: ChangeEntry, _ path: FieldPath) -> Bool {
            for d in change.documents where d.collection == path.collection && d.id == path.document {
                for t in d.texts where t.field == path.field {
                    guard let splices = t.splices, let v = t.version else { return false }
                    for s in splices {
                        guard s.position + s.deleted <= scalars.count else { return false }
                        scalars.replaceSubrange(s.position..<(s.position + s.deleted), with: Array(s.inserted.unicodeScalars))
                    }
                    version = v
                }
            }
            return true
        }
    }

    func text(_ s: ReplicaStore) -> (String, String) {
        guard let t = s.state.field(Self.body)?.text else { return ("", "v1") }
        return (t.string, t.versionToken)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func anEditorFollowingTheFeedReadsTheNodesText(seed: UInt64) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        var rng = SeededRandom(seed: seed)
        var remote = Replica(id: Self.other)
        var held: [Delta] = []  // remote deltas not delivered yet (delivered out of order)
        var editor = Editor()
        var cursor: UInt64 = 0
        let words = ["a", "bc", "déf", "👍🏽", "e\u{301}", " ", "xyz"]
        for step in 0..<300 {
            let now = 1_000 + UInt64(step)
            switch rng.next() % 5 {
            case 0, 1:
                let length = s.state.field(Self.body)?.text?.count ?? 0
                let pos = Int(rng.next() % UInt64(length + 1))
                let del = min(length - pos, Int(rng.next() % 4))
                let word = words[Int(rng.next() % UInt64(words.count))]
                try s.commit { r, d in try r.spliceText(Self.body, at: pos, deleting: del, inserting: word, now: now, into: &d) }
            case 2:
                let length = remote.state.field(Self.body)?.text?.count ?? 0
                let pos = Int(rng.next() % UInt64(length + 1))
                let del = min(length - pos, Int(rng.next() % 3))
                var d = Delta()
                try remote.spliceText(Self.body, at: pos, deleting: del, inserting: words[Int(rng.next() % UInt64(words.count))], now: now, into: &d)
                held.append(d)
            case 3 where !held.isEmpty:
                // Deliver one held delta (any of them: characters may wait for their origins),
                // sometimes twice.
                let k = Int(rng.next() % UInt64(held.count))
                let d = held.remove(at: k)
                try s.integrate(remote: d, now: now)
                if rng.next() % 4 == 0 { try s.integrate(remote: d, now: now) }
            default:
                // The remote side catches up with this node.
                remote.join(s.state, now: now)
            }
            try s.flush()
            let page = try s.changes(after: cursor, limit: 1_000)
            for c in page.changes {
                let followed = editor.follow(c, Self.body)
                #expect(followed, "seed \(seed) step \(step): record \(c.sequence) has no splices")
            }
            cursor = page.next
            let (string, version) = text(s)
            #expect(editor.text == string, "seed \(seed) step \(step)")
            if !page.changes.isEmpty { #expect(editor.version == version, "seed \(seed) step \(step)") }
        }
        // A catch-up from a state that holds everything still reports splices.
        _ = try s.integrate(catchUp: remote.state.delta(since: s.state.versionVector), now: 9_000)
        try s.flush()
        for c in try s.changes(after: cursor, limit: 1_000).changes {
            let followed = editor.follow(c, Self.body)
            #expect(followed, "seed \(seed)")
        }
        #expect(editor.text == text(s).0, "seed \(seed)")
        remote.join(s.state, now: 9_000)
        #expect(editor.text == remote.state.field(Self.body)?.text?.string ?? "", "seed \(seed)")
    }

    @Test func afterARestartTheFeedSaysReRead() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
            try s.commit { r, d in try r.insertText(Self.body, at: 0, "hello", now: 1_000, into: &d) }
            try s.commit { r, d in try r.set(FieldPath("knowledge", "k1", "title"), .string("t"), now: 1_001, into: &d) }
            let live = try s.changes(after: 0, limit: 10).changes
            #expect(live[0].documents[0].texts == [TextChange(field: "body", splices: [TextSplice(position: 0, deleted: 0, inserted: "hello")], version: text(s).1)])
            #expect(live[1].documents[0].texts.isEmpty)
            try s.close()
        }
        let s = try ReplicaStore.open(at: dir.path, replicaID: Self.me, options: options(.none))
        defer { try? s.close() }
        let replayed = try s.changes(after: 0, limit: 10).changes
        #expect(replayed[0].documents[0].texts == [TextChange(field: "body", splices: nil, version: nil)])
        // New changes after the restart have their splices again; a splice of a deletion and an
        // insertion at one place is reported as one.
        let r = try s.commit { r, d in try r.spliceText(Self.body, at: 1, deleting: 3, inserting: "ipp", now: 2_000, into: &d) }
        let page = try s.changes(after: r.sequence - 1, limit: 10).changes
        #expect(page[0].documents[0].texts.first?.splices == [TextSplice(position: 1, deleted: 3, inserted: "ipp")])
        #expect(text(s).0 == "hippo")
        // Deleting the document reports the deletion of every character.
        let del = try s.commit { r, d in r.deleteDocument("knowledge", "k1", now: 3_000, into: &d) }
        let gone = try s.changes(after: del.sequence - 1, limit: 10).changes
        #expect(gone[0].documents[0].texts.first?.splices == [TextSplice(position: 0, deleted: 5, inserted: "")])
    }
}
