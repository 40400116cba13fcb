import Foundation
import LatticeCRDT
import LatticeNode
package import LatticeCrypto
package import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// The files of a node's data directory that the CLI owns (the store ignores them).
package struct NodePaths {
    package let root: String

    /// The files of the data directory `root`.
    package init(root: String) { self.root = root }

    package var identity: String { root + "/identity.key" }
    package var networkKey: String { root + "/network.key" }
    package var trust: String { root + "/trust" }
    package var config: String { root + "/config.json" }
    package var apiToken: String { root + "/api.token" }
}

/// The HTTP API's bearer token (`DATA/api.token`, 0600): read, or created with 32 random bytes
/// (hex) when missing. A file readable by group or others is refused.
package func apiToken(_ paths: NodePaths) throws(CLIError) -> String {
    let path = paths.apiToken
    if let data = FileManager.default.contents(atPath: path) {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw CLIError(message: "\(path) is readable by group or others; chmod 600 it (it grants full access to the API)", code: .permission)
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 32, token.allSatisfy({ $0.isHexDigit }) else {
            throw CLIError(message: "\(path) does not hold a token (64 hex digits); delete it to get a new one", code: .dataError)
        }
        return token
    }
    var generator = SystemRandomNumberGenerator()  // getrandom(2)
    let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
        throw CLIError(message: "cannot write \(path); check the directory's permissions", code: .failure)
    }
    return token
}

/// Loads the node identity; a missing node is exit 2 with the command to create it.
package func loadIdentity(_ paths: NodePaths) throws(CLIError) -> NodeIdentity {
    guard FileManager.default.fileExists(atPath: paths.identity) else {
        throw CLIError(message: "no node in \(paths.root); run `lattice init --data \(paths.root)` first", code: .notFound)
    }
    do {
        return try KeyFile.loadIdentity(from: paths.identity)
    } catch {
        throw cliError(error)
    }
}

/// Opens the node's replica store (identity + config + store).
/// - Parameter segmentSize: a log segment size override (the crash test uses small segments so
///   that compaction really deletes files).
package func openNode(_ args: Arguments, segmentSize: Int? = nil) throws(CLIError) -> (ReplicaStore, NodeIdentity) {
    if let node = Hosting.node { return (node.store, node.identity) }
    let paths = NodePaths(root: args.dataDirectory)
    let identity = try loadIdentity(paths)
    let config = try NodeConfig.load(paths)
    var options = StoreOptions()
    options.log.fsyncPolicy = config.policy
    if let segmentSize { options.log.segmentSize = segmentSize }
    do {
        let store = try ReplicaStore.open(at: paths.root, replicaID: ReplicaID(identity.nodeID.replicaRawValue), options: options)
        return (store, identity)
    } catch {
        throw cliError(error)
    }
}
