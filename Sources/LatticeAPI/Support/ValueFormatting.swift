import Foundation
package import LatticeCRDT
import LatticeCrypto
import LatticeNode

/// A value as JSON (bytes as {"$bytes": base64}; non-finite doubles as {"$double": "nan"}).
package func valueJSON(_ v: Value) -> JSON {
    switch v {
    case .null: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .double(let d):
        return d.isFinite ? .double(d) : .object([("$double", .string(String(d)))])
    case .string(let s): return .string(s)
    case .bytes(let b): return .object([("$bytes", .string(Data(b).base64EncodedString()))])
    }
}

/// A value for humans: strings quoted, bytes as b64:….
package func valueText(_ v: Value) -> String {
    switch v {
    case .bytes(let b): return "b64:" + Data(b).base64EncodedString()
    case .double(let d) where !d.isFinite: return String(d)
    default: return valueJSON(v).text
    }
}

package func replicaHex(_ r: ReplicaID) -> String { hexDigits(r.rawValue, width: 16) }

package func dotText(_ d: Dot) -> String { "\(replicaHex(d.replica)):\(d.counter)" }

/// An HLC stamp as ISO-8601 UTC with milliseconds, plus the logical counter when non-zero.
package func stampText(_ t: Timestamp) -> String {
    let s = isoTime(milliseconds: t.milliseconds)
    return t.logical == 0 ? s : "\(s)+\(t.logical)"
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), without a formatter object
/// (building an `ISO8601DateFormatter` per value cost ~0.1 ms: a listing of documents spent most
/// of its time there). Days to civil date: Howard Hinnant's `civil_from_days`.
package func isoTime(milliseconds: UInt64) -> String {
    let ms = Int64(clamping: milliseconds)
    let days = ms / 86_400_000
    let inDay = ms % 86_400_000
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    // One buffer: the year's digits (at least 4), then the fixed-width rest.
    var yearDigits = 4
    var y = year / 10_000
    while y > 0 {
        yearDigits += 1
        y /= 10
    }
    let count = yearDigits + 20
    return String(unsafeUninitializedCapacity: count) { b in
        func put(_ v: Int64, _ width: Int, at start: Int) {
            var v = v
            for i in stride(from: start + width - 1, through: start, by: -1) {
                b[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            }
        }
        // YYYY-MM-DDTHH:MM:SS.mmmZ, the year possibly longer.
        let y = yearDigits
        put(year, y, at: 0)
        b[y] = UInt8(ascii: "-")
        put(month, 2, at: y + 1)
        b[y + 3] = UInt8(ascii: "-")
        put(day, 2, at: y + 4)
        b[y + 6] = UInt8(ascii: "T")
        put(inDay / 3_600_000, 2, at: y + 7)
        b[y + 9] = UInt8(ascii: ":")
        put(inDay / 60_000 % 60, 2, at: y + 10)
        b[y + 12] = UInt8(ascii: ":")
        put(inDay / 1_000 % 60, 2, at: y + 13)
        b[y + 15] = UInt8(ascii: ".")
        put(inDay % 1_000, 3, at: y + 16)
        b[y + 19] = UInt8(ascii: "Z")
        return count
    }
}

/// A tag as JSON: its dot (with the per-collection author ID it was minted under), `origin` =
/// the node replica that wrote it (as `lattice peers` and `status` print replicas), `node` = that
/// node's ID when the running node knows it (itself or a peer it has met), stamp and time.
package func tagJSON(_ t: Tag, in collection: Key) -> [(String, JSON)] {
    let origin = ReplicaID.node(ofScoped: t.dot.replica, in: collection)
    var out: [(String, JSON)] = [("dot", .string(dotText(t.dot))), ("origin", .string(replicaHex(origin)))]
    if let node = Hosting.node?.nodeID(of: origin) { out.append(("node", .string(node.description))) }
    return out + [("stamp", .uint(t.stamp.rawValue)), ("time", .string(stampText(t.stamp)))]
}

/// Who wrote a tagged value, for people: the node ID when the running node knows it, else the
/// node replica (as `lattice peers` prints it), with the dot.
package func originText(_ t: Tag, _ collection: Key) -> String {
    let origin = ReplicaID.node(ofScoped: t.dot.replica, in: collection)
    let who = Hosting.node?.nodeID(of: origin)?.description ?? replicaHex(origin)
    return "\(who) (dot \(dotText(t.dot)))"
}

/// A field as JSON: kind, value, and for registers every sibling with dot, stamp and origin.
package func fieldJSON(_ field: Field, in collection: Key) -> JSON {
    var text = ""
    writeFieldJSON(field, in: collection, into: &text)
    return .raw(text)
}

/// Appends a field as JSON (what ``fieldJSON(_:in:)`` gives), written straight into `out`: a
/// listing renders every document this way, without building a tree per document.
package func writeFieldJSON(_ field: Field, in collection: Key, into out: inout String) {
    guard let fv = field.value else {
        out += "null"
        return
    }
    let kinds = field.kinds
    func writeKinds() {
        guard kinds.count > 1 else { return }
        out += ", \"kinds\": ["
        for (k, kind) in kinds.enumerated() {
            if k > 0 { out += ", " }
            writeJSONString(kind.rawValue, into: &out)
        }
        out += "]"
    }
    switch fv {
    case .register(let v, let siblings):
        out += "{\"kind\": \"register\", \"value\": "
        valueJSON(v).write(into: &out)
        writeKinds()
        out += siblings.count > 1 || kinds.count > 1 ? ", \"conflict\": true, \"siblings\": [" : ", \"conflict\": false, \"siblings\": ["
        for (k, s) in siblings.enumerated() {
            out += k > 0 ? ", {\"value\": " : "{\"value\": "
            valueJSON(s.value).write(into: &out)
            writeTagJSON(s.tag, in: collection, into: &out)
            out += "}"
        }
        out += "]}"
    case .set(let elements):
        out += "{\"kind\": \"set\", \"value\": ["
        for (k, e) in elements.enumerated() {
            if k > 0 { out += ", " }
            valueJSON(e).write(into: &out)
        }
        out += "]"
        writeKinds()
        out += "}"
    case .counter(let n):
        out += "{\"kind\": \"counter\", \"value\": "
        out += String(n)
        writeKinds()
        out += "}"
    case .text(let string):
        out += "{\"kind\": \"text\", \"value\": "
        writeJSONString(string, into: &out)
        out += ", \"version\": "
        writeJSONString(field.text?.versionToken ?? "v1", into: &out)
        writeKinds()
        out += kinds.count > 1 ? ", \"conflict\": true}" : ", \"conflict\": false}"
    }
}

/// Appends a tag's members as ``tagJSON(_:in:)`` gives them, each after ", " (dot, origin,
/// node when known, stamp, time: hex digits, digits and ISO time, which need no escaping).
private func writeTagJSON(_ t: Tag, in collection: Key, into out: inout String) {
    let origin = ReplicaID.node(ofScoped: t.dot.replica, in: collection)
    out += ", \"dot\": \""
    out += replicaHex(t.dot.replica)
    out += ":"
    out += String(t.dot.counter)
    out += "\", \"origin\": \""
    out += replicaHex(origin)
    out += "\""
    if let node = Hosting.node?.nodeID(of: origin) {
        out += ", \"node\": "
        writeJSONString(node.description, into: &out)
    }
    out += ", \"stamp\": "
    out += String(t.stamp.rawValue)
    out += ", \"time\": \""
    out += stampText(t.stamp)
    out += "\""
}

/// A conflict as `lattice conflicts --json` prints it: the field, the kinds present, and every
/// register sibling with its value and tag.
/// - Parameters:
///   - c: the conflict.
///   - about: more keys for a sibling, after its value (the demo names the node that wrote it).
/// - Returns: the JSON object.
package func conflictJSON(_ c: Conflict, about: (RegisterEntry) -> [(String, JSON)] = { _ in [] }) -> JSON {
    .object([
        ("collection", .string(c.path.collection.string)), ("id", .string(c.path.document.string)),
        ("field", .string(c.path.field.string)), ("kinds", .array(c.kinds.map { .string($0.rawValue) })),
        ("siblings", .array(c.siblings.map { .object([("value", valueJSON($0.value))] + about($0) + tagJSON($0.tag, in: c.path.collection)) })),
    ])
}

/// A document as `export`, `ls --docs` and the API print it: collection, ID, and each field (in
/// byte order of the names) as ``fieldJSON(_:in:)`` gives it.
package func documentJSON(_ collection: Key, _ id: Key, _ doc: Document) -> JSON {
    var fields: [(String, JSON)] = []
    for name in doc.fieldNames {
        if let f = doc.fields[name] { fields.append((name.string, fieldJSON(f, in: collection))) }
    }
    return .object([("collection", .string(collection.string)), ("id", .string(id.string)), ("fields", .object(fields))])
}

/// Appends ``documentJSON(_:_:_:)``'s text, written straight into `out` (no tree).
package func writeDocumentJSON(_ collection: Key, _ id: Key, _ doc: Document, into out: inout String) {
    out += "{\"collection\": "
    writeJSONString(collection.string, into: &out)
    out += ", \"id\": "
    writeJSONString(id.string, into: &out)
    out += ", \"fields\": {"
    var first = true
    for name in doc.fieldNames {
        guard let f = doc.fields[name] else { continue }
        if !first { out += ", " }
        first = false
        writeJSONString(name.string, into: &out)
        out += ": "
        writeFieldJSON(f, in: collection, into: &out)
    }
    out += "}}"
}

/// ``documentJSON(_:_:_:)``'s text.
package func documentJSONText(_ collection: Key, _ id: Key, _ doc: Document) -> String {
    var out = ""
    writeDocumentJSON(collection, id, doc, into: &out)
    return out
}
