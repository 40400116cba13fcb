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
    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
    return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(inDay / 3_600_000, 2) + ":" + pad(inDay / 60_000 % 60, 2) + ":"
        + pad(inDay / 1_000 % 60, 2) + "." + pad(inDay % 1_000, 3) + "Z"
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

package func documentJSON(_ collection: Key, _ id: Key, _ doc: Document) -> JSON {
    var fields: [(String, JSON)] = []
    for name in doc.fieldNames {
        if let f = doc.fields[name] { fields.append((name.string, fieldJSON(f, in: collection))) }
    }
    return .object([("collection", .string(collection.string)), ("id", .string(id.string)), ("fields", .object(fields))])
}
