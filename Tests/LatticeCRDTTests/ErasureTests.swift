@testable import LatticeCRDT
import Testing

/// Erase ("forget"): the erased content leaves every replica, whatever the order changes
/// arrive in, and writes after the erase stay.
@Suite struct ErasureTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard haystack.count >= n.count else { return false }
        for i in 0...(haystack.count - n.count) where haystack[i] == n[0] && Array(haystack[i..<i + n.count]) == n { return true }
        return false
    }

    @Test func anErasedDocumentLeavesNoContentWhateverTheDeliveryOrder() throws {
        for seed in propertySeeds(60, salt: 0xE4A5E) {
            var g = SplitMix64(seed: seed)
            var a = Replica(id: ReplicaID(0xA0000001))
            var b = Replica(id: ReplicaID(0xB0000002))
            var c = Replica(id: ReplicaID(0xC0000003))
            let now: UInt64 = 1_700_000_000_000
            let doc = FieldPath("memories", "m1", "note")
            var deltas: [Delta] = []
            // A writes the secret in a register, a set and a text; B and C receive it.
            var d = Delta()
            try a.set(doc, .string("SECRET-register"), now: now, into: &d)
            try a.add(FieldPath("memories", "m1", "tags"), [.string("SECRET-tag")], now: now, into: &d)
            try a.insertText(FieldPath("memories", "m1", "body"), at: 0, "SECRET-text typed", now: now, into: &d)
            deltas.append(d)
            b.apply(d, now: now)
            c.apply(d, now: now)
            // C, offline, edits concurrently before the erase (an earlier stamp).
            var dc = Delta()
            try c.set(FieldPath("memories", "m1", "importance"), .string("SECRET-concurrent"), now: now + 1, into: &dc)
            deltas.append(dc)
            // B erases the document later; then writes a new field of it.
            var de = Delta()
            b.erase("memories", "m1", now: now + 1_000, into: &de)
            deltas.append(de)
            var dn = Delta()
            try b.set(FieldPath("memories", "m1", "after"), .string("kept"), now: now + 2_000, into: &dn)
            deltas.append(dn)
            // Every replica (and a fresh one) receives every change, in a random order, twice.
            var replicas = [a, b, c, Replica(id: ReplicaID(0xD0000004))]
            for i in replicas.indices {
                for delta in (deltas + deltas).shuffled(using: &g) { replicas[i].apply(delta, now: now + 3_000) }
            }
            let states = replicas.map(\.state)
            guard states.allSatisfy({ $0 == states[0] }) else {
                failed("replicas diverged after the erase", seed: seed, test: "anErasedDocumentLeavesNoContent")
                continue
            }
            let encoded = states[0].encoded()
            if Self.contains(encoded, "SECRET") { failed("erased content is still in the state", seed: seed, test: "anErasedDocumentLeavesNoContent") }
            #expect(states[0].value(FieldPath("memories", "m1", "after"))?.register == .string("kept"))
            #expect(states[0].erasures.count == 1)
            // A change that still carries the content is stripped before it is logged.
            for delta in deltas {
                let stripped = states[0].strippingErased(delta) ?? delta
                if Self.contains(stripped.encoded(), "SECRET") { failed("a stripped change keeps content", seed: seed, test: "anErasedDocumentLeavesNoContent") }
                #expect(stripped.context == delta.context, "stripping keeps the change's dots")
            }
        }
    }

    @Test func aFieldEraseLeavesTheOtherFields() throws {
        var a = Replica(id: ReplicaID(0xA1))
        let now: UInt64 = 1_700_000_000_000
        var d = Delta()
        try a.set(FieldPath("m", "d", "note"), .string("forget me"), now: now, into: &d)
        try a.set(FieldPath("m", "d", "topic"), .string("cats"), now: now, into: &d)
        var b = Replica(id: ReplicaID(0xB2))
        b.apply(d, now: now)
        var e = Delta()
        a.erase("m", "d", field: "note", now: now + 5, into: &e)
        b.apply(e, now: now + 5)
        #expect(a.state == b.state)
        #expect(b.state.value(FieldPath("m", "d", "note")) == nil)
        #expect(b.state.value(FieldPath("m", "d", "topic"))?.register == .string("cats"))
        #expect(!Self.contains(b.state.encoded(), "forget me"))
        let erasure = try #require(b.state.erasures.first)
        #expect(erasure.field == "note" && erasure.target == "m" && erasure.document == "d")
        #expect(ReplicaID.node(ofScoped: erasure.tag.dot.replica, in: Erasure.collection) == a.id)
    }

    @Test func aLaterEraseOfTheSamePathCoversTheEarlierOne() throws {
        var a = Replica(id: ReplicaID(0xA1))
        var b = Replica(id: ReplicaID(0xB2))
        let now: UInt64 = 1_700_000_000_000
        var d1 = Delta()
        try a.set(FieldPath("m", "d", "note"), .string("first"), now: now, into: &d1)
        var e1 = Delta()
        a.erase("m", "d", now: now + 1, into: &e1)
        var d2 = Delta()
        try a.set(FieldPath("m", "d", "note"), .string("second"), now: now + 2, into: &d2)
        var e2 = Delta()
        a.erase("m", "d", now: now + 3, into: &e2)
        // B gets only the second erase first, then the old content: both stay erased.
        for delta in [e2, d1, d2, e1] { b.apply(delta, now: now + 4) }
        #expect(a.state == b.state)
        #expect(b.state.document("m", "d") == nil)
        #expect(b.state.erasures.count == 1, "the second erase superseded the first")
    }

    @Test func textTypedAfterTheEraseStaysAndErasedTextIsTombstones() throws {
        let path = FieldPath("m", "d", "body")
        var a = Replica(id: ReplicaID(0xA1))
        var b = Replica(id: ReplicaID(0xB2))
        let now: UInt64 = 1_700_000_000_000
        var d = Delta()
        try a.insertText(path, at: 0, "private words", now: now, into: &d)
        b.apply(d, now: now)
        var e = Delta()
        a.erase("m", "d", field: "body", now: now + 1, into: &e)
        var n = Delta()
        try a.insertText(path, at: 0, "new", now: now + 2, into: &n)
        for delta in [n, e, d] { b.apply(delta, now: now + 3) }
        #expect(a.state == b.state)
        #expect(b.state.value(path) == .text("new"))
        #expect(!Self.contains(b.state.encoded(), "private"))
    }

    @Test func erasureAddressesRoundTripAndForeignNamesAreNotErasures() {
        for (c, d) in [("memories", "m1"), ("a/b", "c/d"), ("", "x"), ("12:ab", "/"), ("é", "👍🏽")] {
            let key = Erasure.documentKey(Key(c), Key(d))
            let back = Erasure.target(ofDocumentKey: key)
            #expect(back?.collection == Key(c) && back?.document == Key(d), "\(c) \(d)")
        }
        for bad in ["", "x", "3:ab", "03:abc/d", "-1:a/b", "99999999999:a/b", "2:abX"] {
            #expect(Erasure.target(ofDocumentKey: Key(bad)) == nil, "\(bad)")
        }
        #expect(Erasure.seen(from: .bytes([5])) == nil)
        #expect(Erasure.seen(from: .string("x")) == nil)
        let v = VersionVector([ReplicaID(7): 3, ReplicaID(1 << 60): 1 << 40])
        #expect(Erasure.seen(from: Erasure.value(of: v)) == v)
    }
}

extension FieldValue {
    /// The register's read value, if this is a register.
    var register: Value? {
        if case .register(let v, _) = self { return v }
        return nil
    }
}
