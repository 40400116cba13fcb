import LatticeCRDT
import Testing

/// A delta touching one field holds it directly; one touching several uses the nested store.
/// Both forms must read, encode, compare and hash as the same content.
@Suite("Delta forms (one field held directly, several nested)")
struct DeltaFormTests {
    let title = FieldPath("knowledge", "k1", "title")
    let body = FieldPath("knowledge", "k1", "body")
    let other = FieldPath("memories", "m1", "note")

    @Test func oneFieldAndManyFieldsReadAndRoundTripAlike() throws {
        var r = Replica(id: ReplicaID(7))
        let a = try r.set(title, .string("t"), now: 10)
        let b = try r.set(body, .string("b"), now: 11)
        let c = try r.increment(other, by: 3, now: 12)
        #expect(a.collections == ["knowledge"] && Array(a.collectionNames) == ["knowledge"])
        #expect(a.store["knowledge"]?["k1"]?.fields.keys.sorted() == ["title"])
        var fields: [FieldPath] = []
        a.forEachField { path, _ in fields.append(path) }
        #expect(fields == [title])

        let ab = a.joined(b)
        let abc = ab.joined(c)
        #expect(abc.collections == ["knowledge", "memories"])
        #expect(Set(abc.collectionNames) == ["knowledge", "memories"] && abc.collectionNames.count == 2)
        #expect(abc.entryCount == 3)
        for d in [a, b, c, ab, abc] {
            let decoded = try Delta(decoding: d.encoded())
            #expect(decoded == d)
            #expect(decoded.hashValue == d.hashValue)
            #expect(decoded.encoded() == d.encoded())
        }
        // Joining a one-field delta with itself keeps it equal (idempotence across forms).
        #expect(a.joined(a) == a && a.joined(a).encoded() == a.encoded())
        // Order of joining does not matter, whichever form each side had.
        #expect(c.joined(b).joined(a) == abc)
        #expect(Set([abc, c.joined(a).joined(b)]).count == 1)
    }

    @Test func aOneFieldDeltaEqualsTheSameContentBuiltAsANestedStore() throws {
        var r = Replica(id: ReplicaID(9))
        let a = try r.set(title, .int(42), now: 100)
        // A fresh replica's first write: the catch-up of a state holding only it carries the
        // same context and entry, built through the nested store (its inspection delta).
        var state = ReplicaState()
        state.apply(a)
        let viaStore = state.delta(since: VersionVector()).inspectionDelta
        #expect(viaStore == a)
        #expect(viaStore.hashValue == a.hashValue)
        #expect(viaStore.encoded() == a.encoded())
        // A document deletion touches every field of the document: the nested form.
        _ = try r.set(body, .string("b"), now: 101)
        let deletion = r.deleteDocument("knowledge", "k1", now: 102)
        #expect(deletion.store["knowledge"]?["k1"]?.fields.count == 2)
        #expect(try Delta(decoding: deletion.encoded()) == deletion)
    }
}
