import Foundation
import LatticeCRDT
import Testing

import LatticeAPI
import LatticeSync

/// The hand-written formatters of listings print exactly what Foundation's formatters print.
@Suite struct FormattingTests {
    @Test func timesMatchISO8601DateFormatter() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var g = SystemRandomNumberGenerator()
        let samples: [UInt64] = [0, 1, 999, 1_000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_399_999, 1_764_000_000_123]
            + (0..<2_000).map { _ in UInt64.random(in: 0...253_402_300_799_999, using: &g) }  // up to 9999-12-31
        for ms in samples {
            let expected = f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
            #expect(isoTime(milliseconds: ms) == expected, "\(ms)")
        }
    }

    @Test func hexAndJSONMatchTheFormatStrings() {
        for v: UInt64 in [0, 1, 0xabc, 0xFFFF_FFFF_FFFF_FFFF, 0x0123_4567_89ab_cdef] {
            #expect(replicaHex(ReplicaID(v)) == String(format: "%016llx", v))
            #expect(hexDigits(v & 0xFF, width: 2) == String(format: "%02x", v & 0xFF))
        }
        #expect(jsonString("a\"b\\c\nd\u{1}é") == #""a\"b\\c\nd\u0001é""#)
        #expect(JSON.object([("x", .double(2)), ("y", .double(-0.0)), ("z", .double(0.25)), ("a", .array([.null, .bool(true), .int(-3)]))]).text
            == #"{"x": 2.0, "y": -0.0, "z": 0.25, "a": [null, true, -3]}"#)
    }

    @Test func hexDigitsPadAndWiden() {
        for v: UInt64 in [0, 1, 0xf, 0x10, 0xabc, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF] {
            for width in [0, 1, 2, 5, 16, 20] {
                let plain = String(v, radix: 16)
                let expected = String(repeating: "0", count: max(0, width - plain.count)) + plain
                #expect(hexDigits(v, width: width) == expected, "\(v) width \(width)")
            }
        }
    }

    /// The streaming writer that `export` and `ls --docs` use prints exactly what the JSON tree
    /// of the previous implementation (kept below as the reference) printed, for documents with
    /// every kind of field: register conflicts, sets, counters, texts, kind conflicts, bytes,
    /// non-finite doubles and strings that need escaping.
    @Test func streamedDocumentsMatchTheTreeRendering() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SyncRandom(seed: seed)
        var a = Replica(id: ReplicaID(0xA1))
        var b = Replica(id: ReplicaID(0xB2))
        let values: [Value] = [
            .null, .bool(true), .int(-7), .double(2), .double(-0.0), .double(0.1), .double(.nan), .double(-.infinity),
            .string("plain"), .string("q\"uote\\back\nline\u{1}é😀"), .bytes([0, 1, 254, 255]),
        ]
        var now: UInt64 = 1_763_800_000_000
        // Kind conflicts for certain: concurrent first writes of a register and a counter, and
        // of a register and a text.
        do {
            var d = Delta()
            try a.set(FieldPath("docs", "k", "mixed"), .string("x"), now: now, into: &d)
            try b.increment(FieldPath("docs", "k", "mixed"), by: 2, now: now, into: &d)
            try a.set(FieldPath("docs", "k", "notes"), .int(5), now: now, into: &d)
            try b.insertText(FieldPath("docs", "k", "notes"), at: 0, "t", now: now, into: &d)
            let (sa, sb) = (a.state, b.state)
            a.join(sb, now: now)
            b.join(sa, now: now)
        }
        for step in 0..<600 {
            now += g.next() % 5_000
            let r = g.next() % 2 == 0
            let id = Key("d\(g.next() % 12)")
            let field = Key(["title", "tags", "count", "notes", "mixed"][Int(g.next() % 5)])
            let path = FieldPath("docs", id, field)
            var delta = Delta()
            func edit(_ replica: inout Replica) {
                switch field.string {
                case "title": try? replica.set(path, values[Int(g.next() % UInt64(values.count))], now: now, into: &delta)
                case "tags":
                    if g.next() % 3 == 0 {
                        try? replica.remove(path, [values[Int(g.next() % UInt64(values.count))]], now: now, into: &delta)
                    } else {
                        try? replica.add(path, [values[Int(g.next() % UInt64(values.count))]], now: now, into: &delta)
                    }
                case "count": try? replica.increment(path, by: Int64(g.next() % 7) - 3, now: now, into: &delta)
                case "notes": try? replica.insertText(path, at: 0, "ab\"c", now: now, into: &delta)
                default:
                    // Concurrent first writes of different kinds: a kind conflict.
                    if g.next() % 2 == 0 { try? replica.set(path, .int(1), now: now, into: &delta) } else { try? replica.increment(path, by: 1, now: now, into: &delta) }
                }
            }
            if r { edit(&a) } else { edit(&b) }
            // Exchange now and then, so that some writes are concurrent (siblings, kind conflicts).
            if step % 7 == 6 {
                let (sa, sb) = (a.state, b.state)
                a.join(sb, now: now)
                b.join(sa, now: now)
            }
        }
        var checked = 0
        for state in [a.state, b.state] {
            for id in state.documentIDs(in: "docs") {
                guard let doc = state.document("docs", id) else { continue }
                #expect(documentJSONText("docs", id, doc) == Self.referenceDocument("docs", id, doc).text, "seed \(seed), \(id)")
                checked += 1
            }
        }
        #expect(checked > 10, "seed \(seed)")
        #expect(a.state.document("docs", "k").map { documentJSONText("docs", "k", $0).contains("\"kinds\": [") } == true)
    }

    /// The JSON tree `export` printed before 2026-12-07 (the reference).
    static func referenceDocument(_ collection: Key, _ id: Key, _ doc: Document) -> JSON {
        var fields: [(String, JSON)] = []
        for name in doc.fieldNames {
            if let f = doc.fields[name] { fields.append((name.string, referenceField(f, in: collection))) }
        }
        return .object([("collection", .string(collection.string)), ("id", .string(id.string)), ("fields", .object(fields))])
    }

    static func referenceField(_ field: Field, in collection: Key) -> JSON {
        guard let fv = field.value else { return .null }
        var kinds: [(String, JSON)] = []
        if field.kinds.count > 1 { kinds = [("kinds", .array(field.kinds.map { .string($0.rawValue) }))] }
        switch fv {
        case .register(let v, let siblings):
            return .object(
                [("kind", .string("register")), ("value", valueJSON(v))] + kinds + [
                    ("conflict", .bool(siblings.count > 1 || field.kinds.count > 1)),
                    ("siblings", .array(siblings.map { .object([("value", valueJSON($0.value))] + tagJSON($0.tag, in: collection)) })),
                ])
        case .set(let elements):
            return .object([("kind", .string("set")), ("value", .array(elements.map(valueJSON)))] + kinds)
        case .counter(let n):
            return .object([("kind", .string("counter")), ("value", .int(n))] + kinds)
        case .text(let string):
            return .object(
                [("kind", .string("text")), ("value", .string(string)), ("version", .string(field.text?.versionToken ?? "v1"))] + kinds
                    + [("conflict", .bool(field.kinds.count > 1))])
        }
    }
}
