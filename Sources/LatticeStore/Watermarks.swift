public import LatticeCRDT
import Synchronization

/// What one peer has durably acknowledged, and when it was last heard from.
public struct PeerWatermark: Sendable, Equatable {
    /// The peer's identifier (for example its node ID text).
    public var peer: String
    /// The version vector the peer has acknowledged as durable.
    public var acknowledged: VersionVector
    /// When the peer was last seen, in nanoseconds since the Unix epoch.
    public var lastSeenNanoseconds: Int64
    /// Whether the peer was expired: it no longer holds back compaction.
    public var expired: Bool

    /// Creates a watermark.
    public init(
        peer: String,
        acknowledged: VersionVector = VersionVector(),
        lastSeenNanoseconds: Int64 = 0,
        expired: Bool = false
    ) {
        self.peer = peer
        self.acknowledged = acknowledged
        self.lastSeenNanoseconds = lastSeenNanoseconds
        self.expired = expired
    }
}

/// The per-peer watermarks of a data directory, in `peers/watermarks`, replaced atomically
/// (temp file, fsync, rename, directory fsync) on every change: when a mutating method returns,
/// the change is durable.
///
/// File format (see `Docs/STORE.md`), integers little-endian:
///
/// ```
/// magic "LTCPEER\n" (8) | version u16 = 1 | reserved u16 | count u32
/// count × { idLength u16 | id UTF-8 | lastSeen i64 | flags u8 (bit 0 expired)
///           | entries u32 | entries × { replica u64 | counter u64 } }   (peers in id order)
/// crc32c u32 of every byte before it
/// ```
public final class WatermarkStore: Sendable {
    /// The magic bytes.
    public static let magic: [UInt8] = [0x4C, 0x54, 0x43, 0x50, 0x45, 0x45, 0x52, 0x0A]
    /// The largest watermark file accepted (checked before allocating): 64 MiB.
    public static let maxFileSize = 64 << 20
    /// The `peers/` directory.
    public let directory: String
    /// The file path.
    public var path: String { directory + "/watermarks" }
    let fs: FileSystem
    private let state: Mutex<[String: PeerWatermark]>

    /// Opens (creating the directory if needed) and loads the watermarks.
    /// - Parameters:
    ///   - directory: the `peers/` path.
    ///   - syscalls: the system-call table.
    /// - Throws: `.corrupt` when the file fails its checks (repair moves it aside).
    public init(directory: String, syscalls: Syscalls = .system) throws {
        self.directory = directory
        fs = FileSystem(syscalls)
        try fs.makeDirectory(directory)
        let file = directory + "/watermarks"
        var loaded: [String: PeerWatermark] = [:]
        if fs.exists(file) {
            let bytes = try fs.readFile(file, limit: Self.maxFileSize)
            switch Self.decode(bytes) {
            case .success(let peers): for p in peers { loaded[p.peer] = p }
            case .failure(let problem):
                throw StoreError(.corrupt, "\(file): \(problem); run repair to move it aside", path: file, offset: 0)
            }
        }
        state = Mutex(loaded)
    }

    /// Every peer's watermark, in peer order.
    public var all: [PeerWatermark] { state.withLock { $0.values.sorted { $0.peer < $1.peer } } }

    /// One peer's watermark.
    /// - Parameter peer: the peer ID.
    /// - Returns: the watermark, or nil for an unknown peer.
    public func watermark(for peer: String) -> PeerWatermark? { state.withLock { $0[peer] } }

    /// Records that `peer` durably holds `vector` (joined with what it acknowledged before) and was
    /// seen at `seenAtNanoseconds`. An expired peer that acknowledges is live again.
    /// - Throws: the write error; the change is then not made.
    public func acknowledge(peer: String, vector: VersionVector, seenAtNanoseconds: Int64) throws {
        try update { peers in
            var w = peers[peer] ?? PeerWatermark(peer: peer)
            w.acknowledged.formUnion(vector)
            w.lastSeenNanoseconds = max(w.lastSeenNanoseconds, seenAtNanoseconds)
            w.expired = false
            peers[peer] = w
        }
    }

    /// Marks `peer` as expired: it no longer holds back compaction. Its vector is kept.
    /// - Throws: `.notFound` for an unknown peer; the write error.
    public func expire(peer: String) throws {
        try update { peers in
            guard peers[peer] != nil else { throw StoreError(.notFound, "no watermark for peer \(peer)") }
            peers[peer]?.expired = true
        }
    }

    /// Forgets `peer` entirely.
    /// - Throws: the write error.
    public func remove(peer: String) throws {
        try update { peers in peers[peer] = nil }
    }

    /// Applies several changes and persists them once.
    /// - Parameter body: edits the peer → watermark map.
    /// - Throws: what `body` throws, or the write error; the in-memory state then stays as it was.
    public func update(_ body: (inout [String: PeerWatermark]) throws -> Void) throws {
        try state.withLock { peers in
            var copy = peers
            try body(&copy)
            for (key, value) in copy where value.peer != key { copy[key]?.peer = key }
            try fs.writeFileAtomically(path, directory: directory, bytes: Self.encode(Array(copy.values)))
            peers = copy
        }
    }

    /// Encodes watermarks into the file format.
    /// - Parameter peers: the watermarks (any order).
    /// - Returns: the file bytes.
    public static func encode(_ peers: [PeerWatermark]) -> [UInt8] {
        var out = magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(UInt16(1))
        put(UInt16(0))
        put(UInt32(peers.count))
        for p in peers.sorted(by: { $0.peer < $1.peer }) {
            let id = Array(p.peer.utf8.prefix(Int(UInt16.max)))
            put(UInt16(id.count))
            out += id
            put(p.lastSeenNanoseconds)
            put(UInt8(p.expired ? 1 : 0))
            let entries = p.acknowledged.entries
            put(UInt32(entries.count))
            for e in entries {
                put(e.replica.rawValue)
                put(e.counter)
            }
        }
        put(CRC32C.checksum(out))
        return out
    }

    /// Decodes and checks the file format.
    /// - Parameter bytes: the whole file.
    /// - Returns: the watermarks, or why the bytes are not valid.
    public static func decode(_ bytes: [UInt8]) -> Result<[PeerWatermark], SegmentHeader.HeaderProblem> {
        guard bytes.count >= 20, bytes.prefix(8).elementsEqual(magic) else {
            return .failure(.init("bad watermark file header"))
        }
        let body = bytes.count - 4
        let stored = bytes.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: body, as: UInt32.self))
        }
        guard stored == bytes.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) })
        else {
            return .failure(.init("watermark file checksum mismatch"))
        }
        var at = 8
        func get<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard body - at >= MemoryLayout<T>.size else { return nil }
            defer { at += MemoryLayout<T>.size }
            return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
        }
        guard get(UInt16.self) == 1, get(UInt16.self) != nil, let count = get(UInt32.self) else {
            return .failure(.init("unsupported watermark file version"))
        }
        var peers: [PeerWatermark] = []
        for _ in 0..<count {
            guard let idLength = get(UInt16.self), body - at >= Int(idLength) else {
                return .failure(.init("truncated peer id"))
            }
            let id = String(decoding: bytes[at..<(at + Int(idLength))], as: UTF8.self)
            at += Int(idLength)
            guard let seen = get(Int64.self), let flags = get(UInt8.self), let n = get(UInt32.self),
                UInt64(body - at) >= UInt64(n) * 16
            else { return .failure(.init("truncated peer entry")) }
            var vector = VersionVector()
            for _ in 0..<n {
                guard let replica = get(UInt64.self), let counter = get(UInt64.self) else {
                    return .failure(.init("truncated version vector"))
                }
                vector[ReplicaID(replica)] = counter
            }
            peers.append(
                PeerWatermark(peer: id, acknowledged: vector, lastSeenNanoseconds: seen, expired: flags & 1 != 0)
            )
        }
        guard at == body else { return .failure(.init("trailing bytes in watermark file")) }
        return .success(peers)
    }
}
