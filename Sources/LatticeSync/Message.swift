public import LatticeCRDT

/// One sync protocol message (version 1), byte by byte in `Docs/PROTOCOL.md`.
///
/// Messages travel inside authenticated encryption (Noise transport frames on TCP, sealed
/// datagrams on UDP), so these bytes are only ever parsed after the sender was authenticated.
/// The decoder still trusts nothing: every count and length is capped before allocation.
public enum Message: Equatable, Sendable {
    /// First message of a session, both ways.
    case hello(Hello)
    /// Changes, each an encoded `Delta` (codec kind 2), in the sender's log order (stream only:
    /// causal delivery). `batch` numbers it for the acknowledgement.
    case deltas(batch: UInt64, changes: [[UInt8]])
    /// A catch-up from state (an encoded `StateDelta`), sent when the peer is behind what the
    /// sender's log still holds.
    case catchUp(batch: UInt64, stateDelta: [UInt8])
    /// Durable receipt: every batch up to `batch` is durable here; `vector` is this node's vector.
    case ack(batch: UInt64, vector: VersionVector)
    /// Everything the receiver lacked when it sent its hello or sync request has been sent.
    case synced(vector: VersionVector)
    /// Anti-entropy: "this is my vector; send what I lack, then `synced`".
    case syncRequest(vector: VersionVector)
    /// Presence probe; answered by `pong` with the same nonce.
    case ping(nonce: UInt64)
    /// Answer to `ping`.
    case pong(nonce: UInt64)
    /// The sender closes the session on purpose.
    case goodbye(reason: GoodbyeReason)
    /// The sender refused something; `code` says what.
    case error(code: ProtocolErrorCode, message: String)
    /// Anti-entropy, digest first: "my vector's digest is this" (``VersionVector/digest``). A
    /// receiver whose own digest differs answers `syncRequest`; equal, it answers nothing. Sent
    /// only to peers whose hello has ``Capabilities/digests``.
    case digest(UInt64)
    /// Lazy push: "I hold these changes" — each named by the sender's log sequence and its
    /// causal context — sent instead of the changes themselves on all but a few sessions
    /// (``SyncConfig/eagerFanout``). A receiver that still lacks one after
    /// ``SyncConfig/graftDelay`` asks for it with `graft`. Sent only to peers whose hello has
    /// ``Capabilities/lazyPush``.
    case ihave([Announcement])
    /// "Send me these announced changes" (log sequences from the sender's `ihave`).
    case graft([UInt64])
    /// `ack` with its vector's replicas named through the session's author table
    /// (``AuthorEntry``): 2–3 bytes an entry instead of 9–10. Sent only to peers whose hello has
    /// ``Capabilities/authorTables``.
    case ackCompact(batch: UInt64, vector: [AuthorEntry])
    /// `ihave` with each context's replicas named through the session's author table. Sent only
    /// to peers whose hello has ``Capabilities/authorTables``.
    case ihaveCompact([CompactAnnouncement])

    /// The message type byte.
    public var type: UInt8 {
        switch self {
        case .hello: 1
        case .deltas: 2
        case .catchUp: 3
        case .ack: 4
        case .synced: 5
        case .syncRequest: 6
        case .ping: 7
        case .pong: 8
        case .goodbye: 9
        case .error: 10
        case .digest: 11
        case .ihave: 12
        case .graft: 13
        case .ackCompact: 14
        case .ihaveCompact: 15
        }
    }

    /// A short name for logs and metrics.
    public var name: String { Self.name(ofType: type) ?? "unknown" }

    /// The name of the message with this type byte (nil for an unknown type): what a driver
    /// that only holds encoded bytes (the simulator's traffic counts) reports.
    public static func name(ofType type: UInt8) -> String? {
        switch type {
        case 1: "hello"
        case 2: "deltas"
        case 3: "catch-up"
        case 4: "ack"
        case 5: "synced"
        case 6: "sync-request"
        case 7: "ping"
        case 8: "pong"
        case 9: "goodbye"
        case 10: "error"
        case 11: "digest"
        case 12: "ihave"
        case 13: "graft"
        case 14: "ack-compact"
        case 15: "ihave-compact"
        default: nil
        }
    }
}

/// The hello: who the sender is and what it has.
public struct Hello: Equatable, Sendable {
    /// The only protocol version this build speaks.
    public static let currentVersion: UInt8 = 1
    /// Protocol version.
    public var version: UInt8
    /// The sender's node replica ID (must match the authenticated peer).
    public var node: ReplicaID
    /// Capability bits (``Capabilities``).
    public var capabilities: UInt64
    /// The sender's version vector.
    public var vector: VersionVector
    /// What the sender last knew the receiver had durably acknowledged (its watermark for the
    /// receiver); a receiver whose vector does not cover it has lost data (restored backup).
    public var watermark: VersionVector

    /// Creates a hello.
    public init(version: UInt8 = Hello.currentVersion, node: ReplicaID, capabilities: UInt64 = Capabilities.all, vector: VersionVector, watermark: VersionVector) {
        self.version = version
        self.node = node
        self.capabilities = capabilities
        self.vector = vector
        self.watermark = watermark
    }
}

/// Capability bits in the hello (unknown bits are ignored).
public enum Capabilities {
    /// Presence pings may also travel as datagrams.
    public static let datagramPings: UInt64 = 1 << 0
    /// Understands the `digest` message.
    public static let digests: UInt64 = 1 << 1
    /// Understands `ihave` and `graft` (lazy push).
    public static let lazyPush: UInt64 = 1 << 2
    /// Understands `ack-compact` and `ihave-compact` (vectors and contexts whose replicas are
    /// named through the session's author tables, Docs/PROTOCOL.md §3).
    public static let authorTables: UInt64 = 1 << 3
    /// Everything this build supports.
    public static let all: UInt64 = datagramPings | digests | lazyPush | authorTables
}

/// A replica named in a compact vector or context: by its index in the sender's author table
/// for the session, or in full, which appends it to that table (both ends keep the same table:
/// the replicas of the sender's hello vector in ascending order, then each one named in full,
/// in stream order).
public enum AuthorRef: Equatable, Hashable, Sendable {
    /// The table's entry at this index.
    case index(UInt32)
    /// A replica not in the table yet (appended to it).
    case new(ReplicaID)
}

/// One entry of a compact vector, or one dot of a compact context's cloud: a replica and a
/// counter (1 … ``Dot/maxCounter``).
public struct AuthorEntry: Equatable, Hashable, Sendable {
    /// The replica.
    public var author: AuthorRef
    /// The counter.
    public var counter: UInt64
    /// Creates an entry.
    public init(_ author: AuthorRef, _ counter: UInt64) {
        self.author = author
        self.counter = counter
    }
}

/// An ``Announcement`` whose context names its replicas through the session's author table.
public struct CompactAnnouncement: Equatable, Sendable {
    /// The sender's log sequence of the change.
    public var sequence: UInt64
    /// The context's vector entries (ascending replicas once resolved).
    public var vector: [AuthorEntry]
    /// The context's cloud dots (ascending once resolved, each above the vector by more than one).
    public var cloud: [AuthorEntry]
    /// Creates an announcement.
    public init(sequence: UInt64, vector: [AuthorEntry], cloud: [AuthorEntry]) {
        self.sequence = sequence
        self.vector = vector
        self.cloud = cloud
    }
}

/// One change named in an `ihave`: the sender's log sequence for it (what a `graft` asks for)
/// and its causal context (what the receiver checks it holds).
public struct Announcement: Equatable, Sendable {
    /// The sender's log sequence of the change.
    public var sequence: UInt64
    /// The change's context.
    public var context: CausalContext
    /// Creates an announcement.
    public init(sequence: UInt64, context: CausalContext) {
        self.sequence = sequence
        self.context = context
    }

    /// An announcement from its context's parts as a message carries them, refused unless
    /// canonical: cloud dots strictly ascending, each above the vector by more than one (else
    /// the vector absorbs it), and the context not empty.
    init(sequence: UInt64, vector: VersionVector, cloud: [Dot], _ what: String) throws(MessageDecodeError) {
        var last: Dot?
        for dot in cloud {
            if let last, !(last < dot) { throw MessageDecodeError("\(what): cloud dots not strictly ascending") }
            guard dot.counter > vector[dot.replica] + 1 else { throw MessageDecodeError("\(what): cloud dot \(dot) belongs in the vector") }
            last = dot
        }
        let context = CausalContext(vector: vector, cloud: cloud)
        guard !context.isEmpty else { throw MessageDecodeError("\(what): an empty context") }
        self.init(sequence: sequence, context: context)
    }
}

/// Why a session ends.
public enum GoodbyeReason: UInt8, Sendable, CustomStringConvertible {
    /// The node is shutting down.
    case shutdown = 1
    /// Another session with the same peer wins (both sides dialed).
    case duplicate = 2
    /// The node switched to isolation mode.
    case isolated = 3
    /// The peer was quiet for too long.
    case timeout = 4
    /// The peer broke the protocol (circuit breaker).
    case quarantined = 5
    /// The node has as many sessions as it keeps (``SyncConfig/maxSessions``): dial another.
    case busy = 6
    /// The node replaces this session by one to a randomly chosen peer (view rotation).
    case rotated = 7

    public var description: String {
        switch self {
        case .shutdown: "shutdown"
        case .duplicate: "duplicate session"
        case .isolated: "isolated"
        case .timeout: "timeout"
        case .quarantined: "quarantined"
        case .busy: "busy"
        case .rotated: "rotated"
        }
    }
}

/// Error codes of the `error` message.
public enum ProtocolErrorCode: UInt16, Sendable, CustomStringConvertible {
    /// A message did not decode.
    case malformed = 1
    /// A message was valid but not allowed now (for example a second hello).
    case unexpected = 2
    /// A protocol version this node does not speak.
    case unsupportedVersion = 3
    /// The hello names another node than the authenticated one.
    case wrongNode = 4
    /// A change touches a collection the sender may not write here (selective sync).
    case forbidden = 5
    /// The receiver could not store what it got (disk full, …); it will ask again.
    case storage = 6

    public var description: String {
        switch self {
        case .malformed: "malformed"
        case .unexpected: "unexpected"
        case .unsupportedVersion: "unsupported-version"
        case .wrongNode: "wrong-node"
        case .forbidden: "forbidden"
        case .storage: "storage"
        }
    }
}

// MARK: - Codec

/// Why message bytes were refused.
public struct MessageDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public var reason: String
    /// A hello of another protocol version (not an attack: an upgrade in progress).
    public var unsupportedVersion: UInt8?
    /// Creates an error.
    public init(_ reason: String, unsupportedVersion: UInt8? = nil) {
        self.reason = reason
        self.unsupportedVersion = unsupportedVersion
    }
    public var description: String { reason }
}

extension Message {
    /// The largest encoded message (a catch-up of a large state travels as one message; the
    /// stream layer splits it into transport frames).
    public static let maxSize = 64 << 20
    /// The most entries in a version vector.
    public static let maxVectorEntries = 1 << 16
    /// The most changes in one batch.
    public static let maxBatchChanges = 1 << 16
    /// The longest error text, in bytes.
    public static let maxErrorText = 1024
    /// The most changes one `ihave` or `graft` names.
    public static let maxAnnouncements = 4_096
    /// The most replicas one session's author table may hold (a sender naming more is refused).
    public static let maxAuthorTable = 1 << 17
    /// The most cloud dots in one announced context.
    public static let maxAnnouncedDots = 1_024

    /// The encoding: type byte, then the body.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.byte(type)
        switch self {
        case .hello(let h):
            w.byte(h.version)
            w.u64le(h.node.rawValue)
            w.varint(h.capabilities)
            Self.write(h.vector, &w)
            Self.write(h.watermark, &w)
        case .deltas(let batch, let changes):
            w.varint(batch)
            w.varint(changes.count)
            for c in changes {
                w.varint(c.count)
                w.bytes.append(contentsOf: c)
            }
        case .catchUp(let batch, let bytes):
            w.varint(batch)
            w.varint(bytes.count)
            w.bytes.append(contentsOf: bytes)
        case .ack(let batch, let vector):
            w.varint(batch)
            Self.write(vector, &w)
        case .synced(let vector), .syncRequest(let vector):
            Self.write(vector, &w)
        case .ping(let nonce), .pong(let nonce), .digest(let nonce):
            w.u64le(nonce)
        case .ihave(let list):
            w.varint(list.count)
            for a in list {
                w.varint(a.sequence)
                Self.write(a.context.vector, &w)
                let dots = a.context.cloud.sortedDots()
                w.varint(dots.count)
                for d in dots {
                    w.u64le(d.replica.rawValue)
                    w.varint(d.counter)
                }
            }
        case .graft(let sequences):
            w.varint(sequences.count)
            for q in sequences { w.varint(q) }
        case .ackCompact(let batch, let vector):
            w.varint(batch)
            Self.write(vector, &w)
        case .ihaveCompact(let list):
            w.varint(list.count)
            for a in list {
                w.varint(a.sequence)
                Self.write(a.vector, &w)
                Self.write(a.cloud, &w)
            }
        case .goodbye(let reason):
            w.byte(reason.rawValue)
        case .error(let code, let message):
            w.varint(UInt64(code.rawValue))
            w.lengthPrefixed(Self.truncated(message, toBytes: Self.maxErrorText))
        }
        return w.bytes
    }

    /// `text` cut to at most `limit` UTF-8 bytes on a character boundary.
    static func truncated(_ text: String, toBytes limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var out = ""
        var used = 0
        for c in text {
            let n = c.utf8.count
            if used + n > limit { break }
            out.append(c)
            used += n
        }
        return out
    }

    /// The encoded size of a `deltas` message holding changes of these sizes.
    public static func deltasSize(batch: UInt64, sizes: some Sequence<Int>) -> Int {
        var n = 1 + varintSize(batch)
        var count = 0
        for s in sizes {
            n += varintSize(UInt64(s)) + s
            count += 1
        }
        return n + varintSize(UInt64(count))
    }

    static func varintSize(_ v: UInt64) -> Int {
        var n = 1
        var v = v >> 7
        while v != 0 {
            n += 1
            v >>= 7
        }
        return n
    }

    /// Decodes one message; refuses anything malformed, oversized, unknown or with trailing bytes.
    /// - Parameter bytes: the decrypted message.
    /// - Throws: ``MessageDecodeError`` saying what is wrong.
    public init(decoding bytes: [UInt8]) throws(MessageDecodeError) {
        guard bytes.count <= Self.maxSize else { throw MessageDecodeError("message of \(bytes.count) bytes exceeds \(Self.maxSize)") }
        let result: Result<Message, MessageDecodeError> = bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do {
                let m = try Self.decodeBody(&r)
                guard r.remaining == 0 else { return .failure(MessageDecodeError("\(r.remaining) trailing bytes")) }
                return .success(m)
            } catch let e as MessageDecodeError {
                return .failure(e)
            } catch {
                return .failure(MessageDecodeError("\(error)"))
            }
        }
        self = try result.get()
    }

    private static func decodeBody(_ r: inout ByteReader) throws -> Message {
        let type = try r.byte()
        switch type {
        case 1:
            let version = try r.byte()
            guard version == Hello.currentVersion else {
                throw MessageDecodeError(
                    "hello: unsupported protocol version \(version) (this node speaks \(Hello.currentVersion))", unsupportedVersion: version)
            }
            let node = ReplicaID(try r.u64le())
            let caps = try r.varint()
            let vector = try readVector(&r)
            let watermark = try readVector(&r)
            return .hello(Hello(version: version, node: node, capabilities: caps, vector: vector, watermark: watermark))
        case 2:
            let batch = try r.varint()
            let count = try r.count(minimumItemSize: 2)
            guard count <= maxBatchChanges else { throw MessageDecodeError("deltas: \(count) changes exceed \(maxBatchChanges)") }
            guard count > 0 else { throw MessageDecodeError("deltas: empty batch") }
            var changes: [[UInt8]] = []
            changes.reserveCapacity(count)
            for _ in 0..<count {
                let n = try r.count()
                guard n > 0 else { throw MessageDecodeError("deltas: empty change") }
                changes.append(Array(try r.bytes(n)))
            }
            return .deltas(batch: batch, changes: changes)
        case 3:
            let batch = try r.varint()
            let n = try r.count()
            return .catchUp(batch: batch, stateDelta: Array(try r.bytes(n)))
        case 4:
            let batch = try r.varint()
            return .ack(batch: batch, vector: try readVector(&r))
        case 5:
            return .synced(vector: try readVector(&r))
        case 6:
            return .syncRequest(vector: try readVector(&r))
        case 7:
            return .ping(nonce: try r.u64le())
        case 8:
            return .pong(nonce: try r.u64le())
        case 9:
            let raw = try r.byte()
            guard let reason = GoodbyeReason(rawValue: raw) else { throw MessageDecodeError("goodbye: unknown reason \(raw)") }
            return .goodbye(reason: reason)
        case 10:
            let raw = try r.varint()
            guard raw <= UInt64(UInt16.max), let code = ProtocolErrorCode(rawValue: UInt16(raw)) else {
                throw MessageDecodeError("error: unknown code \(raw)")
            }
            let n = try r.count()
            guard n <= maxErrorText else { throw MessageDecodeError("error: text of \(n) bytes exceeds \(maxErrorText)") }
            let text = Array(try r.bytes(n))
            guard let s = String(validating: text, as: UTF8.self) else { throw MessageDecodeError("error: text is not UTF-8") }
            return .error(code: code, message: s)
        case 11:
            return .digest(try r.u64le())
        case 12:
            return .ihave(
                try readAnnouncementList(&r, minimumItemSize: 3, "ihave", "announcements") { r in
                    let sequence = try r.varint()
                    let vector = try readVector(&r)
                    let dots = try readList(&r, minimumItemSize: 9, nonEmpty: false, limit: maxAnnouncedDots, { "ihave: \($0) cloud dots exceed \(maxAnnouncedDots)" }) { r in
                        let replica = try r.u64le()
                        let counter = try r.varint()
                        guard counter >= 1, counter <= Dot.maxCounter else { throw MessageDecodeError("ihave: dot counter \(counter) out of range") }
                        return Dot(ReplicaID(replica), counter)
                    }
                    return try Announcement(sequence: sequence, vector: vector, cloud: dots, "ihave")
                })
        case 13:
            return .graft(try readAnnouncementList(&r, minimumItemSize: 1, "graft", "sequences") { r in try r.varint() })
        case 14:
            let batch = try r.varint()
            return .ackCompact(batch: batch, vector: try readEntries(&r, limit: maxVectorEntries, "ack-compact vector"))
        case 15:
            return .ihaveCompact(
                try readAnnouncementList(&r, minimumItemSize: 3, "ihave-compact", "announcements") { r in
                    let sequence = try r.varint()
                    let vector = try readEntries(&r, limit: maxVectorEntries, "ihave-compact vector")
                    let cloud = try readEntries(&r, limit: maxAnnouncedDots, "ihave-compact cloud")
                    guard !vector.isEmpty || !cloud.isEmpty else { throw MessageDecodeError("ihave-compact: an empty context") }
                    return CompactAnnouncement(sequence: sequence, vector: vector, cloud: cloud)
                })
        default:
            throw MessageDecodeError("unknown message type \(type)")
        }
    }

    /// Vector: entry count, then per entry (ascending replica) the replica as 8 bytes LE and the
    /// counter as a varint (≥ 1).
    static func write(_ v: VersionVector, _ w: inout ByteWriter) {
        let entries = v.entries
        w.varint(entries.count)
        for e in entries {
            w.u64le(e.replica.rawValue)
            w.varint(e.counter)
        }
    }

    /// A counted list: `varint count` (at most what the bytes left can hold at
    /// `minimumItemSize` each, at most `limit`, and not 0 when `nonEmpty`), then each item.
    /// `refused` words the error for a count out of range.
    static func readList<T>(
        _ r: inout ByteReader, minimumItemSize: Int, nonEmpty: Bool, limit: Int, _ refused: (Int) -> String,
        _ item: (inout ByteReader) throws -> T
    ) throws -> [T] {
        let count = try r.count(minimumItemSize: minimumItemSize)
        guard count <= limit, count > 0 || !nonEmpty else { throw MessageDecodeError(refused(count)) }
        var list: [T] = []
        list.reserveCapacity(count)
        for _ in 0..<count { list.append(try item(&r)) }
        return list
    }

    /// The list of an `ihave`, `graft` or `ihave-compact`: 1 … ``maxAnnouncements`` items.
    static func readAnnouncementList<T>(
        _ r: inout ByteReader, minimumItemSize: Int, _ what: String, _ items: String, _ item: (inout ByteReader) throws -> T
    ) throws -> [T] {
        try readList(&r, minimumItemSize: minimumItemSize, nonEmpty: true, limit: maxAnnouncements, { "\(what): \($0) \(items) (1…\(maxAnnouncements))" }, item)
    }

    /// Compact entries: count, then per entry the author (varint: `2 × index`, or `1` followed
    /// by the replica as 8 bytes LE) and the counter as a varint (≥ 1).
    static func write(_ entries: [AuthorEntry], _ w: inout ByteWriter) {
        w.varint(entries.count)
        for e in entries {
            switch e.author {
            case .index(let i): w.varint(UInt64(i) << 1)
            case .new(let replica):
                w.varint(1)
                w.u64le(replica.rawValue)
            }
            w.varint(e.counter)
        }
    }

    static func readEntries(_ r: inout ByteReader, limit: Int, _ what: String) throws -> [AuthorEntry] {
        try readList(&r, minimumItemSize: 2, nonEmpty: false, limit: limit, { "\(what) of \($0) entries exceeds \(limit)" }) { r in
            let tag = try r.varint()
            let author: AuthorRef
            if tag & 1 == 0 {
                guard tag >> 1 < UInt64(maxAuthorTable) else { throw MessageDecodeError("\(what): author index \(tag >> 1) beyond any table") }
                author = .index(UInt32(tag >> 1))
            } else {
                guard tag == 1 else { throw MessageDecodeError("\(what): author tag \(tag) is neither an index nor 1") }
                author = .new(ReplicaID(try r.u64le()))
            }
            let counter = try r.varint()
            guard counter >= 1, counter <= Dot.maxCounter else { throw MessageDecodeError("\(what): counter \(counter) out of range") }
            return AuthorEntry(author, counter)
        }
    }

    static func readVector(_ r: inout ByteReader) throws -> VersionVector {
        let count = try r.count(minimumItemSize: 9)
        guard count <= maxVectorEntries else { throw MessageDecodeError("vector of \(count) entries exceeds \(maxVectorEntries)") }
        var out: [ReplicaID: UInt64] = [:]
        out.reserveCapacity(count)
        var previous: UInt64?
        for _ in 0..<count {
            let replica = try r.u64le()
            if let p = previous, replica <= p { throw MessageDecodeError("vector replicas not strictly ascending") }
            previous = replica
            let counter = try r.varint()
            guard counter >= 1, counter <= Dot.maxCounter else { throw MessageDecodeError("vector counter \(counter) out of range") }
            out[ReplicaID(replica)] = counter
        }
        return VersionVector(out)
    }
}

extension Message {
    /// The `message` fuzz harness's check: bytes that decode must be the canonical encoding of
    /// what they decode to (re-encoding gives the same bytes), and decode again to the same
    /// message. Returns what is wrong, or nil.
    /// - Parameter bytes: any bytes.
    public static func canonicalRoundTrip(_ bytes: [UInt8]) -> String? {
        guard let m = try? Message(decoding: bytes) else { return nil }
        let again = m.encoded()
        guard again == bytes else { return "\(m.name): re-encoded to \(again.count) bytes that differ from the \(bytes.count) decoded" }
        guard let back = try? Message(decoding: again), back == m else { return "\(m.name): its encoding does not decode to it" }
        return nil
    }
}
