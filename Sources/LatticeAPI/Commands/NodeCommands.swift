import Foundation
import LatticeCRDT
package import LatticeCrypto
import LatticeStore

/// `init`, `invite`, `join`, `keys`.
package enum NodeCommands {
    package static let initHelp = """
        usage: lattice init [--name NAME] [--fsync always|batch|none] [--join INVITE] [--data DIR] [--json]

        Creates a node in the data directory (mode 0700): identity key (0600), network key (0600;
        a new network, or the invite's with --join, which also trusts the inviter), trust policy,
        and config.json (name, fsync, created). Prints the node ID. Refuses an existing node.
          --fsync   batch (default: a change is acknowledged after a group fsync, ≤ 2 ms),
                    always (one fsync per change), none (UNSAFE: survives a crash of lattice,
                    not of the machine)
        """

    package static let inviteHelp = """
        usage: lattice invite [--address HOST:PORT …] [--data DIR] [--json]

        Prints an invite: the network key, this node's ID and address hints, with a checksum.
        It contains the network key: share it only over a channel you trust.
        """

    package static let joinHelp = """
        usage: lattice join INVITE [--data DIR] [--json]

        On an initialised node: stores the invite's network key (made current; older keys stay
        accepted) and trusts the inviting node. To create a node that joins, use init --join.
        """

    package static let keysHelp = """
        usage: lattice keys [--data DIR] [--json]
               lattice keys revoke NODE_ID [--data DIR] [--json]
               lattice keys new | install INVITE | use FINGERPRINT | remove FINGERPRINT

        Lists this node's ID, the network key fingerprints, and trusted and revoked node IDs;
        `revoke` adds a node to the revoked list (its handshakes are refused from then on).

        Network key rotation, without downtime (nodes accept every installed key):
          1. on one node `lattice keys new` (prints an invite carrying the new key), then on every
             other node `lattice keys install INVITE`: all nodes now accept both keys;
          2. on every node `lattice keys use FINGERPRINT`: new handshakes use the new key;
          3. on every node `lattice keys remove OLD_FINGERPRINT`.
        """

    package static func initNode(_ a: [String]) throws(CLIError) {
        let args = try Arguments("init", a, valued: ["--name", "--fsync", "--join"])
        if args.help { return out(initHelp) }
        try args.expect(0...0, "init [--name NAME] [--fsync always|batch|none] [--join INVITE]")
        let fsync = args.value("--fsync") ?? "batch"
        guard ["always", "batch", "none"].contains(fsync) else {
            throw CLIError(message: "init: --fsync takes always, batch or none (got '\(fsync)')")
        }
        var invite: Invite?
        if let text = args.value("--join") { invite = try decodeInvite(text) }
        let paths = NodePaths(root: args.dataDirectory)
        let fm = FileManager.default
        if fm.fileExists(atPath: paths.identity) {
            throw CLIError(
                message: "\(paths.root) already holds a node; use it, or choose another directory with --data", code: .failure)
        }
        do {
            try fm.createDirectory(atPath: paths.root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            _ = chmod(paths.root, 0o700)
        } catch {
            throw CLIError(message: "cannot create \(paths.root): \(error.localizedDescription); check the parent directory", code: .failure)
        }
        let identity: NodeIdentity
        do {
            identity = try NodeIdentity.generate()
            let key = try invite?.networkKey ?? NetworkKey.generate()
            var policy = TrustPolicy()
            if let invite { policy.trust(invite.inviter) }
            try KeyFile.save(KeyRing(current: key), to: paths.networkKey)
            try policy.save(to: paths.trust)
            let created = ISO8601DateFormatter().string(from: Date())
            try NodeConfig(name: args.value("--name") ?? "", fsync: fsync, created: created).save(paths)
            _ = try apiToken(paths)
            // The identity last: its presence marks an initialised node.
            try KeyFile.save(identity, to: paths.identity)
        } catch {
            throw cliError(error)
        }
        // Create the store so the directory layout is complete.
        var options = StoreOptions()
        options.log.fsyncPolicy = .always
        do { try LatticeStore.Store.open(at: paths.root, options: options).close() } catch { throw cliError(error) }
        if args.json {
            return out(
                JSON.object([
                    ("node_id", .string(identity.nodeID.description)),
                    ("replica", .string(String(format: "%016llx", identity.nodeID.replicaRawValue))),
                    ("data", .string(paths.root)), ("joined", .bool(invite != nil)),
                ]).text)
        }
        out(identity.nodeID.description)
    }

    package static func decodeInvite(_ text: String) throws(CLIError) -> Invite {
        do {
            return try Invite.decode(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw CLIError(message: "invalid invite: \(error); ask for a new one with `lattice invite`", code: .dataError)
        }
    }

    package static func invite(_ a: [String]) throws(CLIError) {
        let args = try Arguments("invite", a, valued: ["--address"])
        if args.help { return out(inviteHelp) }
        try args.expect(0...0, "invite [--address HOST:PORT …]")
        let paths = NodePaths(root: args.dataDirectory)
        let identity = try loadIdentity(paths)
        let text: String
        do {
            let ring = try KeyFile.loadKeyRing(from: paths.networkKey)
            text = try Invite(networkKey: ring.current, inviter: identity.nodeID, addressHints: args.values["--address"] ?? []).encoded()
        } catch let e as CryptoError where e.code == .invalidArgument {
            throw CLIError(message: "invite: \(e.message); give addresses as host:port, at most \(Invite.maxHints)")
        } catch {
            throw cliError(error)
        }
        if args.json { return out(JSON.object([("invite", .string(text))]).text) }
        out(text)
    }

    package static func join(_ a: [String]) throws(CLIError) {
        let args = try Arguments("join", a)
        if args.help { return out(joinHelp) }
        try args.expect(1...1, "join INVITE")
        let invite = try decodeInvite(args.positional[0])
        let paths = NodePaths(root: args.dataDirectory)
        guard FileManager.default.fileExists(atPath: paths.identity) else {
            throw CLIError(
                message: "no node in \(paths.root); create one that joins with `lattice init --join INVITE --data \(paths.root)`",
                code: .notFound)
        }
        let identity = try loadIdentity(paths)
        guard invite.inviter != identity.nodeID else {
            throw CLIError(message: "join: this invite was made by this node; use it on another node", code: .dataError)
        }
        do {
            var ring = try KeyFile.loadKeyRing(from: paths.networkKey)
            if !ring.keys.contains(invite.networkKey) {
                if ring.keys.count >= KeyRing.capacity { ring = KeyRing(current: invite.networkKey) } else {
                    try ring.install(invite.networkKey)
                }
            }
            try ring.use(invite.networkKey.id)
            try KeyFile.save(ring, to: paths.networkKey)
            var policy = try TrustPolicy.load(from: paths.trust)
            policy.trust(invite.inviter)
            try policy.save(to: paths.trust)
        } catch {
            throw cliError(error)
        }
        try ConfigCommands.reloadRunningNode(paths)
        if args.json {
            return out(
                JSON.object([("trusted", .string(invite.inviter.description)), ("network_key", .string(invite.networkKey.id.description))]).text)
        }
        out("joined network \(invite.networkKey.id); trusting \(invite.inviter)")
    }

    package static func keys(_ a: [String]) throws(CLIError) {
        let args = try Arguments("keys", a)
        if args.help { return out(keysHelp) }
        let paths = NodePaths(root: args.dataDirectory)
        let identity = try loadIdentity(paths)
        if args.positional.first == "revoke" {
            try args.expect(2...2, "keys revoke NODE_ID")
            let id: NodeID
            do { id = try NodeID.parse(args.positional[1]) } catch {
                throw CLIError(message: "'\(args.positional[1])' is not a node ID: \(error); copy it from `lattice keys`", code: .dataError)
            }
            guard id != identity.nodeID else { throw CLIError(message: "keys revoke: that is this node's own ID", code: .dataError) }
            do {
                var policy = try TrustPolicy.load(from: paths.trust)
                policy.revoke(id)
                try policy.save(to: paths.trust)
            } catch { throw cliError(error) }
            try ConfigCommands.reloadRunningNode(paths)
            if args.json { return out(JSON.object([("revoked", .string(id.description))]).text) }
            return out("revoked \(id)")
        }
        if let verb = args.positional.first, ["new", "install", "use", "remove"].contains(verb) {
            return try rotate(verb, args, paths, identity)
        }
        try args.expect(0...0, "keys [revoke NODE_ID | new | install INVITE | use FINGERPRINT | remove FINGERPRINT]")
        let policy: TrustPolicy
        let ring: KeyRing
        do {
            policy = try TrustPolicy.load(from: paths.trust)
            ring = try KeyFile.loadKeyRing(from: paths.networkKey)
        } catch { throw cliError(error) }
        let trusted = policy.trusted.sorted().map(\.description)
        let revoked = policy.revoked.sorted().map(\.description)
        if args.json {
            return out(
                JSON.object([
                    ("node_id", .string(identity.nodeID.description)), ("mode", .string(policy.mode.rawValue)),
                    ("network_keys", .array(ring.keys.map { .string($0.id.description) })),
                    ("trusted", .array(trusted.map { .string($0) })), ("revoked", .array(revoked.map { .string($0) })),
                ]).text)
        }
        out("node     \(identity.nodeID)")
        out("mode     \(policy.mode.rawValue)")
        out("network  \(ring.keys.map(\.id.description).joined(separator: ", ")) (first = current)")
        out("trusted  \(trusted.isEmpty ? "(none)" : "")")
        for t in trusted { out("  \(t)") }
        out("revoked  \(revoked.isEmpty ? "(none)" : "")")
        for r in revoked { out("  \(r)") }
    }

    /// The three steps of a network key rotation (`keys new|install|use|remove`).
    package static func rotate(_ verb: String, _ args: Arguments, _ paths: NodePaths, _ identity: NodeIdentity) throws(CLIError) {
        try args.expect(verb == "new" ? 1...1 : 2...2, verb == "new" ? "keys new" : "keys \(verb) \(verb == "install" ? "INVITE" : "FINGERPRINT")")
        var ring: KeyRing
        do { ring = try KeyFile.loadKeyRing(from: paths.networkKey) } catch { throw cliError(error) }
        var result: [(String, JSON)] = []
        var message = ""
        do {
            switch verb {
            case "new":
                let key = try NetworkKey.generate()
                try ring.install(key)
                let invite = try Invite(networkKey: key, inviter: identity.nodeID, addressHints: []).encoded()
                result = [("installed", .string(key.id.description)), ("invite", .string(invite))]
                message = "installed new network key \(key.id) (not yet used)\non every other node: lattice keys install \(invite)"
            case "install":
                let invite = try decodeInvite(args.positional[1])
                try ring.install(invite.networkKey)
                result = [("installed", .string(invite.networkKey.id.description))]
                message = "installed network key \(invite.networkKey.id) (not yet used); switch with `lattice keys use \(invite.networkKey.id)`"
            default:
                guard let key = ring.keys.first(where: { $0.id.description == args.positional[1].lowercased() }) else {
                    throw CLIError(
                        message: "no installed network key \(args.positional[1]); `lattice keys` lists the fingerprints",
                        code: .notFound)
                }
                if verb == "use" {
                    try ring.use(key.id)
                    message = "network key \(key.id) is now current"
                    result = [("current", .string(key.id.description))]
                } else {
                    try ring.remove(key.id)
                    message = "removed network key \(key.id)"
                    result = [("removed", .string(key.id.description))]
                }
            }
            try KeyFile.save(ring, to: paths.networkKey)
            try ConfigCommands.reloadRunningNode(paths)
        } catch let e as CLIError {
            throw e
        } catch let e as CryptoError where e.code == .invalidArgument {
            throw CLIError(message: "keys \(verb): \(e.message)", code: .dataError)
        } catch {
            throw cliError(error)
        }
        if args.json { return out(JSON.object(result).text) }
        out(message)
    }
}
