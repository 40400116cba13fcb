import Foundation
import Glibc
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore

/// Real nodes for in-process tests: each with a fresh identity and store under one directory,
/// listening on loopback, run on threads of their own.
final class TestNodes {
    let directory: String
    let ring: KeyRing
    private(set) var nodes: [Node] = []
    private var threads: [Thread] = []
    /// Each node's directory name and options (for ``restart(_:)``).
    private var made: [(name: String, options: NodeOptions)] = []

    /// - Parameters:
    ///   - name: a tag for the directory (`/tmp/lattice-NAME-PID`).
    ///   - ring: the network keys every node shares.
    init(_ name: String, ring: KeyRing? = nil) throws {
        directory = "/tmp/lattice-\(name)-\(getpid())"
        _ = mkdir(directory, 0o700)
        self.ring = try ring ?? KeyRing(current: NetworkKey.generate())
    }

    /// A node (not running yet) with discovery off unless `configure` turns it on.
    func make(_ name: String, peers: [StaticPeer] = [], configure: (inout NodeOptions) -> Void = { _ in }) throws -> Node {
        let identity = try NodeIdentity.generate()
        let store = try ReplicaStore.open(at: directory + "/" + name, replicaID: ReplicaID(identity.nodeID.replicaRawValue))
        var options = NodeOptions()
        options.listen = SocketAddress(host: "127.0.0.1", port: 0)
        options.discovery = false
        options.peers = peers
        configure(&options)
        let node = try Node(identity: identity, keyRing: ring, trust: TrustPolicy(), store: store, options: options, log: NodeLog(level: .error))
        nodes.append(node)
        made.append((name, options))
        return node
    }

    /// The data directory of node `i`.
    func directory(of i: Int) -> String { directory + "/" + made[i].name }

    /// Stops node `i` (if running), closes its store; returns its identity for ``restart(_:)``.
    func halt(_ i: Int) {
        nodes[i].stop()
        if i < threads.count { while !threads[i].isFinished { usleep(1_000) } }
        try? nodes[i].store.close()
    }

    /// Node `i` again, from its data directory, with its identity and options, running (after
    /// ``halt(_:)``).
    @discardableResult
    func restart(_ i: Int) throws -> Node {
        let identity = nodes[i].identity
        let store = try ReplicaStore.open(at: directory(of: i), replicaID: ReplicaID(identity.nodeID.replicaRawValue))
        let node = try Node(identity: identity, keyRing: ring, trust: TrustPolicy(), store: store, options: made[i].options, log: NodeLog(level: .error))
        nodes[i] = node
        let t = Thread { node.run() }
        t.start()
        threads[i] = t
        return node
    }

    /// Runs every node made so far on a thread of its own.
    func start() {
        for node in nodes.dropFirst(threads.count) {
            let t = Thread { node.run() }
            t.start()
            threads.append(t)
        }
    }

    /// Stops the nodes, waits for their threads, closes the stores and removes the directory.
    func stop() {
        for n in nodes { n.stop() }
        for t in threads { while !t.isFinished { usleep(1_000) } }
        for n in nodes { try? n.store.close() }
        _ = system("rm -rf '\(directory)'")
    }

    /// Runs `body` on `node`'s loop and returns its result (the node's state is confined there).
    static func onLoop<T>(_ node: Node, _ body: @escaping @Sendable () -> T) -> T {
        let box = LoopResult<T>()
        let done = DispatchSemaphore(value: 0)
        node.loop.post {
            box.value = body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

/// A value handed from a node's loop thread to the test thread (after a semaphore).
final class LoopResult<T>: @unchecked Sendable {
    var value: T?
}
