import Foundation
import LatticeAPI
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import LatticeSync

/// `lattice run`: the foreground node.
enum RunCommand {
    static let help = """
        usage: lattice run [--listen HOST:PORT] [--peer NODE_ID@HOST:PORT …] [--no-discovery] [--api HOST:PORT | --no-api] [--api-public]
                           [--discovery-port PORT] [--isolated] [--log-level debug|info|warn|error]
                           [--data DIR]

        Runs this node in the foreground: listens for peers (default 0.0.0.0:7946), finds peers
        on the LAN by sealed beacons (UDP port 7946, broadcast and multicast) unless
        --no-discovery, dials the static peers (flags and "peers" in DATA/config.json), syncs
        over encrypted TCP, and logs one JSON object per line on stderr.
        SIGINT or SIGTERM: say goodbye to every peer, flush, exit 0.
        A second `lattice run` on the same data directory fails (exit 69).
        """

    static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments("run", a, valued: ["--listen", "--peer", "--log-level", "--discovery-port", "--api"], flags: ["--isolated", "--no-discovery", "--no-api", "--api-public"])
        if args.help { return print(help) }
        try args.expect(0...0, "run [options]")
        let paths = NodePaths(root: args.dataDirectory)
        var config = try NodeConfig.load(paths)
        // Flags override the file and the environment.
        func flag(_ name: String, _ key: String, _ value: Any, _ allowed: String) throws(CLIError) {
            guard let s = NodeConfig.settings.first(where: { $0.key == key }), s.apply(&config, value) else {
                throw CLIError(message: "run: \(name) must be \(allowed) (got '\(value)')")
            }
            config.sources[key] = .flag
        }
        if let l = args.value("--listen") { try flag("--listen", "listen", l, "HOST:PORT, for example 127.0.0.1:7946") }
        if let p = args.values["--peer"] {
            for one in p { _ = try NodeConfig.staticPeer(one, "--peer") }
            try flag("--peer", "peers", config.peers + p, "NODE_ID@HOST:PORT")
        }
        if args.flags.contains("--isolated") { try flag("--isolated", "isolated", true, "a flag") }
        if args.flags.contains("--no-discovery") { try flag("--no-discovery", "discovery", false, "a flag") }
        if let p = args.value("--discovery-port") { try flag("--discovery-port", "discovery_port", p, "a UDP port number 1-65535") }
        if let l = args.value("--log-level") { try flag("--log-level", "log_level", l, "debug, info, warn or error") }
        if let a = args.value("--api") { try flag("--api", "api", a, "HOST:PORT, for example 127.0.0.1:7947") }
        if args.flags.contains("--no-api") { try flag("--no-api", "api", "off", "a flag") }
        if args.flags.contains("--api-public") { try flag("--api-public", "api_public", true, "a flag") }

        var options = NodeOptions()
        guard let listen = SocketAddress(parsing: config.listen) else { throw CLIError(message: "run: listen must be HOST:PORT") }
        options.listen = listen
        for p in config.peers { options.peers.append(try NodeConfig.staticPeer(p, config.sources["peers"] == .flag ? "--peer" : "peers")) }
        options.isolated = config.isolated
        options.discovery = config.discovery
        options.discoveryPort = config.discoveryPort
        options.policy = config.syncPolicy
        let level = NodeLog.Level(name: config.logLevel) ?? .info
        // Before the store starts its sync thread, so that only the loop sees the signals.
        do { try Node.blockTerminationSignals() } catch { throw CLIError(message: "run: \(error)", code: .failure) }
        // Started by a supervisor that must not leave us behind (`lattice demo`): its death
        // delivers SIGTERM, which the node handles like Ctrl-C.
        if let text = ProcessInfo.processInfo.environment["LATTICE_PARENT_PID"], let parent = Int32(text) {
            guard Node.terminateWithParent(parent) else { throw CLIError(message: "run: the supervising process \(parent) is gone", code: .unavailable) }
        }
        let (store, identity) = try openNode(args)
        let ring: KeyRing
        let trust: TrustPolicy
        do {
            ring = try KeyFile.loadKeyRing(from: paths.networkKey)
            trust = try TrustPolicy.load(from: paths.trust)
        } catch { throw cliError(error) }
        var api: HTTPServer.Options?
        if let text = config.api {
            guard let address = SocketAddress(parsing: text) else {
                throw CLIError(message: "run: --api must be HOST:PORT, for example 127.0.0.1:7947 (got '\(text)')")
            }
            let loopback = address.host == "127.0.0.1" || address.host == "::1" || address.host == "localhost"
            guard loopback || config.apiPublic else {
                throw CLIError(message: "run: api \(text) is not a loopback address; add --api-public (or \"api_public\": true) to expose the API beyond this machine")
            }
            api = APIServer.options(token: try apiToken(paths), address: address)
        }
        let node: Node
        let server: HTTPServer?
        do {
            node = try Node(identity: identity, keyRing: ring, trust: trust, store: store, options: options, log: NodeLog(level: level))
            try node.handleTerminationSignals()
            try Hosting.host(node, config: config, root: paths.root)
            let root = paths.root
            server = try api.map { o in try APIServer.start(node, options: o, dataDirectory: root) }
        } catch {
            throw CLIError(message: "run: \(error)", code: .unavailable)
        }
        if let server, let address = server.address {
            node.log.info("api", ["listen": .string(address.description), "token_file": .string(paths.apiToken)])
            // Where clients of this data directory (`lattice watch`, scripts) find the API.
            let file = paths.root + "/api.address"
            _ = FileManager.default.createFile(atPath: file, contents: Data((address.description + "\n").utf8), attributes: [.posixPermissions: 0o600])
            node.onStop { try? FileManager.default.removeItem(atPath: file) }
            Hosting.apiAddress = address
            if let o = api, !["127.0.0.1", "::1"].contains(o.address.host) {
                node.log.warn("api-public", ["listen": .string(address.description), "note": .string("the API is reachable from other machines; anyone with the token has full access")])
            }
            node.onStop { server.close() }
        }
        node.run()
        do { try store.close() } catch { throw cliError(error) }
    }
}
