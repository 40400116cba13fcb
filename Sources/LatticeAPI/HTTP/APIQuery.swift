import Foundation
package import LatticeCRDT
package import LatticeNode
package import LatticeStore

/// The query parameters of the API: `GET /v1/docs/C?where=…&order=…&desc=1&docs=1` (as `ls`
/// options) and the filtered change feed (`/v1/changes` and `/v1/events` with `where=`).
package enum APIQuery {
    /// Every value of a repeatable query parameter, percent-decoded, in order.
    /// - Parameters:
    ///   - target: the request target (`/path?a=1&a=2`).
    ///   - name: the parameter.
    /// - Returns: its values.
    package static func values(_ target: String, _ name: String) -> [String] {
        guard let q = target.firstIndex(of: "?") else { return [] }
        var out: [String] = []
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard decode(kv[0]) == name, let v = kv.count > 1 ? decode(kv[1]) : "" else { continue }
            out.append(v)
        }
        return out
    }

    /// The `ls` options of a document listing's query parameters (besides prefix, after, limit).
    /// - Parameter target: the request target.
    /// - Returns: `--where …`, `--order …`, `--desc`, `--docs`.
    package static func listOptions(_ target: String) -> [String] {
        var options: [String] = []
        for w in values(target, "where") { options += ["--where", w] }
        if let o = values(target, "order").last { options += ["--order", o] }
        if let d = values(target, "desc").last, NodeConfig.boolean(d) ?? false { options.append("--desc") }
        if let d = values(target, "docs").last, NodeConfig.boolean(d) ?? false { options.append("--docs") }
        return options
    }

    /// The 400 answer for a failed query (`ls` with conditions), or nil for another failure.
    /// - Parameter message: the command's error message.
    /// - Returns: the response with a named code.
    package static func failure(_ message: String) -> HTTPResponse? {
        QueryParsing.apiCode(message).map { HTTPResponse.error(400, code: $0, message: message) }
    }

    /// The change feed's filter from `where=` (repeatable, ANDed) and `collection=`; nil without
    /// `where=`; a 400 response for a malformed condition.
    package static func feedFilter(_ target: String) -> Result<FeedFilter?, FeedFilterError> {
        let conditions = values(target, "where")
        guard !conditions.isEmpty else { return .success(nil) }
        var parsed: [QueryCondition] = []
        for c in conditions {
            do { parsed.append(try QueryParsing.condition(c)) } catch {
                return .failure(FeedFilterError(response: failure(error.message) ?? .error(400, code: "bad_request", message: error.message)))
            }
        }
        let collection = values(target, "collection").last.flatMap { $0.isEmpty ? nil : Key($0) }
        return .success(FeedFilter(collection: collection, conditions: parsed))
    }

    /// A malformed feed filter, as the response to send.
    package struct FeedFilterError: Error {
        package var response: HTTPResponse
    }

    /// Changes as JSON texts through `filter`, stopping once ``APIFeed/pageBytes`` are used: the
    /// delivered `(cursor, text)` pairs, and the cursor of the last change looked at (delivered
    /// or skipped; 0 for none).
    package static func render(_ changes: [ChangeEntry], node: Node, documents: Bool, filter: inout FeedFilter) -> (items: [(UInt64, String)], last: UInt64) {
        var items: [(UInt64, String)] = []
        var bytes = 0
        var last: UInt64 = 0
        let state = node.store.state
        for c in changes {
            if !items.isEmpty && bytes >= APIFeed.pageBytes { break }
            last = c.sequence
            var kept = c
            var marks: [Bool] = []
            kept.documents = c.documents.filter { d in
                guard let matches = filter.classify(d, state) else { return false }
                marks.append(matches)
                return true
            }
            guard !kept.documents.isEmpty else { continue }
            let json = APIFeed.changeJSON(kept, node: documents ? node : nil, budget: APIFeed.pageBytes - min(bytes, APIFeed.pageBytes))
            let text = marked(json, marks).text
            bytes += text.utf8.count
            items.append((c.sequence, text))
        }
        return (items, last)
    }

    /// Adds `"matches": true|false` to each document of a rendered change.
    private static func marked(_ change: JSON, _ marks: [Bool]) -> JSON {
        guard case .object(var fields) = change, let i = fields.firstIndex(where: { $0.0 == "documents" }),
            case .array(let docs) = fields[i].1
        else { return change }
        fields[i].1 = .array(
            docs.enumerated().map { n, d in
                guard case .object(let f) = d, n < marks.count else { return d }
                return .object(f + [("matches", .bool(marks[n]))])
            })
        return .object(fields)
    }
}

/// Which changes a filtered feed delivers (`Docs/API.md`, "Filtered feed"): a change is
/// delivered with the documents it touched that match the conditions as the node holds them
/// when it reads the change (`"matches": true`), and once with a document that stopped
/// matching (`"matches": false`). A live stream (`/v1/events`) knows which documents matched
/// since it started (seeded from the indexes), so it marks exactly those that leave; a page of
/// `/v1/changes` has no memory and marks every non-matching document whose change touched a
/// field of the conditions (or removed it), so it may also report some that never matched.
package struct FeedFilter: Sendable {
    /// A document of a collection.
    package struct DocumentRef: Hashable, Sendable {
        package var collection: Key
        package var id: Key
    }

    /// Only this collection (nil: every collection).
    package var collection: Key?
    /// The conditions, ANDed.
    package var conditions: [QueryCondition]
    /// Documents known to match (live streams); nil for a stateless page.
    package var matched: Set<DocumentRef>?

    /// A stateless filter.
    package init(collection: Key?, conditions: [QueryCondition]) {
        self.collection = collection
        self.conditions = conditions
    }

    /// Starts remembering matches from the documents that match now, found by the indexes.
    /// - Parameter store: the node's store.
    package mutating func seed(from store: ReplicaStore) {
        var set = Set<DocumentRef>()
        let names = collection.map { [$0] } ?? store.state.applicationCollections
        for c in names {
            var q = Query(collection: c)
            q.conditions = conditions
            // A collection without one of the fields has no match yet.
            guard let ids = try? store.query(q) else { continue }
            for id in ids { set.insert(DocumentRef(collection: c, id: id)) }
        }
        matched = set
    }

    /// Whether to deliver a touched document: `true` (it matches), `false` (it stopped
    /// matching), nil (skip it).
    package mutating func classify(_ d: ChangeEntry.DocumentChange, _ state: ReplicaState) -> Bool? {
        if let collection, d.collection != collection { return nil }
        let doc = state.document(d.collection, d.id)
        let matches = doc.map { doc in conditions.allSatisfy { $0.matches(doc) } } ?? false
        let ref = DocumentRef(collection: d.collection, id: d.id)
        if matched != nil {
            if matches {
                matched?.insert(ref)
                return true
            }
            return matched?.remove(ref) != nil ? false : nil
        }
        if matches { return true }
        let touched = doc == nil || d.removal || d.fields.contains { f in conditions.contains { $0.field == f } }
        return touched ? false : nil
    }
}
