package import LatticeNode
import LatticeStore

/// The live `/v1/events` streams of one node (on its loop). Woken when the log becomes durable
/// further, and once a second (heartbeats, and subscribers that were paused for backpressure).
package final class EventHub: @unchecked Sendable {  // confined to the node's loop
    nonisolated(unsafe) private static var instance: EventHub?

    package static func shared(for node: Node) -> EventHub {
        if let h = instance, h.node === node { return h }
        let h = EventHub(node: node)
        instance = h
        return h
    }

    package final class Subscriber {
        package let stream: HTTPStream
        package var cursor: UInt64
        package let documents: Bool
        package var lastWrite: UInt64
        /// Only changes matching this filter (`where=`).
        package var filter: FeedFilter?
        package init(stream: HTTPStream, cursor: UInt64, documents: Bool, now: UInt64) {
            self.stream = stream
            self.cursor = cursor
            self.documents = documents
            lastWrite = now
        }
    }

    /// A subscriber with this much unread output is skipped until it reads.
    package static let pauseBytes = 1 << 20
    /// Records per subscriber per wake-up (then the loop serves others first).
    package static let batch = 256
    package static let heartbeatMilliseconds: UInt64 = 15_000

    package let node: Node
    private var subscribers: [ObjectIdentifier: Subscriber] = [:]
    private var ticking = false
    private var pumpPosted = false

    private init(node: Node) {
        self.node = node
        node.onDurable { [unowned self] in self.pump() }
    }

    /// Live streams now.
    package var count: Int { subscribers.count }

    package func subscribe(_ stream: HTTPStream, from cursor: UInt64, documents: Bool, filter: FeedFilter? = nil) {
        let s = Subscriber(stream: stream, cursor: cursor, documents: documents, now: EventLoop.now())
        s.filter = filter
        let key = ObjectIdentifier(stream)
        subscribers[key] = s
        stream.onClose = { [weak self] in self?.subscribers[key] = nil }
        // A subscriber paused for backpressure resumes as soon as its client caught up.
        stream.onDrain = { [weak self] in self?.schedulePump() }
        stream.send(Array("retry: 2000\nid: \(cursor)\nevent: ready\ndata: {\"cursor\": \(cursor)}\n\n".utf8))
        pump()
        startTicking()
    }

    /// Sends every subscriber what the log holds after its cursor (bounded per call).
    package func pump() {
        let durable = node.store.feedCursor
        var more = false
        for s in Array(subscribers.values) where s.stream.isOpen && s.cursor < durable && s.stream.queuedBytes < Self.pauseBytes {
            var out: [UInt8] = []
            do {
                let page = try node.store.changes(after: s.cursor, limit: Self.batch)
                var items: [(UInt64, String)]
                var last: UInt64
                if var f = s.filter {
                    (items, last) = APIQuery.render(page.changes, node: node, documents: s.documents, filter: &f)
                    s.filter = f
                } else {
                    let (texts, rendered) = APIFeed.render(page.changes, node: s.documents ? node : nil)
                    (items, last) = (zip(page.changes, texts).map { ($0.sequence, $1) }, rendered)
                }
                for (sequence, text) in items {
                    out += Array("id: \(sequence)\nevent: change\ndata: \(text)\n\n".utf8)
                }
                if last > 0 {
                    s.cursor = last
                    // Only a batch that moved on asks for another at once (no spinning on a log
                    // that says more is durable than it can read).
                    more = more || last < page.next || page.more
                }
            } catch let e as ChangeCursorExpired {
                let data = JSON.object([
                    ("error", .string("cursor_expired")), ("oldest", .uint(e.oldest)), ("resume", .uint(e.resume)),
                    ("message", .string("changes were compacted away: re-read the documents; events go on from cursor \(e.resume)")),
                ])
                out += Array("id: \(e.resume)\nevent: reset\ndata: \(data.text)\n\n".utf8)
                s.cursor = e.resume
            } catch {
                let data = JSON.object([("error", .string("internal")), ("message", .string("\(error)"))])
                s.stream.send(Array("event: error\ndata: \(data.text)\n\n".utf8))
                s.stream.close()
                continue
            }
            if !out.isEmpty {
                s.stream.send(out)
                s.lastWrite = EventLoop.now()
            }
        }
        if more { schedulePump() }
    }

    /// Runs ``pump()`` soon, once, after what the loop is doing now.
    package func schedulePump() {
        guard !pumpPosted else { return }
        pumpPosted = true
        node.loop.post { [self] in
            pumpPosted = false
            pump()
        }
    }

    private func startTicking() {
        guard !ticking else { return }
        ticking = true
        _ = node.loop.schedule(after: 1_000) { [weak self] in self?.tick() }
    }

    private func tick() {
        ticking = false
        guard !subscribers.isEmpty else { return }
        let now = EventLoop.now()
        for s in subscribers.values where now >= s.lastWrite + Self.heartbeatMilliseconds {
            s.stream.send(Array(": keep-alive\n\n".utf8))
            s.lastWrite = now
        }
        pump()
        startTicking()
    }
}
