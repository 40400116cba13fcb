import Foundation
import Glibc
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import Testing

/// A forget between three real nodes (TCP on loopback, Noise, stores on disk): the erased bytes
/// are in no file of any node's data directory after sync and after every node restarts,
/// including a node that was offline during the erase and wrote to the document meanwhile.
@Suite("Forget across nodes", .serialized)
struct ForgetSyncTests {
    /// Files under `directory` holding any of `needles`, with the needle found.
    static func hits(_ needles: [String], under directory: String) -> [String] {
        var out: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return ["cannot read \(directory)"] }
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let bytes = [UInt8](data)
            for n in needles where bytes.firstRange(of: Array(n.utf8)) != nil { out.append("\(relative): \(n)") }
        }
        return out
    }

    /// Waits (up to 20 s) until `condition` holds on `node`'s loop.
    static func eventually(_ node: Node, _ condition: @escaping @Sendable (ReplicaState) -> Bool) -> Bool {
        for _ in 0..<2_000 {
            if TestNodes.onLoop(node, { condition(node.store.state) }) { return true }
            usleep(10_000)
        }
        return false
    }

    static func write(_ node: Node, _ body: @escaping @Sendable (inout Replica, inout Delta, UInt64) throws -> Void) throws {
        let now = ReplicaStore.wallMilliseconds()
        let error = TestNodes.onLoop(node) { () -> String? in
            do {
                _ = try node.commit { r, d in try body(&r, &d, now) }
                return nil
            } catch { return "\(error)" }
        }
        if let error { throw POSIXError(.EIO, userInfo: [NSLocalizedDescriptionKey: error]) }
    }

    @Test func forgottenBytesAreInNoFileOfAnyNodeAfterSyncAndRestart() throws {
        let nodes = try TestNodes("forget-sync")
        defer { nodes.stop() }
        let a = try nodes.make("a")
        let listen = try #require(a.listenAddress)
        let peer = [StaticPeer(node: a.identity.nodeID, address: listen)]
        _ = try nodes.make("b", peers: peer)
        _ = try nodes.make("c", peers: peer)
        nodes.start()

        let tag = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let secret = "patient-secret-\(tag)"
        let body = "the text body \(tag)-confided"
        let offline = "written-offline-\(tag)"
        let m1 = FieldPath("memories", "m1", "note")
        try Self.write(a) { r, d, now in
            try r.set(m1, .string(secret), now: now, into: &d)
            try r.set(FieldPath("memories", "m1", "importance"), .double(0.2), now: now, into: &d)
            try r.replaceText(FieldPath("memories", "m1", "body"), with: body, now: now, into: &d)
            try r.set(FieldPath("memories", "m2", "note"), .string("kept-\(tag)"), now: now, into: &d)
        }
        for i in 0..<3 {
            #expect(Self.eventually(nodes.nodes[i]) { $0.document("memories", "m1")?.fields["body"] != nil }, "node \(i) never got m1")
        }
        // The secret is in snapshots too, not only in log segments.
        _ = TestNodes.onLoop(a) { try? a.store.compact() }
        #expect(!Self.hits([secret], under: nodes.directory(of: 0)).isEmpty)

        // C goes offline and writes to the document there, before the erase happens.
        nodes.halt(2)
        do {
            let store = try ReplicaStore.open(at: nodes.directory(of: 2), replicaID: ReplicaID(nodes.nodes[2].identity.nodeID.replicaRawValue))
            let now = ReplicaStore.wallMilliseconds()
            try store.commit { r, d in try r.set(FieldPath("memories", "m1", "mood"), .string(offline), now: now, into: &d) }
            try store.close()
        }
        #expect(!Self.hits([offline], under: nodes.directory(of: 2)).isEmpty, "C's offline write is in its log")
        usleep(5_000)  // the erase is stamped after C's offline write

        try Self.write(a) { r, d, now in r.erase("memories", "m1", now: now, into: &d) }
        let b = nodes.nodes[1]
        #expect(Self.eventually(b) { $0.document("memories", "m1") == nil && !$0.erasures.isEmpty }, "B never got the erase")
        #expect(Self.hits([secret, body], under: nodes.directory(of: 0)) == [], "A")
        #expect(Self.hits([secret, body], under: nodes.directory(of: 1)) == [], "B")

        // C comes back: the erase reaches it, and its offline write (made before the erase)
        // is purged on every node, not resurrected.
        let c = try nodes.restart(2)
        #expect(Self.eventually(c) { $0.document("memories", "m1") == nil && !$0.erasures.isEmpty }, "C never got the erase")
        for i in 0..<3 {
            #expect(Self.eventually(nodes.nodes[i]) { $0.document("memories", "m1") == nil && $0.document("memories", "m2") != nil })
        }
        usleep(300_000)  // anything C still sent is in (and purged from) A's and B's logs
        for i in 0..<3 {
            #expect(Self.hits([secret, body, offline], under: nodes.directory(of: i)) == [], "node \(i) after sync")
        }

        // Every node restarts: nothing comes back from its files, and the rest is intact.
        for i in 0..<3 { nodes.halt(i) }
        for i in 0..<3 { try nodes.restart(i) }
        for i in 0..<3 {
            let n = nodes.nodes[i]
            #expect(TestNodes.onLoop(n) { n.store.state.document("memories", "m1") == nil })
            let kept = "kept-\(tag)"
            #expect(TestNodes.onLoop(n) { () -> Bool in
                guard case .register(let v, _)? = n.store.state.value(FieldPath("memories", "m2", "note")) else { return false }
                return v == .string(kept)
            })
            #expect(Self.hits([secret, body, offline], under: nodes.directory(of: i)) == [], "node \(i) after restart")
        }
    }
}
