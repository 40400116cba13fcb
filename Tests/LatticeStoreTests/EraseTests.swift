import Foundation
import Glibc
import LatticeCRDT
import LatticeStore
import Testing

/// `forget` at the store: after an erase, no file of the data directory holds the erased bytes
/// (log segments, snapshots), before and after a reopen; a change that still carries the
/// content is stripped before it is logged.
@Suite("Erase at the store", .serialized)
struct EraseTests {
    static let secret = "SECRET-7f3a9c-remember-nothing"

    /// Every regular file under `root` whose bytes contain `needle`.
    static func filesContaining(_ needle: String, under root: String) -> [String] {
        var hits: [String] = []
        let needleBytes = Data(needle.utf8)
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        while let rel = e.nextObject() as? String {
            let path = root + "/" + rel
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            if data.range(of: needleBytes) != nil { hits.append(rel) }
        }
        return hits
    }

    @Test func anEraseLeavesTheContentInNoFileAndStaysAfterAReopen() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let id = ReplicaID(0xA11CE)
        var options = StoreOptions()
        options.log.segmentSize = 4096  // several segments
        let store = try ReplicaStore.open(at: dir.path, replicaID: id, options: options)
        let now = ReplicaStore.wallMilliseconds()
        for i in 0..<40 {
            try store.commit { r, d in try r.set(FieldPath("notes", Key("n\(i)"), "v"), .string("filler \(i) " + String(repeating: "x", count: 100)), now: now, into: &d) }
        }
        try store.commit { r, d in
            try r.set(FieldPath("memories", "m1", "note"), .string(Self.secret), now: now, into: &d)
            try r.add(FieldPath("memories", "m1", "tags"), [.string(Self.secret + "-tag")], now: now, into: &d)
            try r.insertText(FieldPath("memories", "m1", "body"), at: 0, Self.secret + " typed", now: now, into: &d)
        }
        try store.snapshot()
        for i in 40..<80 {
            try store.commit { r, d in try r.set(FieldPath("notes", Key("n\(i)"), "v"), .string("filler \(i) " + String(repeating: "y", count: 100)), now: now, into: &d) }
        }
        #expect(!Self.filesContaining(Self.secret, under: dir.path).isEmpty, "the test's secret is on disk before the erase")
        try store.commit { r, d in r.erase("memories", "m1", now: ReplicaStore.wallMilliseconds(), into: &d) }
        let report = try #require(store.lastPurge)
        #expect(report.log.records >= 1 && report.snapshots >= 1, "\(report)")
        #expect(Self.filesContaining(Self.secret, under: dir.path) == [], "erased bytes remain on disk")
        #expect(store.state.document("memories", "m1") == nil)
        #expect(store.state.documentIDs(in: "notes").count == 80, "nothing else was lost")
        #expect(!store.purgeDue)
        // A peer that was offline sends the old content again: stripped before it is logged.
        var old = Replica(id: ReplicaID(0xB0B))
        var d = Delta()
        try old.set(FieldPath("memories", "m1", "note"), .string(Self.secret + "-again"), now: now - 10, into: &d)
        try store.integrate(remote: d, now: ReplicaStore.wallMilliseconds())
        try store.flush()
        #expect(store.state.document("memories", "m1") == nil)
        #expect(Self.filesContaining(Self.secret, under: dir.path) == [])
        let state = store.state
        try store.close()
        let reopened = try ReplicaStore.open(at: dir.path, replicaID: id, options: options)
        defer { try? reopened.close() }
        #expect(reopened.state == state, "the purged log and snapshots recover the same state")
        #expect(reopened.state.erasures.count == 1)
        #expect(Self.filesContaining(Self.secret, under: dir.path) == [])
    }

    @Test func aPurgeInterruptedByACrashIsFinishedByTheNextOpen() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let id = ReplicaID(0xA11CE)
        let store = try ReplicaStore.open(at: dir.path, replicaID: id)
        let now = ReplicaStore.wallMilliseconds()
        try store.commit { r, d in try r.set(FieldPath("memories", "m1", "note"), .string(Self.secret), now: now, into: &d) }
        // The erase as a peer's change logged by an older build (no purge): the marker says a
        // purge is due, as after a crash between logging the erase and rewriting the files.
        var eraser = Replica(id: ReplicaID(0xB0B), state: store.state)
        var e = Delta()
        eraser.erase("memories", "m1", now: now + 1_000, into: &e)
        try store.store.log.appendDurably(type: ReplicaStore.remoteRecord, payload: e.encoded())
        try store.close()
        #expect(!Self.filesContaining(Self.secret, under: dir.path).isEmpty)
        let fd = open(dir.path + "/" + ReplicaStore.purgeMarker, O_CREAT | O_WRONLY, 0o600)
        close(fd)
        let reopened = try ReplicaStore.open(at: dir.path, replicaID: id)
        defer { try? reopened.close() }
        #expect(!reopened.purgeDue)
        #expect(reopened.state.document("memories", "m1") == nil)
        #expect(Self.filesContaining(Self.secret, under: dir.path) == [], "the open finished the purge")
    }
}
