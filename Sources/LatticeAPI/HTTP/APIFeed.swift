import Foundation
import LatticeCRDT
package import LatticeNode
package import LatticeStore

/// The change feed: `GET /v1/changes?since=CURSOR` (paged) and `GET /v1/events` (server-sent
/// events, resumable with `Last-Event-ID`). Both read the log, so a client that went away — or
/// one too slow to keep up — resumes exactly where it stopped; a cursor is a log sequence.
package enum APIFeed {
    package static let defaultLimit = 100
    package static let maxLimit = 1_000
    /// A page (or one batch of events) stops growing past this many bytes of JSON (it always
    /// holds at least one change): the loop never builds a huge answer, memory stays bounded.
    package static let pageBytes = 1 << 20

    /// `GET /v1/changes?since=N&limit=L&documents=1`.
    package static func changes(_ request: HTTPRequest, node: Node) -> HTTPResponse {
        let query = APIRoutes.queryItems(request.target)
        guard let since = cursor(query["since"] ?? "0") else {
            return .error(400, code: "bad_request", message: "since must be a cursor (a whole number from an earlier page or event; 0 = from the start)")
        }
        var limit = defaultLimit
        if let l = query["limit"] {
            guard let n = Int(l), n > 0 else { return .error(400, code: "bad_request", message: "limit must be a positive whole number (at most \(maxLimit))") }
            limit = min(n, maxLimit)
        }
        if let r = ahead(since, node) { return r }
        let documents = query["documents"].map { NodeConfig.boolean($0) ?? false } ?? false
        var filter: FeedFilter?
        switch APIQuery.feedFilter(request.target) {
        case .success(let f): filter = f
        case .failure(let e): return e.response
        }
        let page: ChangePage
        do {
            page = try node.store.changes(after: since, limit: limit)
        } catch let e as ChangeCursorExpired {
            return expired(e)
        } catch {
            return .error(500, code: "internal", message: "\(error)")
        }
        var (texts, next) = filter == nil ? render(page.changes, node: documents ? node : nil) : ([], 0)
        if var f = filter {
            let (items, last) = APIQuery.render(page.changes, node: node, documents: documents, filter: &f)
            (texts, next) = (items.map(\.1), last)
        }
        let more = next < page.next || page.more
        let body = "{\"changes\": [" + texts.joined(separator: ", ") + "], \"next\": \(next == 0 ? page.next : next), \"more\": \(more)}\n"
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    /// `GET /v1/events[?since=N][&documents=1]` (or `Last-Event-ID: N`): every durable change
    /// after the cursor, then live ones; without a cursor, from now.
    package static func events(_ request: HTTPRequest, node: Node) -> HTTPResponse {
        let query = APIRoutes.queryItems(request.target)
        let given = request.header("last-event-id") ?? query["since"]
        var start = node.store.feedCursor
        if let given {
            guard let c = cursor(given) else {
                return .error(400, code: "bad_request", message: "Last-Event-ID / since must be a cursor (a whole number from an earlier event)")
            }
            start = c
            if let r = ahead(c, node) { return r }
        }
        let documents = query["documents"].map { NodeConfig.boolean($0) ?? false } ?? false
        var filter: FeedFilter?
        switch APIQuery.feedFilter(request.target) {
        case .success(let f): filter = f
        case .failure(let e): return e.response
        }
        filter?.seed(from: node.store)
        let seeded = filter
        let from = start
        var response = HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
        response.stream = { stream in
            let hub = EventHub.shared(for: node)
            hub.subscribe(stream, from: from, documents: documents, filter: seeded)
        }
        return response
    }

    package static func cursor(_ text: String) -> UInt64? { UInt64(text.trimmingCharacters(in: .whitespaces)) }

    /// A cursor past this node's log comes from another node (or a data directory that was
    /// replaced): following it would silently skip changes, so it is refused.
    package static func ahead(_ cursor: UInt64, _ node: Node) -> HTTPResponse? {
        // Appended but not yet durable is still this node's: a read answers it as its cursor.
        let now = node.store.store.log.lastSequence
        guard cursor > now else { return nil }
        return .error(409, code: "cursor_ahead", message: "cursor \(cursor) is past this node's newest change (\(now)); it belongs to another node or an older data directory: re-read the documents and follow from \(now)")
    }

    package static func expired(_ e: ChangeCursorExpired) -> HTTPResponse {
        let body = JSON.object([
            ("error", .string("cursor_expired")),
            ("message", .string("changes before \(e.oldest) were compacted into a snapshot; re-read the documents (GET /v1/docs/…) and follow from cursor \(e.resume)")),
            ("oldest", .uint(e.oldest)), ("resume", .uint(e.resume)),
        ])
        return HTTPResponse(status: 410, headers: [("Content-Type", "application/json")], body: Array((body.text + "\n").utf8))
    }

    /// Changes as JSON texts, stopping once ``pageBytes`` are used (never before the first):
    /// the texts and the cursor of the last one rendered (0 for none).
    package static func render(_ changes: [ChangeEntry], node: Node?) -> (texts: [String], last: UInt64) {
        var texts: [String] = []
        var bytes = 0
        var last: UInt64 = 0
        for c in changes {
            if !texts.isEmpty && bytes >= pageBytes { break }
            let text = changeJSON(c, node: node, budget: pageBytes - min(bytes, pageBytes)).text
            bytes += text.utf8.count
            texts.append(text)
            last = c.sequence
        }
        return (texts, last)
    }

    /// What a change did to text fields: per field, its splices and the version after them, or
    /// `"resync": true` when this node no longer knows them (re-read the text).
    package static func textJSON(_ texts: [TextChange]) -> JSON {
        .object(
            texts.map { t in
                guard let splices = t.splices, let version = t.version else { return (t.field.string, .object([("resync", .bool(true))])) }
                let list: [JSON] = splices.map {
                    .object([("position", .int(Int64($0.position))), ("delete", .int(Int64($0.deleted))), ("insert", .string($0.inserted))])
                }
                return (t.field.string, .object([("splices", .array(list)), ("version", .string(version))]))
            })
    }

    /// One change as JSON; with `node`, each touched document as it is now (null if deleted),
    /// as long as `budget` bytes allow — past it the documents are listed without their
    /// contents and the change says `"documents_omitted": true` (read them with GET).
    package static func changeJSON(_ c: ChangeEntry, node: Node?, budget: Int = .max) -> JSON {
        var used = 0
        var omitted = false
        let docs: [JSON] = c.documents.map { d in
            var fields: [(String, JSON)] = [
                ("collection", .string(d.collection.string)), ("id", .string(d.id.string)),
                ("fields", .array(d.fields.map { .string($0.string) })), ("removal", .bool(d.removal)),
            ]
            if !d.texts.isEmpty { fields.append(("text", textJSON(d.texts))) }
            if d.erased { fields.append(("erased", .bool(true))) }
            if let node, !omitted {
                let doc = node.store.state.document(d.collection, d.id)
                let json = doc.flatMap { $0.isEmpty ? nil : documentJSON(d.collection, d.id, $0) } ?? .null
                let size = json.text.utf8.count
                if used > 0 && used + size > budget {
                    omitted = true
                } else {
                    used += size
                    fields.append(("document", json))
                }
            }
            return .object(fields)
        }
        return .object(
            [
            ("cursor", .uint(c.sequence)), ("origin", .string(c.origin.rawValue)),
            ("author", c.author.map { .string(replicaHex($0)) } ?? .null),
            ("time", c.stamp.map { .string(stampText($0)) } ?? .null),
            ("documents", .array(docs)),
            ] + (omitted ? [("documents_omitted", .bool(true))] : []))
    }
}
