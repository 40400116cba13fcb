/// The engine's tunables. Times are milliseconds of whatever clock drives the engine (the
/// simulator's virtual clock or the node's monotonic clock).
public struct SyncConfig: Equatable, Sendable {
    /// Bytes of unacknowledged stream batches allowed in flight per peer (flow control).
    public var window = 1 << 20
    /// Target size of one `deltas` batch on the stream.
    public var batchBytes = 60 << 10
    /// Log sequences queued for one peer before the queue is dropped and rebuilt from the index
    /// (bounds memory for a peer far behind).
    public var maxQueue = 65_536
    /// Encoded recent changes kept to push without reading the log back.
    public var recentChanges = 4_096
    /// Anti-entropy: one round with a random peer every this many ms (± 25 % jitter).
    public var antiEntropyInterval: UInt64 = 5_000
    /// A keep-alive ping on every session this often.
    public var pingInterval: UInt64 = 2_000
    /// Close a session that sent nothing for this long.
    public var sessionTimeout: UInt64 = 8_000
    /// Reconnect backoff: first delay, cap (exponential, with jitter).
    public var backoffBase: UInt64 = 200
    /// Reconnect backoff cap.
    public var backoffCap: UInt64 = 30_000
    /// Quarantine after invalid data: first period, doubling per offence up to the cap.
    public var quarantine: UInt64 = 60_000
    /// Quarantine cap.
    public var quarantineCap: UInt64 = 3_600_000
    /// Peers' acknowledged watermarks are written to storage at most this often (and when a
    /// session ends). A stored watermark that lags only makes compaction keep more and a
    /// reconnect resend more; writing one per acknowledgement would cost an fsync each.
    public var watermarkInterval: UInt64 = 1_000

    /// Gossip view: the sessions a node keeps. While it has fewer (live or being dialed), it
    /// dials randomly chosen wanted peers; every change is forwarded over its sessions, so this
    /// bounds what one change costs a node, whatever the number of peers.
    public var activeView = 4
    /// Lazy push: a change that arrived from a peer is forwarded whole to this many of the
    /// sessions that lack it (chosen at random per batch), and only announced (`ihave`: its log
    /// sequence and context, ~20 bytes) to the others, which ask for it (`graft`) if no other
    /// peer sent it within ``graftDelay``. A node's own changes, and batches larger than
    /// ``lazyBatchLimit``, go whole to every session. 0: every change whole to every session.
    public var eagerFanout = 3
    /// How long a node waits for an announced change before it asks the announcer for it.
    public var graftDelay: UInt64 = 50
    /// Forwarded batches of more changes than this go whole to every session (a catch-up
    /// relayed in bulk, not one write's wavefront).
    public var lazyBatchLimit = 16
    /// Inbound sessions beyond this many are refused (the dialer tries another peer).
    public var maxSessions = 12
    /// View rotation: one session to a random wanted peer outside the view this often (± 25 %);
    /// its hello is a full anti-entropy round, and it then replaces the oldest quiet outbound
    /// session, so the view keeps mixing and two groups that were partitioned rejoin.
    public var exploreInterval: UInt64 = 10_000
    /// Acknowledgements on a session are sent at most this often; those in between are
    /// coalesced into the next one (sent by ``SyncEngine/tick(now:)`` at the latest). 0: one
    /// acknowledgement per batch.
    public var ackDelay: UInt64 = 500
    /// An acknowledgement carries this node's vector progress (the entries the peer was not
    /// told yet: its watermark for this node, and what not to send it) at most this often;
    /// those in between carry none. Each author that advanced costs ~11 bytes per session per
    /// telling, so with many authors telling every ack would cost about what the changes do.
    /// 0: every acknowledgement.
    public var vectorInterval: UInt64 = 5_000

    /// The defaults.
    public init() {}
}
