public import LatticeCRDT

/// A connection the I/O layer opened (after the secure handshake authenticated the peer).
public typealias ConnectionID = UInt64

/// How a message travels.
public enum Channel: Equatable, Sendable {
    /// The session's reliable, ordered stream (TCP).
    case stream
    /// A datagram under the session's keys (UDP): may be lost, duplicated or reordered.
    case datagram
}

/// What the engine asks its driver to do, in order.
public enum SyncAction: Equatable, Sendable {
    /// Send an encoded ``Message`` on a connection.
    case send(ConnectionID, [UInt8], Channel)
    /// Make every storage append so far durable before performing any later action.
    case flush
    /// Open a connection to this peer (report ``SyncEngine/connected(_:peer:outbound:now:)`` or
    /// ``SyncEngine/dialFailed(_:now:reason:)``).
    case dial(ReplicaID)
    /// Close the connection once the sends before this action are out.
    case close(ConnectionID, reason: String)
    /// Something worth a log line.
    case event(SyncEvent)
}

/// Notable engine events (the node logs them; tests observe them).
public enum SyncEvent: Equatable, Sendable {
    /// A session started.
    case connected(ReplicaID, outbound: Bool)
    /// A session ended.
    case disconnected(ReplicaID, reason: String)
    /// The peer sent everything this node lacked.
    case synced(ReplicaID)
    /// The peer broke the protocol and is refused until `until`.
    case quarantined(ReplicaID, reason: String, until: UInt64)
    /// A change was refused by the selective-sync policy.
    case forbidden(ReplicaID, collection: String)
    /// The peer says this node once acknowledged more than it has now (restored backup, lost disk).
    case regressed(ReplicaID)
    /// Storage failed; nothing from the peer was acknowledged.
    case storageFailed(String)
}

/// What the engine knows about one peer across sessions.
public struct PeerInfo: Equatable, Sendable {
    /// The peer.
    public var peer: ReplicaID
    /// Dial it when not connected (a static or discovered peer).
    public var wanted = false
    /// The live connection, if any.
    public var connection: ConnectionID?
    /// When the current session started.
    public var connectedSince: UInt64?
    /// When something was last heard from it.
    public var lastSeen: UInt64?
    /// What it durably acknowledged (its watermark).
    public var acknowledged = VersionVector()
    /// Whether it finished sending what this node lacked in the current session.
    public var synced = false
    /// Consecutive failed connection attempts.
    public var attempts = 0
    /// Not before this time will it be dialed again.
    public var nextAttempt: UInt64 = 0
    /// A dial is outstanding.
    public var dialing = false
    /// The outstanding dial or the session is a view rotation (see ``SyncConfig/exploreInterval``).
    public var exploring = false
    /// Refused until this time (circuit breaker).
    public var quarantinedUntil: UInt64 = 0
    /// Protocol violations so far.
    public var offences = 0
    /// The last error seen on its sessions.
    public var lastError: String?
    /// Traffic, as encoded messages.
    public var bytesIn = 0, bytesOut = 0, messagesIn = 0, messagesOut = 0
    /// Round-trip time of the last ping, ms.
    public var rtt: UInt64?

    init(peer: ReplicaID) { self.peer = peer }
}

/// Engine-wide counters.
public struct SyncStats: Equatable, Sendable {
    /// Remote changes integrated (new to this node).
    public var integrated = 0
    /// Remote changes that were already here.
    public var duplicates = 0
    /// Changes refused by policy.
    public var forbidden = 0
    /// Protocol violations (sessions quarantined).
    public var violations = 0
    /// Catch-ups from state sent and received.
    public var catchUpsSent = 0, catchUpsReceived = 0
    /// Changes sent.
    public var changesSent = 0
    /// Skipped duplicates that would have changed the state (only with `checkDuplicates`): a
    /// change arrived after another that depends on it.
    public var causalityViolations = 0
    /// Anti-entropy rounds started.
    public var antiEntropyRounds = 0
    /// Lazy push: changes announced (`ihave`) instead of sent, changes asked for (`graft`) after
    /// an announcement, and announced changes sent because a peer asked for them.
    public var announced = 0, graftsSent = 0, graftsServed = 0
    /// Streams the driver reported stalled (each time one went from flowing to stalled).
    public var stalls = 0
    /// The longest per-peer send queue and the most bytes in flight to one peer seen.
    public var peakQueue = 0, peakInFlight = 0
}

/// The replication engine: no sockets, no clock, no threads. The driver (the node's event loop,
/// the simulator, a fuzzer) reports connections, bytes and time; the engine answers with
/// ``SyncAction``s. See `Docs/PROTOCOL.md`.
public final class SyncEngine {
    /// This node's replica ID.
    public let node: ReplicaID
    /// Its storage.
    public let storage: any SyncStorage
    /// Tunables.
    public var config: SyncConfig
    /// Selective sync.
    public var policy: SyncPolicy
    /// Isolation mode: no sessions, no dials.
    public private(set) var isolated = false
    /// Counters.
    public private(set) var stats = SyncStats()
    /// Known peers.
    public private(set) var peers: [ReplicaID: PeerInfo] = [:]

    var index = ChangeIndex()
    /// Testing aid (O(state) per duplicate): verify that every change skipped as already seen
    /// would indeed not change the state, counting failures in ``SyncStats/causalityViolations``.
    public var checkDuplicates = false
    var sessions: [ConnectionID: Session] = [:]
    var rng: SyncRandom
    private var nextBatch: UInt64 = 1
    /// Recent changes by log sequence, in a ring of `recentChanges` slots (slot = sequence modulo
    /// the size): no hashing on the hot path, and the newest sequences win.
    private var recent: [Recent?] = []
    /// A recent change kept for pushing: its encoding, and what the pump checks without decoding.
    struct Recent {
        var sequence: UInt64
        var bytes: [UInt8]
        var context: CausalContext
        /// The collections the change touches (a view of its store: no array per change).
        var collections: Delta.CollectionNames
    }
    /// Peers whose acknowledged watermark changed since it was last written to storage.
    private var dirtyWatermarks: Set<ReplicaID> = []
    /// When watermarks were last written (nil: never, so the first change is written at once).
    private var watermarksWritten: UInt64?
    private var nextAntiEntropy: UInt64
    private var nextExplore: UInt64
    /// Peers with an outstanding dial (mirrors ``PeerInfo/dialing``: the view's size without a scan).
    private var dialingPeers: Set<ReplicaID> = []
    /// Changes peers announced that this node lacks, by context: when to ask, and whom.
    private var awaited: [CausalContext: Awaited] = [:]
    /// `awaited`'s keys in arrival order (deterministic iteration).
    private var awaitedOrder: [CausalContext] = []
    /// The earliest deadline in `awaited` (nil: none): every call past it asks, not only ticks.
    private var nextGraft: UInt64?
    private struct Awaited {
        var deadline: UInt64
        var announcers: [(conn: ConnectionID, sequence: UInt64)]
    }
    /// The most announced-but-missing changes followed at once (beyond: anti-entropy repairs).
    private static let maxAwaited = 8_192
    /// A busy session (never idle for a ping interval) still gets a ping this often, so that
    /// its peer's round-trip time stays measured (`lattice peers`).
    public static let rttProbeInterval: UInt64 = 30_000
    /// The most changes announced to one peer and not known to be held there; beyond it the
    /// session sends them all (the safe fallback: nothing is then only announced).
    private static let maxAnnounced = 4_096

    /// One live connection's sync state. A class: the engine mutates it in place through
    /// `sessions[conn]` (a struct copied out and written back made the queue and the known
    /// context copy-on-write on every push).
    final class Session {
        let id: ConnectionID
        let peer: ReplicaID
        let outbound: Bool
        var helloReceived = false
        /// What the peer has, or is being sent on this stream.
        var known = CausalContext()
        var queue: [UInt64] = []
        var queueHead = 0
        var rescan = false
        /// A rescan continues from this log sequence (after a capped prefix).
        var rescanFrom: UInt64 = 0
        var inFlight: [(batch: UInt64, bytes: Int)] = []
        var inFlightBytes = 0
        var syncPending = false
        var lastHeard: UInt64
        /// The driver reports the stream stalled: what was sent on it has waited for the peer's
        /// transport acknowledgement for a while (``SyncEngine/transportStalled(_:_:)``).
        var stalled = false
        /// When this node last sent on the session (as of the tick after the send): a
        /// keep-alive ping goes only on a session idle for ``SyncConfig/pingInterval``.
        var lastSent: UInt64
        /// Whether anything was sent since the last tick (which then moves `lastSent`).
        var sentSinceTick = false
        var pingSent: (nonce: UInt64, at: UInt64)?
        /// When the last ping went out (nil: none yet), so that a busy session still has its
        /// round-trip time measured now and then (``SyncEngine/rttProbeInterval``).
        var lastPing: UInt64?
        /// What this node told the peer it holds (hello, then acks, requests): later vectors
        /// carry only the entries above it.
        var told = VersionVector()
        /// The peer's hello capabilities.
        var capabilities: UInt64 = 0
        /// The newest batch received and not yet acknowledged (coalesced acks), and when the
        /// last acknowledgement went out.
        var ackPending: UInt64 = 0
        var lastAck: UInt64?
        /// Bytes received since the last acknowledgement: at a quarter window, one goes at once.
        var receivedSinceAck = 0
        /// When an acknowledgement last carried vector progress.
        var lastTold: UInt64?
        /// Opened by a view rotation.
        var exploring = false
        /// Changes announced to the peer (`ihave`) and not sent, in log order, until sent or
        /// known held there: a change later sent on this session must not overtake one of
        /// these it depends on (see ``SyncEngine/enqueueWithDependencies(_:_:_:)``).
        var announced: [(sequence: UInt64, context: CausalContext)] = []
        /// Author tables (Docs/PROTOCOL.md §3, `ack-compact`): the replicas this node names by
        /// index in what it sends — its hello vector's, ascending, then each it named in full —
        /// and the replicas the peer names the same way.
        var helloAuthors: [ReplicaID] = []
        var namedAuthors: [ReplicaID: UInt32] = [:]
        var peerAuthors: [ReplicaID] = []
        let since: UInt64

        init(id: ConnectionID, peer: ReplicaID, outbound: Bool, lastHeard: UInt64, lastSent: UInt64) {
            self.id = id
            self.peer = peer
            self.outbound = outbound
            self.lastHeard = lastHeard
            self.lastSent = lastSent
            self.since = lastHeard
        }

        var queueLength: Int { queue.count - queueHead }

        /// How this node names `replica` to the peer: its index in the table, or in full (and
        /// from then on by the index it gets).
        func authorRef(_ replica: ReplicaID) -> AuthorRef {
            var lo = 0
            var hi = helloAuthors.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if helloAuthors[mid] < replica { lo = mid + 1 } else { hi = mid }
            }
            if lo < helloAuthors.count, helloAuthors[lo] == replica { return .index(UInt32(lo)) }
            if let i = namedAuthors[replica] { return .index(i) }
            namedAuthors[replica] = UInt32(helloAuthors.count + namedAuthors.count)
            return .new(replica)
        }

        /// Whether this node's table can take `count` more replicas.
        func authorTableHasRoom(_ count: Int) -> Bool { helloAuthors.count + namedAuthors.count + count <= Message.maxAuthorTable }

        /// The replica the peer named (nil: an index beyond its table, or a full table).
        func peerAuthor(_ ref: AuthorRef) -> ReplicaID? {
            switch ref {
            case .index(let i):
                return Int(i) < peerAuthors.count ? peerAuthors[Int(i)] : nil
            case .new(let replica):
                guard peerAuthors.count < Message.maxAuthorTable else { return nil }
                peerAuthors.append(replica)
                return replica
            }
        }

        /// Whether the peer reads compact vectors.
        var readsAuthorTables: Bool { capabilities & Capabilities.authorTables != 0 }
    }

    /// Creates an engine over a storage, indexing its log.
    /// - Parameters:
    ///   - node: this node's replica ID.
    ///   - storage: the storage.
    ///   - config: tunables.
    ///   - policy: selective sync.
    ///   - seed: seeds jitter and peer choice.
    ///   - now: the current time (ms).
    /// - Throws: when a log record does not decode.
    public init(node: ReplicaID, storage: any SyncStorage, config: SyncConfig = SyncConfig(), policy: SyncPolicy = SyncPolicy(), seed: UInt64, now: UInt64) throws {
        self.node = node
        self.storage = storage
        self.config = config
        self.policy = policy
        self.rng = SyncRandom(seed: seed ^ node.rawValue)
        self.nextAntiEntropy = 0
        self.nextExplore = 0
        try storage.forEachRecord(from: storage.firstSequence) { seq, type, payload in
            switch type {
            case RecordType.local, RecordType.remote:
                index.add(sequence: seq, delta: try Delta(decoding: payload))
            case RecordType.catchUp:
                index.raiseFloor(try StateDelta(decoding: payload).context)
            case RecordType.catchUpInSnapshot:
                break  // its dots are in the snapshot, raised into the floor below
            default:
                throw MessageDecodeError("log record \(seq) has unknown type \(type)")
            }
            return true
        }
        // Whatever the snapshot holds may come from records compacted away (or a catch-up it
        // absorbed), so the index serves nothing below it. Not "the dots no indexed record's
        // context names": a later record names the dots it observed — the entries it replaced or
        // removed — and streaming it does not carry the effects of the compacted record that
        // made them (which may have removed something else: a peer kept what it had removed).
        // A peer behind the snapshot gets a catch-up from state instead, as after any
        // compaction (found by the cluster fuzzer: Fuzz/FailCases/cluster/restart-floor-observed-dot).
        index.raiseFloor(storage.snapshotContext)
        index.learnAuthors(storage.state)
        nextAntiEntropy = now + rng.jitter(config.antiEntropyInterval, fraction: 0.25)
        nextExplore = now + rng.jitter(config.exploreInterval, fraction: 0.25)
    }

    // MARK: Peers and connections

    /// Adds a peer to dial (static or discovered); a no-op if known and wanted.
    public func addPeer(_ peer: ReplicaID, now: UInt64) -> [SyncAction] {
        guard peer != node else { return [] }
        var info = peers[peer] ?? PeerInfo(peer: peer)
        info.wanted = true
        peers[peer] = info
        return dials(now)
    }

    /// Stops dialing a peer (its session, if any, stays).
    public func forgetPeer(_ peer: ReplicaID) { peers[peer]?.wanted = false }

    /// A dial failed.
    public func dialFailed(_ peer: ReplicaID, now: UInt64, reason: String) {
        guard var info = peers[peer] else { return }
        info.dialing = false
        info.exploring = false
        dialingPeers.remove(peer)
        info.attempts += 1
        info.lastError = reason
        info.nextAttempt = now + backoff(info.attempts)
        peers[peer] = info
    }

    private func backoff(_ attempts: Int) -> UInt64 {
        let shift = UInt64(min(max(attempts - 1, 0), 20))
        let d = min(config.backoffCap, config.backoffBase << shift)
        return d / 2 + rng.next() % (d / 2 + 1)  // "equal jitter": [d/2, d]
    }

    /// A connection to an authenticated peer is up (either direction).
    public func connected(_ conn: ConnectionID, peer: ReplicaID, outbound: Bool, now: UInt64) -> [SyncAction] {
        var out: [SyncAction] = []
        var info = peers[peer] ?? PeerInfo(peer: peer)
        let exploring = outbound && info.exploring
        if outbound {
            info.dialing = false
            info.exploring = false
            dialingPeers.remove(peer)
        }
        peers[peer] = info
        if isolated { return [.close(conn, reason: "isolated")] }
        if peer == node { return [.close(conn, reason: "connected to self")] }
        if info.quarantinedUntil > now {
            return [.close(conn, reason: "peer quarantined for \(info.quarantinedUntil - now) ms")]
        }
        if let existing = info.connection, let old = sessions[existing] {
            let newDialer = outbound ? node : peer
            let oldDialer = old.outbound ? node : peer
            if newDialer == oldDialer || newDialer < oldDialer {
                out += end(existing, reason: "replaced by a newer session", now: now, goodbye: .duplicate)
            } else {
                return [.send(conn, Message.goodbye(reason: .duplicate).encoded(), .stream), .close(conn, reason: "duplicate session")]
            }
        } else if !outbound && sessions.count >= config.maxSessions {
            // Its hello is not in yet, so its capabilities are unknown: no goodbye, just close.
            return [.close(conn, reason: "busy: \(sessions.count) sessions, the most this node keeps")]
        }
        let session = Session(id: conn, peer: peer, outbound: outbound, lastHeard: now, lastSent: now)
        session.exploring = exploring
        sessions[conn] = session
        info = peers[peer] ?? info
        info.connection = conn
        info.connectedSince = now
        info.lastSeen = now
        info.attempts = 0
        info.dialing = false
        info.synced = false
        dialingPeers.remove(peer)
        peers[peer] = info
        out.append(.event(.connected(peer, outbound: outbound)))
        let hello = Hello(node: node, vector: storage.state.versionVector, watermark: storage.watermark(of: peer))
        session.told = hello.vector
        session.helloAuthors = hello.vector.entries.map(\.replica)
        send(conn, .hello(hello), .stream, &out)
        return out
    }

    /// The driver's view of a session's stream: stalled when what was sent on it has waited
    /// for the peer's transport acknowledgement longer than a healthy link takes (a
    /// retransmission under loss, a link that went dead), flowing again when it drained. Lazy
    /// push then sends whole forwards over other sessions (announcing to this one), so a change
    /// does not wait behind the stall. Telling it what it already knows is a no-op (a driver
    /// may report every session at every tick). Never required: a driver that never calls it
    /// loses only that preference.
    public func transportStalled(_ conn: ConnectionID, _ stalled: Bool) {
        guard let s = sessions[conn], s.stalled != stalled else { return }
        s.stalled = stalled
        if stalled { stats.stalls += 1 }
    }

    /// A connection closed (by the peer, the network or after a ``SyncAction/close(_:reason:)``).
    public func disconnected(_ conn: ConnectionID, now: UInt64, reason: String) -> [SyncAction] {
        guard let s = sessions.removeValue(forKey: conn) else { return [] }
        var info = peers[s.peer] ?? PeerInfo(peer: s.peer)
        if info.connection == conn {
            info.connection = nil
            info.connectedSince = nil
            info.synced = false
        }
        info.lastError = reason
        info.attempts = max(info.attempts, 1)
        info.nextAttempt = max(info.nextAttempt, now + backoff(info.attempts))
        peers[s.peer] = info
        var out: [SyncAction] = []
        writeWatermarks(now: now, only: s.peer, &out)
        return out + [.event(.disconnected(s.peer, reason: reason))]
    }

    private func end(_ conn: ConnectionID, reason: String, now: UInt64, goodbye: GoodbyeReason?) -> [SyncAction] {
        var out: [SyncAction] = []
        if let goodbye { send(conn, .goodbye(reason: goodbye), .stream, &out) }
        out.append(.close(conn, reason: reason))
        out += disconnected(conn, now: now, reason: reason)
        return out
    }

    /// Switches isolation mode: on closes every session and stops dialing; off resumes.
    public func setIsolated(_ on: Bool, now: UInt64) -> [SyncAction] {
        isolated = on
        guard on else { return dials(now) }
        var out: [SyncAction] = []
        for conn in sessions.keys.sorted() { out += end(conn, reason: "isolation mode", now: now, goodbye: .isolated) }
        return out
    }

    /// Says goodbye on every session (graceful shutdown).
    public func shutdown(now: UInt64) -> [SyncAction] {
        var out: [SyncAction] = []
        for conn in sessions.keys.sorted() { out += end(conn, reason: "shutdown", now: now, goodbye: .shutdown) }
        writeWatermarks(now: now, &out)
        return out
    }

    // MARK: Local changes

    /// A local change is durable in the log at `sequence`: push it to every peer that lacks it.
    /// - Parameters:
    ///   - sequence: its log sequence.
    ///   - delta: the change.
    ///   - now: current time.
    public func localChange(sequence: UInt64, delta: Delta, now: UInt64) -> [SyncAction] {
        localChanges([LoggedChange(sequence: sequence, delta: delta, encoded: delta.encoded())], now: now)
    }

    /// Local changes durable in the log (ascending sequences, as a group commit makes them):
    /// pushed together, so that they share batches and acknowledgements.
    /// - Parameters:
    ///   - changes: log sequence, change and its encoding (`delta.encoded()`, as logged) of each.
    ///   - now: current time.
    public func localChanges(_ changes: [LoggedChange], now: UInt64) -> [SyncAction] {
        localChanges(changes[...], now: now)
    }

    /// ``localChanges(_:now:)`` for a slice of the caller's pending list (no copy).
    public func localChanges(_ changes: ArraySlice<LoggedChange>, now: UInt64) -> [SyncAction] {
        for i in changes.indices {
            index.add(sequence: changes[i].sequence, context: changes[i].context, collections: changes[i].collections)
            remember(changes[i].sequence, changes[i].encoded, changes[i].context, changes[i].collections)
        }
        var out: [SyncAction] = []
        push(changes, except: nil, now: now, &out)
        return out
    }

    /// Sends new changes to every live session but `except` (gossip forwarding): whole to
    /// every session for this node's own changes, else whole to ``SyncConfig/eagerFanout``
    /// sessions and announced to the rest (lazy push, Docs/PROTOCOL.md §5.4).
    private func push(_ changes: ArraySlice<LoggedChange>, except: ConnectionID?, now: UInt64, _ out: inout [SyncAction]) {
        var targets: [Session] = []
        for conn in sessions.keys.sorted() where conn != except {
            guard let s = sessions[conn], s.helloReceived else { continue }
            let everything = policy.sendsEverything(to: s.peer)
            if changes.contains(where: { (everything || allowed($0.collections, to: s.peer)) && !s.known.covers($0.context) }) {
                targets.append(s)
            }
        }
        // Lazy sessions: all but `eagerFanout` random ones of those that understand `ihave`.
        var lazy: Set<ConnectionID> = []
        if except != nil, config.eagerFanout > 0, changes.count <= min(config.lazyBatchLimit, Message.maxAnnouncements) {
            // Eager ones are drawn first among sessions heard from lately and not stalled: a
            // live session hears a ping at least every ping interval, so one silent longer is
            // likely a dead link (a partition, a crashed peer) that the session timeout has not
            // closed yet; and a stream the driver reports stalled is waiting out a
            // retransmission. A whole change sent on either would wait with it.
            let quiet = config.pingInterval + config.pingInterval / 2
            var healthy: [ConnectionID] = []
            var doubtful: [ConnectionID] = []
            for s in targets where s.capabilities & Capabilities.lazyPush != 0 {
                if now < s.lastHeard + quiet && !s.stalled { healthy.append(s.id) } else { doubtful.append(s.id) }
            }
            var eager = config.eagerFanout - (targets.count - healthy.count - doubtful.count)
            while eager > 0, !healthy.isEmpty || !doubtful.isEmpty {
                if healthy.isEmpty {
                    doubtful.swapAt(Int(rng.next() % UInt64(doubtful.count)), doubtful.count - 1)
                    doubtful.removeLast()
                } else {
                    healthy.swapAt(Int(rng.next() % UInt64(healthy.count)), healthy.count - 1)
                    healthy.removeLast()
                }
                eager -= 1
            }
            lazy = Set(healthy).union(doubtful)
        }
        for s in targets {
            let everything = policy.sendsEverything(to: s.peer)
            let lazyHere = lazy.contains(s.id)
            var queued = false
            var announcements: [Announcement] = []
            for i in changes.indices {
                guard everything || allowed(changes[i].collections, to: s.peer), !s.known.covers(changes[i].context) else { continue }
                if lazyHere {
                    // Kept ascending by sequence (forwards come in log order; insert if not).
                    var at = s.announced.count
                    while at > 0, s.announced[at - 1].sequence > changes[i].sequence { at -= 1 }
                    s.announced.insert((changes[i].sequence, changes[i].context), at: at)
                    announcements.append(Announcement(sequence: changes[i].sequence, context: changes[i].context))
                    stats.announced += 1
                } else {
                    // On the stream, in log order, after what it depends on (Docs/PROTOCOL.md §8).
                    enqueueWithDependencies(changes[i].sequence, changes[i].context, s)
                    queued = true
                }
            }
            if s.announced.count > Self.maxAnnounced {
                // Too many open announcements: send them all (in log order) and start afresh.
                for a in s.announced where !s.known.covers(a.context) { enqueue(a.sequence, s) }
                s.announced = []
                queued = true
            }
            // One `ihave` with the forward (a lazy batch holds at most `lazyBatchLimit` changes).
            if !announcements.isEmpty {
                if s.readsAuthorTables, s.authorTableHasRoom(announcements.reduce(0) { $0 + $1.context.vector.count + $1.context.cloud.count }) {
                    send(s.id, .ihaveCompact(announcements.map { compact($0, s) }), .stream, &out, session: s)
                } else {
                    send(s.id, .ihave(announcements), .stream, &out, session: s)
                }
            }
            if queued { pump(s.id, now: now, &out) }
        }
    }

    /// Queues a record for the session's peer after every change announced to it (and not
    /// known held there) that the record may depend on: those whose context shares a dot with
    /// the record's, or with one of those, transitively. A change's context holds the dots it
    /// observed, so a change that observed a dot an announced change minted finds it; sharing
    /// a dot without depending on it only sends a change early. With this, a change never
    /// reaches a peer before one it observed, though some of its past was only announced.
    private func enqueueWithDependencies(_ sequence: UInt64, _ context: CausalContext, _ s: Session) {
        if !s.announced.isEmpty {
            var needed = context
            var dependencies: [UInt64] = []
            var closed: [Int] = []  // descending; usually none (nothing is allocated then)
            // Newest first: a dependency found widens what the older ones are checked against.
            for i in s.announced.indices.reversed() {
                let a = s.announced[i]
                if a.sequence == sequence || s.known.covers(a.context) {
                    closed.append(i)
                } else if a.sequence < sequence, a.context.intersects(needed) {
                    closed.append(i)
                    dependencies.append(a.sequence)
                    needed.formUnion(a.context)
                }
            }
            for i in closed { s.announced.remove(at: i) }
            for d in dependencies.reversed() { enqueue(d, s) }
        }
        enqueue(sequence, s)
    }

    private func allowed(_ collections: Delta.CollectionNames, to peer: ReplicaID) -> Bool {
        for c in collections where !policy.maySend(c, to: peer) { return false }
        return true
    }

    private func enqueue(_ seq: UInt64, _ s: Session) {
        if s.rescan {
            // A rescan will find it, unless it continues past it (a capped prefix was already
            // queued and this record arrived out of order): start the next rescan at it.
            if s.rescanFrom > seq { s.rescanFrom = seq }
            return
        }
        if s.queueLength >= config.maxQueue {
            s.queue = []
            s.queueHead = 0
            s.rescan = true
            s.rescanFrom = 0
            return
        }
        if let last = s.queue.last, last >= seq, s.queueHead < s.queue.count {
            // Keep ascending order (rare: a forward of an older record).
            var i = s.queue.count
            while i > s.queueHead, s.queue[i - 1] > seq { i -= 1 }
            if i > s.queueHead, s.queue[i - 1] == seq { return }
            s.queue.insert(seq, at: i)
        } else {
            s.queue.append(seq)
        }
        stats.peakQueue = max(stats.peakQueue, s.queueLength)
    }

    private func remember(_ seq: UInt64, _ bytes: [UInt8], _ context: CausalContext, _ collections: Delta.CollectionNames) {
        guard config.recentChanges > 0 else { return }
        if collections.viaErasure {
            // An erase: the remembered encodings may hold what it erased; the pump reads the
            // purged log instead.
            recent = []
            return
        }
        let slots = config.recentChanges
        if recent.count != slots { recent = Array(repeating: nil, count: slots) }
        recent[Int(seq % UInt64(slots))] = Recent(sequence: seq, bytes: bytes, context: context, collections: collections)
    }

    // MARK: Receiving

    /// Bytes arrived from a connection (already decrypted and authenticated).
    /// - Parameters:
    ///   - bytes: one encoded message.
    ///   - conn: its connection.
    ///   - channel: stream or datagram.
    ///   - now: current time.
    public func receive(_ bytes: [UInt8], on conn: ConnectionID, channel: Channel = .stream, now: UInt64) -> [SyncAction] {
        guard let s = sessions[conn] else { return [] }
        peers[s.peer]?.bytesIn += bytes.count
        peers[s.peer]?.messagesIn += 1
        peers[s.peer]?.lastSeen = now
        s.lastHeard = now
        s.receivedSinceAck += bytes.count
        let message: Message
        do {
            message = try Message(decoding: bytes)
        } catch {
            if let v = error.unsupportedVersion {
                var out: [SyncAction] = []
                send(conn, .error(code: .unsupportedVersion, message: "this node speaks protocol \(Hello.currentVersion), not \(v)"), .stream, &out)
                return out + end(conn, reason: "peer speaks protocol version \(v)", now: now, goodbye: nil)
            }
            return violation(conn, .malformed, "undecodable \(channel == .stream ? "stream message" : "datagram"): \(error)", now: now)
        }
        if channel == .datagram {
            // Datagrams carry presence only: a change that overtook its causal past would be
            // recorded as seen without its effects.
            switch message {
            case .ping, .pong: break
            default: return violation(conn, .unexpected, "a datagram carried \(message.name)", now: now)
            }
        }
        var out = handle(message, conn, now: now)
        // An announced change overdue is asked for now rather than at the next tick.
        if let due = nextGraft, now >= due { graftMissing(now: now, &out) }
        return out
    }

    private func handle(_ message: Message, _ conn: ConnectionID, now: UInt64) -> [SyncAction] {
        guard let s = sessions[conn] else { return [] }
        var out: [SyncAction] = []
        if !s.helloReceived {
            switch message {
            case .hello, .goodbye, .error: break
            default: return violation(conn, .unexpected, "\(message.name) before hello", now: now)
            }
        }
        switch message {
        case .hello(let hello):
            guard !s.helloReceived else { return violation(conn, .unexpected, "second hello", now: now) }
            guard hello.node == s.peer else {
                return violation(conn, .wrongNode, "hello names node \(hello.node), authenticated as \(s.peer)", now: now)
            }
            s.helloReceived = true
            s.capabilities = hello.capabilities
            s.peerAuthors = hello.vector.entries.map(\.replica)
            s.known = CausalContext(vector: hello.vector)
            recordWatermark(s.peer, hello.vector, now: now, &out)
            if !hello.watermark.isDominated(by: storage.state.versionVector) { out.append(.event(.regressed(s.peer))) }
            startCatchUp(conn, now: now, &out)
            if s.exploring { rotate(keeping: conn, now: now, &out) }

        case .deltas(let batch, let changes):
            return receiveChanges(batch, changes, conn, now: now)

        case .catchUp(let batch, let bytes):
            return receiveCatchUp(batch, bytes, conn, now: now)

        case .ackCompact(let batch, let entries):
            let vector: VersionVector
            do { vector = try resolve(entries, s, "ack-compact") } catch {
                return violation(conn, .malformed, "\(error)", now: now)
            }
            return handle(.ack(batch: batch, vector: vector), conn, now: now)

        case .ihaveCompact(let list):
            var announcements: [Announcement] = []
            announcements.reserveCapacity(list.count)
            do {
                for a in list {
                    let vector = try resolve(a.vector, s, "ihave-compact")
                    var cloud: [Dot] = []
                    cloud.reserveCapacity(a.cloud.count)
                    for e in a.cloud {
                        guard let replica = s.peerAuthor(e.author) else { throw MessageDecodeError("ihave-compact: author \(e.author) is not in the session's table") }
                        cloud.append(Dot(replica, e.counter))
                    }
                    announcements.append(try Announcement(sequence: a.sequence, vector: vector, cloud: cloud, "ihave-compact"))
                }
            } catch {
                return violation(conn, .malformed, "\(error)", now: now)
            }
            return handle(.ihave(announcements), conn, now: now)

        case .ack(let batch, let vector):
            var freed = 0
            while let first = s.inFlight.first, first.batch <= batch {
                freed += first.bytes
                s.inFlight.removeFirst()
            }
            s.inFlightBytes -= freed
            s.known.formUnion(CausalContext(vector: vector))
            recordWatermark(s.peer, vector, now: now, &out)
            pump(conn, now: now, &out)

        case .synced(let vector):
            // What the peer holds (not a durable receipt: no watermark).
            s.known.formUnion(CausalContext(vector: vector))
            peers[s.peer]?.synced = true
            out.append(.event(.synced(s.peer)))

        case .syncRequest(let vector):
            s.known.formUnion(CausalContext(vector: vector))
            recordWatermark(s.peer, vector, now: now, &out)
            startCatchUp(conn, now: now, &out)

        case .digest(let digest):
            // Equal: nothing to do (the common case costs one 9-byte message). Different: send
            // what the peer is known to lack, and ask for what this node lacks.
            guard digest != storage.state.versionVector.digest else { break }
            send(conn, .syncRequest(vector: tell(s)), .stream, &out, session: s)
            startCatchUp(conn, now: now, &out)

        case .ihave(let list):
            let have = storage.state.context
            for a in list {
                // The peer holds it (and, by causal delivery, what it depends on).
                s.known.formUnion(a.context)
                if have.covers(a.context) { continue }
                if var w = awaited[a.context] {
                    if w.announcers.count < 4 { w.announcers.append((conn, a.sequence)) }
                    awaited[a.context] = w
                } else if awaited.count < Self.maxAwaited {
                    awaited[a.context] = Awaited(deadline: now + config.graftDelay, announcers: [(conn, a.sequence)])
                    awaitedOrder.append(a.context)
                    nextGraft = min(nextGraft ?? .max, now + config.graftDelay)
                }
            }

        case .graft(let sequences):
            var queued = false
            for q in sequences {
                // `announced` ascends by sequence: a binary search (a graft may name 4,096).
                var lo = 0
                var hi = s.announced.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if s.announced[mid].sequence < q { lo = mid + 1 } else { hi = mid }
                }
                guard lo < s.announced.count, s.announced[lo].sequence == q else { continue }
                let a = s.announced.remove(at: lo)
                guard !s.known.covers(a.context) else { continue }
                enqueueWithDependencies(q, a.context, s)
                stats.graftsServed += 1
                queued = true
            }
            if queued { pump(conn, now: now, &out) }

        case .ping(let nonce):
            send(conn, .pong(nonce: nonce), .stream, &out)

        case .pong(let nonce):
            if let p = s.pingSent, p.nonce == nonce {
                peers[s.peer]?.rtt = now >= p.at ? now - p.at : 0
                sessions[conn]?.pingSent = nil
            }

        case .goodbye(let reason):
            out.append(.close(conn, reason: "peer said goodbye (\(reason))"))
            out += disconnected(conn, now: now, reason: "peer said goodbye (\(reason))")

        case .error(let code, let text):
            peers[s.peer]?.lastError = "peer reported \(code): \(text)"
            if code == .storage {
                // It could not store what was sent: forget what this session assumed it has
                // beyond its last acknowledgement, and send again from there.
                s.known = CausalContext(vector: peers[s.peer]?.acknowledged ?? VersionVector())
                s.queue = []
                s.queueHead = 0
                s.rescan = true
                s.rescanFrom = 0
                pump(conn, now: now, &out)
            }
        }
        return out
    }

    private func receiveChanges(_ batch: UInt64, _ changes: [[UInt8]], _ conn: ConnectionID, now: UInt64) -> [SyncAction] {
        guard let s = sessions[conn] else { return [] }
        var out: [SyncAction] = []
        var fresh: [LoggedChange] = []
        var refused: String?
        for bytes in changes {
            var delta: Delta
            do { delta = try Delta(decoding: bytes) } catch {
                return violation(conn, .malformed, "a change does not decode: \(error)", now: now)
            }
            guard !delta.touchesNoField else {
                return violation(conn, .malformed, "a change touches no collection", now: now)
            }
            s.known.formUnion(delta.context)
            // An erasure is accepted only from a peer that may write its target collection.
            if let c = delta.governedCollections.first(where: { !policy.mayAccept($0, from: s.peer) }) {
                stats.forbidden += 1
                refused = c.string
                continue
            }
            if storage.state.context.covers(delta.context) {
                stats.duplicates += 1
                if checkDuplicates {
                    var t = storage.state
                    t.apply(delta)
                    if t != storage.state { stats.causalityViolations += 1 }
                }
                continue
            }
            // Content an erasure here covers (a peer that was offline still had it) is neither
            // logged nor forwarded.
            var bytes = bytes
            if let stripped = storage.state.strippingErased(delta) {
                delta = stripped
                bytes = stripped.encoded()
            }
            do {
                let seq = try storage.integrate(remote: delta, encoded: bytes, now: now)
                let collections = delta.governedCollections
                index.add(sequence: seq, context: delta.context, collections: collections)
                remember(seq, bytes, delta.context, collections)
                fresh.append(LoggedChange(sequence: seq, delta: delta, encoded: bytes))
                stats.integrated += 1
            } catch {
                out.append(.event(.storageFailed("\(error)")))
                send(conn, .error(code: .storage, message: "could not store a change: \(error)"), .stream, &out)
                return out
            }
        }
        if let refused {
            out.append(.event(.forbidden(s.peer, collection: refused)))
            send(conn, .error(code: .forbidden, message: "this node does not accept collection \"\(refused)\" from you"), .stream, &out)
        }
        if !fresh.isEmpty { out.append(.flush) }
        if batch != 0 { acknowledge(batch, s, now: now, &out) }
        if !fresh.isEmpty { push(fresh[...], except: conn, now: now, &out) }
        return out
    }

    private func receiveCatchUp(_ batch: UInt64, _ bytes: [UInt8], _ conn: ConnectionID, now: UInt64) -> [SyncAction] {
        guard let s = sessions[conn] else { return [] }
        var out: [SyncAction] = []
        let catchUp: StateDelta
        do { catchUp = try StateDelta(decoding: bytes) } catch {
            return violation(conn, .malformed, "a catch-up does not decode: \(error)", now: now)
        }
        stats.catchUpsReceived += 1
        s.known.formUnion(catchUp.context)
        if let c = catchUp.store.keys.sorted().first(where: { !policy.mayAccept($0, from: s.peer) }) {
            stats.forbidden += 1
            out.append(.event(.forbidden(s.peer, collection: c.string)))
            send(conn, .error(code: .forbidden, message: "this node does not accept collection \"\(c.string)\" from you"), .stream, &out)
            if batch != 0 { acknowledge(batch, s, now: now, &out, coalesce: false, vector: true) }
            return out
        }
        var changed = false
        let before = storage.state.context
        if !before.covers(catchUp.context) {
            do {
                _ = try storage.integrate(catchUp: catchUp, now: now)
                // Only the dots that were new here are in no forwardable record.
                let context = catchUp.context
                index.raiseFloor(context.filter { author in !before.covers(context.filter { $0 == author }) })
                index.learnAuthors(storage.state)
                changed = true
            } catch {
                out.append(.event(.storageFailed("\(error)")))
                send(conn, .error(code: .storage, message: "could not store a catch-up: \(error)"), .stream, &out)
                return out
            }
        }
        if changed { out.append(.flush) }
        if batch != 0 { acknowledge(batch, s, now: now, &out, coalesce: false, vector: true) }
        if changed {
            // Its dots are in no forwardable record: peers that lack them get a catch-up too.
            for other in sessions.keys.sorted() where other != conn {
                guard let o = sessions[other], o.helloReceived, !o.known.covers(catchUp.context) else { continue }
                startCatchUp(other, now: now, &out)
            }
        }
        return out
    }

    /// A peer said it durably holds `vector` (hello, ack, sync request: all sent after flushing).
    private func recordWatermark(_ peer: ReplicaID, _ vector: VersionVector, now: UInt64, _ out: inout [SyncAction]) {
        var info = peers[peer] ?? PeerInfo(peer: peer)
        guard !vector.isDominated(by: info.acknowledged) else { return }
        info.acknowledged.formUnion(vector)
        peers[peer] = info
        dirtyWatermarks.insert(peer)
        if watermarksDue(now) { writeWatermarks(now: now, &out) }
    }

    private func watermarksDue(_ now: UInt64) -> Bool {
        guard let last = watermarksWritten else { return true }
        return now >= last + config.watermarkInterval
    }

    /// Writes the changed watermarks to storage (throttled; on session end and shutdown at once).
    private func writeWatermarks(now: UInt64, only: ReplicaID? = nil, _ out: inout [SyncAction]) {
        let due = only.map { dirtyWatermarks.contains($0) ? [$0] : [] } ?? dirtyWatermarks.sorted()
        if only == nil { watermarksWritten = now }
        for peer in due {
            dirtyWatermarks.remove(peer)
            guard let vector = peers[peer]?.acknowledged else { continue }
            do { try storage.acknowledge(peer: peer, vector: vector) } catch {
                out.append(.event(.storageFailed("recording \(peer)'s watermark: \(error)")))
            }
        }
    }

    /// A catch-up was joined locally (an import): its new dots are in no forwardable record, so
    /// the index floor rises and live peers that lack them get a catch-up from state.
    public func localCatchUp(_ catchUp: StateDelta, before: CausalContext, now: UInt64) -> [SyncAction] {
        let context = catchUp.context
        index.raiseFloor(context.filter { author in !before.covers(context.filter { $0 == author }) })
        index.learnAuthors(storage.state)
        var out: [SyncAction] = []
        for conn in sessions.keys.sorted() {
            guard let s = sessions[conn], s.helloReceived, !s.known.covers(context) else { continue }
            startCatchUp(conn, now: now, &out)
        }
        return out
    }

    /// Quarantines the peer of `conn` for breaking the protocol (circuit breaker).
    private func violation(_ conn: ConnectionID, _ code: ProtocolErrorCode, _ reason: String, now: UInt64) -> [SyncAction] {
        guard let s = sessions[conn] else { return [] }
        stats.violations += 1
        var info = peers[s.peer] ?? PeerInfo(peer: s.peer)
        info.offences += 1
        let period = min(config.quarantineCap, config.quarantine << UInt64(min(info.offences - 1, 16)))
        info.quarantinedUntil = now + period
        peers[s.peer] = info
        var out: [SyncAction] = []
        send(conn, .error(code: code, message: reason), .stream, &out)
        out.append(.event(.quarantined(s.peer, reason: reason, until: now + period)))
        out += end(conn, reason: "protocol violation: \(reason)", now: now, goodbye: .quarantined)
        peers[s.peer]?.nextAttempt = now + period
        return out
    }

    // MARK: Sending

    private func send(_ conn: ConnectionID, _ m: Message, _ channel: Channel, _ out: inout [SyncAction]) {
        guard let s = sessions[conn] else {
            out.append(.send(conn, m.encoded(), channel))
            return
        }
        send(conn, m, channel, &out, session: s)
    }

    private func send(_ conn: ConnectionID, _ m: Message, _ channel: Channel, _ out: inout [SyncAction], session s: Session) {
        let bytes = m.encoded()
        s.sentSinceTick = true
        peers[s.peer]?.bytesOut += bytes.count
        peers[s.peer]?.messagesOut += 1
        out.append(.send(conn, bytes, channel))
    }

    /// Catch-up for the session's peer from what it is known to have: exactly the missing log
    /// records when the index can serve them, else a catch-up from state. Ends with `synced`.
    private func startCatchUp(_ conn: ConnectionID, now: UInt64, _ out: inout [SyncAction], fromState: Bool = false) {
        guard let s = sessions[conn] else { return }
        let peer = s.peer
        let everything = policy.sendsEverything(to: peer)
        let collectionOf = index.collectionOf
        let wanted: (ReplicaID) -> Bool = { author in
            everything || collectionOf[author].map { self.policy.maySend($0, to: peer) } ?? false
        }
        let vector = s.known.vector
        if !fromState && index.canServe(vector, wanted: wanted) {
            // Authors of collections the peer may not receive are skipped here; records whose
            // collection is not yet known are filtered by the pump.
            let missing = index.missing(from: vector) { author in
                everything || collectionOf[author].map { self.policy.maySend($0, to: peer) } ?? true
            }
            if missing.count > config.maxQueue {
                s.queue = Array(missing.prefix(config.maxQueue))
                s.rescan = true
                s.rescanFrom = (s.queue.last ?? 0) + 1
            } else {
                s.queue = missing
                s.rescan = false
                s.rescanFrom = 0
            }
            s.queueHead = 0
            stats.peakQueue = max(stats.peakQueue, s.queueLength)
        } else {
            let state = storage.state
            let catchUp: StateDelta
            if everything {
                catchUp = state.delta(since: vector)
            } else {
                let collections = policy.sendable(state.collections, to: peer)
                let authors = Set(collectionOf.filter { collections.contains($0.value) }.keys)
                catchUp = state.delta(since: vector, restrictedTo: collections, authors: authors)
            }
            let batch = nextBatch
            nextBatch += 1
            let m = Message.catchUp(batch: batch, stateDelta: catchUp.encoded())
            s.known.formUnion(catchUp.context)
            s.queue = []
            s.queueHead = 0
            s.rescan = false
            send(conn, m, .stream, &out, session: s)
            let size = m.encoded().count
            s.inFlight.append((batch, size))
            s.inFlightBytes += size
            stats.peakInFlight = max(stats.peakInFlight, s.inFlightBytes)
            stats.catchUpsSent += 1
        }
        s.syncPending = true
        pump(conn, now: now, &out)
    }

    /// Sends queued records while the window allows; then `synced` if a catch-up just finished.
    private func pump(_ conn: ConnectionID, now: UInt64, _ out: inout [SyncAction]) {
        guard let s = sessions[conn], s.helloReceived else { return }
        var compacted = false
        var blocked = false
        while s.inFlightBytes < config.window && !compacted && !blocked {
            if s.queueHead >= s.queue.count {
                s.queue = []
                s.queueHead = 0
                guard s.rescan else { break }
                s.rescan = false
                let peer = s.peer
                let everything = policy.sendsEverything(to: peer)
                let collectionOf = index.collectionOf
                let from = s.rescanFrom
                var missing = index.missing(from: s.known.vector) { author in
                    everything || collectionOf[author].map { self.policy.maySend($0, to: peer) } ?? true
                }.filter { $0 >= from }
                if missing.count > config.maxQueue {
                    missing = Array(missing.prefix(config.maxQueue))
                    s.rescan = true
                    s.rescanFrom = (missing.last ?? 0) + 1  // the next rescan continues after this prefix
                } else {
                    s.rescanFrom = 0
                }
                s.queue = missing
                if missing.isEmpty { break }
                continue
            }
            var changes: [[UInt8]] = []
            var size = 0
            func consider(_ bytes: [UInt8], _ context: CausalContext, _ collections: Delta.CollectionNames) {
                guard !s.known.covers(context), collections.allSatisfy({ policy.maySend($0, to: s.peer) }) else { return }
                s.known.formUnion(context)
                changes.append(bytes)
                size += bytes.count
            }
            func consider(_ bytes: [UInt8]) {
                guard let delta = try? Delta(decoding: bytes) else { return }
                consider(bytes, delta.context, delta.governedCollections)
            }
            // Records go strictly in queue (log) order: skipping one would break causal delivery.
            while s.queueHead < s.queue.count && size < config.batchBytes {
                let seq = s.queue[s.queueHead]
                if !recent.isEmpty, let r = recent[Int(seq % UInt64(recent.count))], r.sequence == seq {
                    consider(r.bytes, r.context, r.collections)
                    s.queueHead += 1
                    continue
                }
                if seq < storage.firstSequence {
                    compacted = true  // the peer now needs a catch-up from state
                    break
                }
                var progressed = false
                try? storage.forEachRecord(from: seq) { record, type, payload in
                    guard s.queueHead < s.queue.count, size < config.batchBytes else { return false }
                    let want = s.queue[s.queueHead]
                    if record < want { return true }
                    if record > want { return false }  // `want` is in `recent` or not readable: outer loop
                    if type == RecordType.local || type == RecordType.remote { consider(payload) }
                    s.queueHead += 1
                    progressed = true
                    return true
                }
                if !progressed {
                    blocked = true  // not durable yet: resume after the flush (next tick or ack)
                    break
                }
            }
            guard !changes.isEmpty else { continue }
            let batch = nextBatch
            nextBatch += 1
            let m = Message.deltas(batch: batch, changes: changes)
            let bytes = m.encoded()
            s.sentSinceTick = true
            peers[s.peer]?.bytesOut += bytes.count
            peers[s.peer]?.messagesOut += 1
            out.append(.send(conn, bytes, .stream))
            s.inFlight.append((batch, bytes.count))
            s.inFlightBytes += bytes.count
            stats.changesSent += changes.count
            stats.peakInFlight = max(stats.peakInFlight, s.inFlightBytes)
        }
        if compacted {
            s.queue = []
            s.queueHead = 0
            s.rescan = false
            startCatchUp(conn, now: now, &out, fromState: true)
            return
        }
        if s.syncPending && s.queueHead >= s.queue.count && !s.rescan {
            s.syncPending = false
            send(conn, .synced(vector: tell(s)), .stream, &out, session: s)
        }
    }

    // MARK: Time

    /// Time passed: pings, timeouts, anti-entropy, reconnects.
    public func tick(now: UInt64) -> [SyncAction] {
        var out: [SyncAction] = []
        if !dirtyWatermarks.isEmpty, watermarksDue(now) { writeWatermarks(now: now, &out) }
        for conn in sessions.keys.sorted() {
            guard let s = sessions[conn] else { continue }
            if now >= s.lastHeard + config.sessionTimeout {
                out += end(conn, reason: "no word from the peer for \(now - s.lastHeard) ms", now: now, goodbye: .timeout)
                continue
            }
            if s.sentSinceTick {
                s.lastSent = now
                s.sentSinceTick = false
            }
            // A keep-alive only when idle (traffic shows the peer this node is alive), and a
            // round-trip probe after the hello and then now and then.
            let idle = now >= s.lastSent + config.pingInterval
            let probe = s.helloReceived && s.lastPing.map { now >= $0 + Self.rttProbeInterval } ?? true
            if idle || probe, s.pingSent == nil {
                let nonce = rng.next()
                s.pingSent = (nonce, now)
                s.lastSent = now
                s.lastPing = now
                send(conn, .ping(nonce: nonce), .stream, &out, session: s)
            } else if let p = s.pingSent, now >= p.at + config.pingInterval {
                s.pingSent = nil
            }
        }
        // Lazy push: announcements the peer is now known to hold are closed; announced changes
        // still missing here are asked for.
        for conn in sessions.keys.sorted() {
            guard let s = sessions[conn], !s.announced.isEmpty else { continue }
            s.announced.removeAll { s.known.covers($0.context) }
        }
        if !awaitedOrder.isEmpty { graftMissing(now: now, &out) }
        // Resume sessions whose queue waited for records to become durable.
        for conn in sessions.keys.sorted() {
            guard let s = sessions[conn], s.helloReceived, s.queueLength > 0 || s.rescan, s.inFlightBytes < config.window else { continue }
            pump(conn, now: now, &out)
        }
        // Coalesced acknowledgements (after every flush issued before this tick, in order).
        for conn in sessions.keys.sorted() {
            guard let s = sessions[conn], s.ackPending != 0, now >= (s.lastAck ?? 0) + config.ackDelay else { continue }
            acknowledge(s.ackPending, s, now: now, &out, coalesce: false)
        }
        if now >= nextAntiEntropy {
            nextAntiEntropy = now + rng.jitter(config.antiEntropyInterval, fraction: 0.25)
            let live = sessions.values.filter(\.helloReceived).map(\.id).sorted()
            if !live.isEmpty {
                let conn = live[Int(rng.next() % UInt64(live.count))]
                stats.antiEntropyRounds += 1
                if let s = sessions[conn], s.capabilities & Capabilities.digests != 0 {
                    send(conn, .digest(storage.state.versionVector.digest), .stream, &out, session: s)
                } else if let s = sessions[conn] {
                    send(conn, .syncRequest(vector: tell(s)), .stream, &out, session: s)
                }
            }
        }
        if now >= nextExplore {
            nextExplore = now + rng.jitter(config.exploreInterval, fraction: 0.25)
            explore(now, &out)
        }
        out += dials(now)
        return out
    }

    /// Asks announcers for the announced changes still missing past their deadline (one
    /// announcer at a time; the next after another ``SyncConfig/graftDelay``); forgets those
    /// that arrived or that no live announcer is left for (anti-entropy repairs those).
    private func graftMissing(now: UInt64, _ out: inout [SyncAction]) {
        let have = storage.state.context
        var asks: [ConnectionID: [UInt64]] = [:]
        var kept: [CausalContext] = []
        var next: UInt64?
        for context in awaitedOrder {
            guard var w = awaited[context] else { continue }
            if have.covers(context) {
                awaited[context] = nil
                continue
            }
            if w.deadline > now {
                kept.append(context)
                next = min(next ?? .max, w.deadline)
                continue
            }
            while let first = w.announcers.first, sessions[first.conn] == nil { w.announcers.removeFirst() }
            guard let first = w.announcers.first else {
                awaited[context] = nil
                continue
            }
            w.announcers.removeFirst()
            asks[first.conn, default: []].append(first.sequence)
            w.deadline = now + config.graftDelay
            awaited[context] = w
            kept.append(context)
            next = min(next ?? .max, w.deadline)
        }
        awaitedOrder = kept
        nextGraft = next
        for conn in asks.keys.sorted() {
            guard let s = sessions[conn], let list = asks[conn] else { continue }
            stats.graftsSent += list.count
            var rest = list[...]
            while !rest.isEmpty {
                let part = rest.prefix(Message.maxAnnouncements)
                rest = rest.dropFirst(part.count)
                send(conn, .graft(Array(part)), .stream, &out, session: s)
            }
        }
    }

    /// Forces an anti-entropy round with every live peer now (`lattice sync`).
    public func syncNow(now: UInt64) -> [SyncAction] {
        var out: [SyncAction] = []
        for conn in sessions.keys.sorted() {
            guard let s = sessions[conn], s.helloReceived else { continue }
            stats.antiEntropyRounds += 1
            // The whole vector: an explicit round also repairs what the session assumed.
            s.told = storage.state.versionVector
            send(conn, .syncRequest(vector: s.told), .stream, &out, session: s)
        }
        return out
    }

    /// Dials randomly chosen wanted peers while the view (live sessions and dials) is smaller
    /// than ``SyncConfig/activeView``. O(1) when it is full, O(peers) otherwise.
    private func dials(_ now: UInt64) -> [SyncAction] {
        guard !isolated else { return [] }
        var open = sessions.count + dialingPeers.count
        guard open < config.activeView else { return [] }
        var candidates = eligible(now)
        var out: [SyncAction] = []
        while open < config.activeView, !candidates.isEmpty {
            let peer = Self.take(&candidates, &rng)
            dial(peer, exploring: false, &out)
            open += 1
        }
        return out
    }

    /// Removes and returns a random element (order of the rest is not kept).
    private static func take(_ a: inout [ReplicaID], _ rng: inout SyncRandom) -> ReplicaID {
        let i = Int(rng.next() % UInt64(a.count))
        a.swapAt(i, a.count - 1)
        return a.removeLast()
    }

    /// Wanted peers that may be dialed now, in a deterministic order.
    private func eligible(_ now: UInt64) -> [ReplicaID] {
        peers.values.filter { info in
            info.wanted && info.connection == nil && !info.dialing && info.quarantinedUntil <= now && info.nextAttempt <= now
        }.map(\.peer).sorted()
    }

    private func dial(_ peer: ReplicaID, exploring: Bool, _ out: inout [SyncAction]) {
        peers[peer]?.dialing = true
        peers[peer]?.exploring = exploring
        dialingPeers.insert(peer)
        out.append(.dial(peer))
    }

    /// View rotation: a session to one random wanted peer outside the view.
    private func explore(_ now: UInt64, _ out: inout [SyncAction]) {
        guard !isolated, sessions.count >= config.activeView, sessions.count < config.maxSessions else { return }
        var candidates = eligible(now)
        guard !candidates.isEmpty else { return }
        dial(Self.take(&candidates, &rng), exploring: true, &out)
    }

    /// A rotation's session is up (its hello did a full anti-entropy round): the oldest quiet
    /// outbound session makes room, so the view stays ``SyncConfig/activeView`` large. None
    /// quiet: the view stays one larger until the next rotation.
    private func rotate(keeping conn: ConnectionID, now: UInt64, _ out: inout [SyncAction]) {
        // From here on an ordinary member of the view (a later rotation may replace it).
        sessions[conn]?.exploring = false
        guard sessions.count > config.activeView else { return }
        let quiet = sessions.values.filter {
            $0.id != conn && $0.outbound && !$0.exploring && $0.helloReceived && $0.queueLength == 0 && $0.inFlight.isEmpty && !$0.rescan && !$0.syncPending
        }
        guard let oldest = quiet.min(by: { ($0.since, $0.id) < ($1.since, $1.id) }) else { return }
        let polite = oldest.capabilities & Capabilities.digests != 0
        out += end(oldest.id, reason: "view rotation", now: now, goodbye: polite ? .rotated : nil)
    }

    /// The entries of this node's vector the session's peer was not told yet (and marks them
    /// told): an acknowledgement or request costs O(what changed), not O(authors).
    private func tell(_ s: Session) -> VersionVector {
        let vector = storage.state.versionVector
        let news = vector.entries(above: s.told)
        if !news.isEmpty { s.told.formUnion(news) }
        return news
    }

    /// Acknowledges every batch up to `batch`: now, or coalesced until ``SyncConfig/ackDelay``
    /// has passed since the last one (the tick sends it at the latest). Vector progress goes
    /// along once per ``SyncConfig/vectorInterval``, and always when `forced` (a catch-up).
    private func acknowledge(_ batch: UInt64, _ s: Session, now: UInt64, _ out: inout [SyncAction], coalesce: Bool = true, vector forced: Bool = false) {
        if coalesce, config.ackDelay > 0, let last = s.lastAck, now < last + config.ackDelay, s.receivedSinceAck < config.window / 4 {
            s.ackPending = max(s.ackPending, batch)
            return
        }
        s.ackPending = 0
        s.receivedSinceAck = 0
        s.lastAck = now
        var vector = VersionVector()
        if forced || config.vectorInterval == 0 || s.lastTold.map({ now >= $0 + config.vectorInterval }) ?? true {
            vector = tell(s)
            if !vector.isEmpty { s.lastTold = now }
        }
        if s.readsAuthorTables, s.authorTableHasRoom(vector.count) {
            send(s.id, .ackCompact(batch: batch, vector: compact(vector, s)), .stream, &out, session: s)
        } else {
            send(s.id, .ack(batch: batch, vector: vector), .stream, &out, session: s)
        }
    }

    // MARK: Author tables

    /// A vector as compact entries (naming new replicas in full, which adds them to the table).
    private func compact(_ vector: VersionVector, _ s: Session) -> [AuthorEntry] {
        vector.entries.map { AuthorEntry(s.authorRef($0.replica), $0.counter) }
    }

    /// An announcement with its context's replicas named through the table.
    private func compact(_ a: Announcement, _ s: Session) -> CompactAnnouncement {
        CompactAnnouncement(
            sequence: a.sequence, vector: compact(a.context.vector, s),
            cloud: a.context.cloud.sortedDots().map { AuthorEntry(s.authorRef($0.replica), $0.counter) })
    }

    /// A compact vector the peer sent, resolved through its table; refused unless every author
    /// resolves and the replicas strictly ascend (the canonical order, as in a plain vector).
    private func resolve(_ entries: [AuthorEntry], _ s: Session, _ what: String) throws(MessageDecodeError) -> VersionVector {
        var counters: [ReplicaID: UInt64] = [:]
        counters.reserveCapacity(entries.count)
        var previous: ReplicaID?
        for e in entries {
            guard let replica = s.peerAuthor(e.author) else { throw MessageDecodeError("\(what): author \(e.author) is not in the session's table") }
            if let previous, !(previous < replica) { throw MessageDecodeError("\(what): vector replicas not strictly ascending") }
            previous = replica
            counters[replica] = e.counter
        }
        return VersionVector(counters)
    }

    // MARK: Observation

    /// The log was compacted through `sequence`: those records can no longer be streamed.
    public func compacted(through sequence: UInt64) { index.drop(through: sequence) }

    /// Live sessions' peers and connections.
    public var liveSessions: [(peer: ReplicaID, connection: ConnectionID, queued: Int, inFlight: Int)] {
        sessions.values.sorted { $0.id < $1.id }.map { ($0.peer, $0.id, $0.queueLength, $0.inFlightBytes) }
    }

    /// Whether every session is idle: nothing queued, nothing unacknowledged, no catch-up open.
    public var isQuiet: Bool {
        sessions.values.allSatisfy { $0.queueLength == 0 && $0.inFlight.isEmpty && !$0.rescan && !$0.syncPending }
    }

    /// The number of live sessions.
    public var sessionCount: Int { sessions.count }

    /// Index size (entries), for status and benchmarks.
    public var indexEntries: Int { index.entryCount }
}
