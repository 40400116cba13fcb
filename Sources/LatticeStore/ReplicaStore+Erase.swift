import Glibc
import LatticeCRDT

/// What purging erased content from the files did.
public struct ErasePurgeReport: Sendable, Equatable {
    /// The erasures the state holds.
    public var erasures: Int = 0
    /// The log rewrite.
    public var log = LogRewriteReport()
    /// Snapshot files rewritten.
    public var snapshots: Int = 0
    /// Damaged snapshot files deleted (they could not be purged).
    public var damagedSnapshotsRemoved: Int = 0
}

extension ReplicaStore {
    /// The file that says a purge is due: written (durably) before a change carrying an
    /// erasure is logged, removed once every file is purged, and acted on by the next open
    /// when a crash came in between.
    public static let purgeMarker = "erase.pending"

    var purgeMarkerPath: String { store.directory + "/" + Self.purgeMarker }

    /// Whether a change carries an erasure (then its content must be purged from the files).
    static func carriesErasure(_ delta: Delta) -> Bool {
        delta.collectionNames.contains { $0 == Erasure.collection }
    }

    /// Creates the purge marker durably.
    func markPurgeDue() throws {
        let fd = Glibc.open(purgeMarkerPath, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.io, "cannot create \(purgeMarkerPath): \(String(cString: strerror(errno)))", path: purgeMarkerPath) }
        let synced = fsync(fd) == 0
        Glibc.close(fd)
        let dir = Glibc.open(store.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            Glibc.close(dir)
        }
        guard synced else { throw StoreError(.io, "cannot sync \(purgeMarkerPath)", path: purgeMarkerPath) }
    }

    /// Whether a purge was due when the store opened or is due now.
    public var purgeDue: Bool { access(purgeMarkerPath, F_OK) == 0 }

    /// Rewrites every log record and snapshot that still holds content an erasure of this
    /// replica covers, each file crash-safely (see ``Log/rewrite(_:)``), forgets remembered text
    /// splices, and removes the purge marker. Runs after every change that brings an erasure
    /// (local, remote or catch-up), and on open when a crash interrupted one. O(log + snapshots).
    /// - Returns: what was rewritten.
    /// - Throws: an I/O error; the store then refuses changes until reopened, and the open
    ///   purges again.
    @discardableResult
    public func purgeErased() throws -> ErasePurgeReport {
        let state = replica.state
        let erasures = state.erasures
        var report = ErasePurgeReport(erasures: erasures.count)
        let directory = store.directory
        do {
            if !erasures.isEmpty {
                report.log = try store.log.rewrite { seq, type, payload in
                    switch type {
                    case Self.localRecord, Self.remoteRecord:
                        let delta = try Self.decodeDelta(seq, type, Array(payload), directory)
                        return state.strippingErased(delta)?.encoded()
                    case Self.catchUpRecord:
                        guard case .catchUp(let c) = try Self.decodeRecord(seq, type, Array(payload), directory) else { return nil }
                        return state.strippingErased(c)?.encoded()
                    default:
                        return nil
                    }
                }
                let snaps = try store.snapshots.rewriteAll { payload in
                    guard var s = try? ReplicaState(decoding: payload) else { return nil }
                    return s.purge(by: erasures) ? s.encoded() : nil
                }
                report.snapshots = snaps.rewritten
                report.damagedSnapshotsRemoved = snaps.removedDamaged
                textSplices = TextSpliceMemory()
            }
            if purgeDue {
                guard unlink(purgeMarkerPath) == 0 else { throw StoreError(.io, "cannot remove \(purgeMarkerPath)", path: purgeMarkerPath) }
            }
        } catch {
            failed = error
            throw error
        }
        lastPurge = report
        return report
    }
}
