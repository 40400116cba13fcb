import Foundation
import LatticeCRDT
import LatticeCrypto
package import LatticeNode
import LatticeStore
import LatticeSync

/// `GET /metrics`: the node's counters, gauges and histograms in the Prometheus text format.
package enum APIMetrics {
    /// The Prometheus text exposition of the node's counters and gauges.
    package static func render(_ node: Node) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP lattice_\(name) \(help)\n# TYPE lattice_\(name) \(type)\n"
            for (labels, value) in samples {
                let v = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
                out += "lattice_\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(v)\n"
            }
        }
        func histogram(_ name: String, _ help: String, _ h: Histogram) {
            out += "# HELP lattice_\(name) \(help)\n# TYPE lattice_\(name) histogram\n"
            for (bound, c) in zip(h.bounds.map { String($0) } + ["+Inf"], h.cumulative) {
                out += "lattice_\(name)_bucket{le=\"\(bound)\"} \(c)\n"
            }
            out += "lattice_\(name)_sum \(h.sum)\nlattice_\(name)_count \(h.count)\n"
        }
        func label(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") }
        let stats = node.engine.stats
        let store = node.store
        metric("changes_local_total", "counter", "Local changes committed through this node.", [("", Double(node.localCommits))])
        metric("changes_remote_total", "counter", "Remote changes integrated (new to this node).", [("", Double(stats.integrated))])
        metric("merges_total", "counter", "Merges into the replica: remote changes and catch-ups joined.", [("", Double(stats.integrated + stats.catchUpsReceived))])
        metric("changes_duplicate_total", "counter", "Remote changes that were already here.", [("", Double(stats.duplicates))])
        metric("changes_forbidden_total", "counter", "Remote changes refused by selective sync.", [("", Double(stats.forbidden))])
        metric("changes_sent_total", "counter", "Changes sent to peers.", [("", Double(stats.changesSent))])
        metric("catchups_total", "counter", "State catch-ups sent and received.", [
            ("direction=\"sent\"", Double(stats.catchUpsSent)), ("direction=\"received\"", Double(stats.catchUpsReceived)),
        ])
        metric("anti_entropy_rounds_total", "counter", "Anti-entropy rounds started.", [("", Double(stats.antiEntropyRounds))])
        metric("lazy_push_total", "counter", "Lazy push: changes announced instead of sent, asked for after an announcement, and sent because a peer asked.", [
            ("event=\"announced\"", Double(stats.announced)), ("event=\"grafted\"", Double(stats.graftsSent)),
            ("event=\"graft_served\"", Double(stats.graftsServed)),
        ])
        metric("stream_stalls_total", "counter", "Session streams reported stalled (sent bytes waiting on the peer's acknowledgement); whole forwards avoid them.", [("", Double(stats.stalls))])
        metric("protocol_violations_total", "counter", "Peers' protocol violations (each quarantines the peer).", [("", Double(stats.violations))])
        metric("conflicts", "gauge", "Fields holding concurrent values now.", [("", Double(store.state.conflicts().count))])
        metric("documents", "gauge", "Documents in the replica.", [("", Double(store.state.applicationDocumentCount))])
        metric("erasures", "gauge", "Erasures (forgets) the replica holds.", [("", Double(store.state.erasures.count))])
        if let purge = store.lastPurge {
            metric("last_purge_rewritten_records", "gauge", "Log records the last erase purge rewrote.", [("", Double(purge.log.records))])
        }
        metric("index_upkeep_seconds_total", "counter", "Time spent keeping the query indexes up to date after changes (local, from peers, catch-ups, erases).", [("", store.indexes.upkeepSeconds)])
        metric("log_bytes", "gauge", "Bytes in the log's segments.", [("", Double(store.store.log.byteCount))])
        metric("log_syncs_total", "counter", "Group commits (fsyncs) requested by the node.", [("", Double(node.syncs))])
        let pending = Dictionary(((try? store.pending()) ?? []).map { ($0.peer, $0.pending) }, uniquingKeysWith: { a, _ in a })
        var bytes: [(String, Double)] = []
        var messages: [(String, Double)] = []
        var queued: [(String, Double)] = []
        var connected: [(String, Double)] = []
        for (info, nodeID, _) in node.peerReport {
            let peer = "peer=\"\(label(nodeID?.description ?? info.peer.description))\""
            bytes += [(peer + ",direction=\"in\"", Double(info.bytesIn)), (peer + ",direction=\"out\"", Double(info.bytesOut))]
            messages += [(peer + ",direction=\"in\"", Double(info.messagesIn)), (peer + ",direction=\"out\"", Double(info.messagesOut))]
            queued.append((peer, Double(pending[info.peer.description] ?? 0)))
            connected.append((peer, info.connection == nil ? 0 : 1))
        }
        metric("peer_bytes_total", "counter", "Sync message bytes per peer and direction.", bytes)
        metric("peer_messages_total", "counter", "Sync messages per peer and direction.", messages)
        metric("peer_pending_changes", "gauge", "Changes the peer has not acknowledged.", queued)
        metric("peer_connected", "gauge", "1 while a session with the peer is up.", connected)
        metric("handshake_failures_total", "counter", "Connections refused or failed in the handshake, by reason.",
            node.connectionFailures.sorted { $0.key < $1.key }.map { ("reason=\"\(label($0.key))\"", Double($0.value)) })
        metric("beacons_total", "counter", "LAN discovery beacons by outcome.",
            node.beaconCounts.sorted { $0.key < $1.key }.map { ("outcome=\"\($0.key)\"", Double($0.value)) })
        // Packets refused before any parsing past authentication: sealed TCP frames of live
        // sessions and UDP beacons, by transport and reason.
        let beacons = node.beaconCounts
        var dropped: [(String, Double)] = node.droppedFrames.sorted { $0.key < $1.key }.map { ("transport=\"tcp\",reason=\"\(label($0.key))\"", Double($0.value)) }
        for (outcome, reason) in [("unauthenticated", "auth"), ("replayed", "replay"), ("malformed", "malformed"), ("stale", "stale")] {
            dropped.append(("transport=\"udp\",reason=\"\(reason)\"", Double(beacons[outcome] ?? 0)))
        }
        metric("packets_dropped_total", "counter", "Packets dropped by transport and reason (auth, replay, malformed, stale).", dropped)
        metric("isolated", "gauge", "1 while the node is in isolation mode.", [("", node.isolated ? 1 : 0)])
        histogram("replication_latency_seconds", "From a remote change's HLC time on its origin node to its integration here.", node.replicationLatency)
        histogram("fsync_duration_seconds", "Duration of each log fdatasync.", store.store.log.fsyncLatency)
        return out
    }

}
