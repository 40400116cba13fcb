import Foundation
import LatticeCRDT
import LatticeCrypto
package import LatticeNode
package import LatticeStore
import LatticeSync

/// `lattice peers` and `lattice sync`: the running node's view of its peers.
package enum PeerCommands {
    package static let peersHelp = """
        usage: lattice peers [--json] [--data DIR]

        Every peer this node knows: node ID, address, connected since or last seen, the vector
        it acknowledged, changes it has not acknowledged yet and the age of the oldest (lag),
        bytes and messages in and out, round-trip time, and the last error. Without a running
        node only the stored watermarks (pending changes per peer) are shown.
        """
    package static let syncHelp = """
        usage: lattice sync [--json] [--data DIR]

        Starts an anti-entropy round with every connected peer now (needs a running node).
        """

    package static func peers(_ a: [String]) throws(CLIError) {
        let args = try Arguments("peers", a)
        if args.help { return out(peersHelp) }
        try args.expect(0...0, "peers")
        let (store, _) = try openNode(args)
        let pending: [PeerPending]
        do { pending = try store.pending() } catch { throw cliError(error) }
        guard let node = Hosting.node else {
            try? closeStore(store)
            if args.json {
                return out(JSON.object([("running", .bool(false)), ("peers", .array(pending.map { .object([("peer", .string($0.peer)), ("pending", .int(Int64($0.pending)))]) }))]).text)
            }
            out("node not running; stored watermarks:")
            if pending.isEmpty { out("  no peers known") }
            for p in pending { out("  \(p.peer): \(p.pending) pending") }
            return
        }
        let report = livePeers(node, pending: pending)
        if args.json { return out(JSON.object([("running", .bool(true)), ("peers", .array(report.map(\.json)))]).text) }
        for r in report { for line in r.lines { out(line) } }
        if report.isEmpty { out("no peers known yet (add --peer NODE_ID@HOST:PORT to lattice run, or wait for discovery)") }
    }

    /// The running node's peers: a JSON object and the text lines of each (for `peers` and `status`).
    package static func livePeers(_ node: Node, pending: [PeerPending]) -> [(json: JSON, lines: [String])] {
        let byName = Dictionary(pending.map { ($0.peer, $0) }, uniquingKeysWith: { a, _ in a })
        let now = EventLoop.now()
        var items: [(json: JSON, lines: [String])] = []
        for (info, nodeID, address) in node.peerReport {
            let p = byName[info.peer.description]
            let connected = info.connection != nil
            let fields: [(String, JSON)] = [
                ("node_id", .string(nodeID?.description ?? "")), ("replica", .string(info.peer.description)),
                ("address", .string(address?.description ?? "")), ("connected", .bool(connected)),
                ("connected_for_ms", info.connectedSince.map { .uint(now - min(now, $0)) } ?? .null),
                ("last_seen_ms_ago", info.lastSeen.map { .uint(now - min(now, $0)) } ?? .null),
                ("synced", .bool(info.synced)), ("acknowledged_changes", .uint(info.acknowledged.total)),
                ("pending", .int(Int64(p?.pending ?? 0))), ("lag_ms", p?.oldestAgeMilliseconds.map { .uint($0) } ?? .null),
                ("bytes_in", .int(Int64(info.bytesIn))), ("bytes_out", .int(Int64(info.bytesOut))),
                ("messages_in", .int(Int64(info.messagesIn))), ("messages_out", .int(Int64(info.messagesOut))),
                ("rtt_ms", info.rtt.map { .uint($0) } ?? .null),
                ("quarantined_for_ms", info.quarantinedUntil > now ? .uint(info.quarantinedUntil - now) : .null),
                ("last_error", info.lastError.map { .string($0) } ?? .null),
            ]
            var lines: [String] = []
            let id = nodeID?.description ?? info.peer.description
            let state = connected
                ? "connected \(String(format: "%.1f", Double(now - min(now, info.connectedSince ?? now)) / 1000)) s\(info.synced ? ", synced" : ", syncing")"
                : "offline" + (info.lastSeen.map { ", last seen \(String(format: "%.1f", Double(now - min(now, $0)) / 1000)) s ago" } ?? "")
            lines.append("\(id)  \(address?.description ?? "-")  \(state)")
            let lag = p?.oldestAgeMilliseconds.map { ", lag \(String(format: "%.1f", Double($0) / 1000)) s" } ?? ""
            lines.append("  pending \(p?.pending ?? 0)\(lag); acknowledged \(info.acknowledged.total) changes; in \(info.bytesIn) B / \(info.messagesIn) msgs, out \(info.bytesOut) B / \(info.messagesOut) msgs\(info.rtt.map { "; rtt \($0) ms" } ?? "")")
            if info.quarantinedUntil > now { lines.append("  quarantined for \((info.quarantinedUntil - now) / 1000) s") }
            if let e = info.lastError { lines.append("  last error: \(e)") }
            items.append((.object(fields), lines))
        }
        return items
    }

    package static func sync(_ a: [String]) throws(CLIError) {
        let args = try Arguments("sync", a)
        if args.help { return out(syncHelp) }
        try args.expect(0...0, "sync")
        guard let node = Hosting.node else {
            throw CLIError(message: "no node is running on \(args.dataDirectory); start one with `lattice run`", code: .unavailable)
        }
        let live = node.engine.liveSessions.count
        node.forceSync()
        if args.json { return out(JSON.object([("ok", .bool(true)), ("peers", .int(Int64(live)))]).text) }
        out("anti-entropy round started with \(live) peer(s)")
    }
}
