import Synchronization

/// A materialised state the caller saved: opaque payload and metadata, and the log sequence
/// it covers (every record ≤ `sequence` is reflected in it).
public struct Snapshot: Sendable, Equatable {
    /// The highest log sequence the snapshot covers.
    public var sequence: UInt64
    /// When it was written, in nanoseconds since the Unix epoch.
    public var createdAtNanoseconds: Int64
    /// Opaque metadata (for example an encoded causal context).
    public var metadata: [UInt8]
    /// The opaque state.
    public var payload: [UInt8]

    /// Creates a snapshot value.
    public init(sequence: UInt64, createdAtNanoseconds: Int64, metadata: [UInt8], payload: [UInt8]) {
        self.sequence = sequence
        self.createdAtNanoseconds = createdAtNanoseconds
        self.metadata = metadata
        self.payload = payload
    }
}

/// A snapshot file and whether it checked out.
public struct SnapshotReport: Sendable, Equatable {
    /// The file's path.
    public var path: String
    /// The sequence from the file name.
    public var sequence: UInt64
    /// The file size.
    public var bytes: Int64
    /// Why the file is unusable, or nil when valid.
    public var damage: String?
}

/// The `snapshots/` directory: `<sequence, 20 digits>.snap` files, each written to a temporary
/// file, synced, renamed and the directory synced, so a crash leaves either no file or a whole one.
///
/// File format (see `Docs/STORE.md`), all integers little-endian:
///
/// ```
/// offset  size  field
///      0     8  magic          "LTCSNAP\n" (4C 54 43 53 4E 41 50 0A)
///      8     2  version        1
///     10     2  reserved       0
///     12     4  metadataLength u32
///     16     8  sequence       u64
///     24     8  createdAt      i64, nanoseconds since the Unix epoch
///     32     8  payloadLength  u64
///     40     4  headerCRC      CRC-32C of bytes [0, 40)
///     44     m  metadata
///   44+m     p  payload
/// 44+m+p     4  fileCRC        CRC-32C of bytes [0, 44+m+p)
/// ```
public final class SnapshotStore: Sendable {
    /// The magic bytes.
    public static let magic: [UInt8] = [0x4C, 0x54, 0x43, 0x53, 0x4E, 0x41, 0x50, 0x0A]
    static let headerSize = 44
    static let suffix = ".snap"
    /// The largest snapshot file accepted on read (checked before allocating): 4 GiB.
    public static let maxFileSize = 4 << 30

    /// The `snapshots/` directory.
    public let directory: String
    /// How many valid snapshots `write` keeps; every older file is deleted (damaged files newer
    /// than the kept ones stay, for inspection).
    public let keep: Int
    let fs: FileSystem
    private let writeLock = Mutex(())

    /// Opens (creating if needed) a snapshot directory.
    /// - Parameters:
    ///   - directory: the `snapshots/` path.
    ///   - keep: how many valid snapshots to keep, at least 1.
    ///   - syscalls: the system-call table.
    /// - Throws: `.io` if the directory cannot be created.
    public init(directory: String, keep: Int = 2, syscalls: Syscalls = .system) throws {
        self.directory = directory
        self.keep = max(1, keep)
        fs = FileSystem(syscalls)
        try fs.makeDirectory(directory)
    }

    /// Encodes a snapshot file.
    /// - Parameter snapshot: the snapshot.
    /// - Returns: the file bytes.
    public static func encode(_ snapshot: Snapshot) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: headerSize)
        bytes.replaceSubrange(0..<8, with: magic)
        bytes.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt16(1).littleEndian, toByteOffset: 8, as: UInt16.self)
            p.storeBytes(of: UInt32(snapshot.metadata.count).littleEndian, toByteOffset: 12, as: UInt32.self)
            p.storeBytes(of: snapshot.sequence.littleEndian, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: snapshot.createdAtNanoseconds.littleEndian, toByteOffset: 24, as: Int64.self)
            p.storeBytes(of: UInt64(snapshot.payload.count).littleEndian, toByteOffset: 32, as: UInt64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<40]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 40, as: UInt32.self)
        }
        bytes.reserveCapacity(headerSize + snapshot.metadata.count + snapshot.payload.count + 4)
        bytes += snapshot.metadata
        bytes += snapshot.payload
        let crc = CRC32C.checksum(bytes)
        withUnsafeBytes(of: crc.littleEndian) { bytes += $0 }
        return bytes
    }

    /// Decodes and checks a snapshot file.
    /// - Parameter bytes: the whole file.
    /// - Returns: the snapshot, or why it is unusable.
    public static func decode(_ bytes: [UInt8]) -> Result<Snapshot, SegmentHeader.HeaderProblem> {
        bytes.withUnsafeBytes { p in
            guard p.count >= headerSize + 4 else { return .failure(.init("snapshot truncated (\(p.count) bytes)")) }
            guard p.prefix(8).elementsEqual(magic) else { return .failure(.init("bad snapshot magic")) }
            let headerCRC = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
            guard headerCRC == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<40])) else {
                return .failure(.init("snapshot header checksum mismatch"))
            }
            let version = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
            guard version == 1 else { return .failure(.init("unsupported snapshot version \(version)")) }
            let m = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
            let payloadLength = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            guard payloadLength <= UInt64(maxFileSize), headerSize + m + Int(payloadLength) + 4 == p.count else {
                return .failure(.init("snapshot length fields do not match the file size \(p.count)"))
            }
            let end = p.count - 4
            let stored = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: end, as: UInt32.self))
            guard stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<end])) else {
                return .failure(.init("snapshot checksum mismatch"))
            }
            return .success(
                Snapshot(
                    sequence: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                    createdAtNanoseconds: Int64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: Int64.self)),
                    metadata: Array(p[headerSize..<(headerSize + m)]),
                    payload: Array(p[(headerSize + m)..<end])
                )
            )
        }
    }

    /// Writes a snapshot durably (temp file, fsync, rename, directory fsync), then deletes valid
    /// snapshots beyond the newest `keep`.
    /// - Parameters:
    ///   - sequence: the highest log sequence the state covers.
    ///   - metadata: opaque metadata.
    ///   - payload: the opaque state.
    /// - Returns: the snapshot as written.
    /// - Throws: `.noSpace`, `.io`… — the previous snapshots are then untouched.
    @discardableResult
    public func write(sequence: UInt64, metadata: [UInt8], payload: [UInt8]) throws -> Snapshot {
        let snapshot = Snapshot(
            sequence: sequence,
            createdAtNanoseconds: ConditionLock.wallNanoseconds(),
            metadata: metadata,
            payload: payload
        )
        try writeLock.withLock { _ in
            try fs.writeFileAtomically(path(for: sequence), directory: directory, bytes: Self.encode(snapshot))
            try prune()
        }
        return snapshot
    }

    /// Rewrites the payload of every valid snapshot for which `transform` returns a new one,
    /// each file atomically (temp file, fsync, rename, directory fsync), and deletes damaged
    /// snapshot files, which cannot be purged (an erase).
    /// - Parameter transform: a snapshot's payload → a new payload, or `nil` to keep it.
    /// - Returns: how many files were rewritten and how many damaged ones deleted.
    @discardableResult
    public func rewriteAll(_ transform: ([UInt8]) throws -> [UInt8]?) throws -> (rewritten: Int, removedDamaged: Int) {
        try writeLock.withLock { _ in
            var rewritten = 0
            var removed = 0
            for (path, seq) in try files() {
                switch load(path: path, sequence: seq) {
                case .success(var snapshot):
                    guard let fresh = try transform(snapshot.payload) else { continue }
                    snapshot.payload = fresh
                    try fs.writeFileAtomically(path, directory: directory, bytes: Self.encode(snapshot))
                    rewritten += 1
                case .failure:
                    try fs.unlink(path)
                    removed += 1
                }
            }
            if removed > 0 { try fs.syncDirectory(directory) }
            return (rewritten, removed)
        }
    }

    func path(for sequence: UInt64) -> String {
        let digits = String(sequence)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + Self.suffix
    }

    /// The snapshot files, newest first, as (path, sequence).
    func files() throws -> [(path: String, sequence: UInt64)] {
        try fs.listDirectory(directory).compactMap { name -> (String, UInt64)? in
            guard name.hasSuffix(Self.suffix) else { return nil }
            let stem = name.dropLast(Self.suffix.count)
            guard stem.count == 20, let seq = UInt64(stem) else { return nil }
            return (directory + "/" + name, seq)
        }.sorted { $0.1 > $1.1 }
    }

    /// Reads and checks one file.
    func load(path: String, sequence: UInt64) -> Result<Snapshot, SegmentHeader.HeaderProblem> {
        let bytes: [UInt8]
        do { bytes = try fs.readFile(path, limit: Self.maxFileSize) } catch {
            return .failure(.init("\(error)"))
        }
        switch Self.decode(bytes) {
        case .success(let s) where s.sequence != sequence:
            return .failure(.init("snapshot sequence \(s.sequence) does not match the file name"))
        case let other:
            return other
        }
    }

    /// The newest snapshot that checks out, falling back past damaged ones.
    /// - Returns: the snapshot (nil when none is valid: replay the whole log) and a report per
    ///   damaged file skipped.
    /// - Throws: `.io` if the directory cannot be listed.
    public func loadNewest() throws -> (snapshot: Snapshot?, skipped: [SnapshotReport]) {
        var skipped: [SnapshotReport] = []
        for (path, seq) in try files() {
            switch load(path: path, sequence: seq) {
            case .success(let s): return (s, skipped)
            case .failure(let problem):
                skipped.append(
                    SnapshotReport(path: path, sequence: seq, bytes: fileSize(path), damage: problem.description)
                )
            }
        }
        return (nil, skipped)
    }

    /// Checks every snapshot file without modifying anything.
    /// - Returns: one report per file, newest first.
    /// - Throws: `.io` if the directory cannot be listed.
    public func verify() throws -> [SnapshotReport] {
        try files().map { path, seq in
            let damage: String? =
                switch load(path: path, sequence: seq) {
                case .success: nil
                case .failure(let problem): problem.description
                }
            return SnapshotReport(path: path, sequence: seq, bytes: fileSize(path), damage: damage)
        }
    }

    private func fileSize(_ path: String) -> Int64 {
        guard let f = try? fs.open(path, flags: FileSystem.readOnly) else { return 0 }
        defer { f.closeIgnoringErrors() }
        return (try? f.size()) ?? 0
    }

    /// Once the newest `keep` valid snapshots are found, deletes every older snapshot file.
    /// Damaged files newer than those are kept for inspection.
    private func prune() throws {
        var valid = 0
        var removed = false
        for (path, seq) in try files() {
            if valid >= keep {
                try fs.unlink(path)
                removed = true
            } else if case .success = load(path: path, sequence: seq) {
                valid += 1
            }
        }
        if removed { try fs.syncDirectory(directory) }
    }
}
