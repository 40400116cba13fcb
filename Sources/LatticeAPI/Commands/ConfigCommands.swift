import Foundation
import LatticeCrypto
import LatticeNode

/// `config` (the effective configuration and where each value comes from) and `isolation`.
package enum ConfigCommands {
    package static let configHelp = """
        usage: lattice config [--data DIR] [--json]
               lattice config set KEY JSON_VALUE [--data DIR]

        Shows every configuration key with its effective value and its source: default,
        file (DATA/config.json), env (LATTICE_KEY) or flag. While a node runs: the values it
        runs with (isolation as switched since). `lattice run` flags override file and env.
        `set` validates a value and writes it to config.json (other keys are kept), for example
          lattice config set sync '{"collections": {"memories": "local"}}'
          lattice config set log_level '"debug"'
        Keys and allowed values: Docs/CONFIG.md. A running node reads the file when it starts.
        """

    package static let isolationHelp = """
        usage: lattice isolation [on|off] [--data DIR] [--json]

        Isolation mode: no network at all (sessions end with a goodbye, no beacons, connections
        refused). Local reads and writes go on and queue in the log; `off` reconnects and syncs.
        Switches a running node at once; the setting is saved in config.json ("isolated") and
        survives restarts. Without an argument: shows the mode.
        """

    package static func config(_ a: [String]) throws(CLIError) {
        let args = try Arguments("config", a)
        if args.help { return out(configHelp) }
        let paths = NodePaths(root: args.dataDirectory)
        if args.positional.first == "set" {
            try args.expect(3...3, "config set KEY JSON_VALUE")
            let text = args.positional[2]
            let value: Any
            if let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) {
                value = parsed
            } else {
                value = text  // a bare word: a string
            }
            let key = args.positional[1]
            try NodeConfig.update(paths, [key: value])
            // A running node applies these at once: show them as it runs with them.
            if ["retention", "retention_interval"].contains(key), var running = Hosting.config,
                let setting = NodeConfig.settings.first(where: { $0.key == key }),
                ![.flag, .environment].contains(running.sources[key]), setting.apply(&running, value)
            {
                running.sources[key] = .file
                Hosting.config = running
                if key == "retention_interval", let node = Hosting.node, let root = Hosting.root {
                    RetentionCommand.schedule(node, root: root, interval: running.retentionInterval)
                }
            }
            if args.json { return out(JSON.object([("ok", .bool(true))]).text) }
            let when = key == "retention_interval" ? "now" : key == "retention" ? "at its next retention run" : "at its next start"
            return out("\(key) saved in \(paths.config)\(Hosting.node != nil ? " (the running node uses it \(when))" : "")")
        }
        try args.expect(0...0, "config [set KEY JSON_VALUE]")
        // In a running node: what it runs with (its flags included), not a fresh reading.
        let config: NodeConfig
        if let running = Hosting.config { config = running } else { config = try NodeConfig.load(paths) }
        let rows = config.effective
        if args.json {
            var object: [String: Any] = [:]
            for r in rows { object[r.key] = ["value": r.value, "source": r.source.rawValue] }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
                throw CLIError(message: "cannot encode the configuration", code: .failure)
            }
            return out(String(decoding: data, as: UTF8.self))
        }
        let width = rows.map(\.key.count).max() ?? 0
        for r in rows {
            let key = r.key.padding(toLength: width, withPad: " ", startingAt: 0)
            out("\(key) \(NodeConfig.describe(r.value))  (\(r.source.rawValue)\(r.source == .environment ? " LATTICE_\(r.key.uppercased())" : ""))")
        }
    }

    package static func isolation(_ a: [String]) throws(CLIError) {
        let args = try Arguments("isolation", a)
        if args.help { return out(isolationHelp) }
        try args.expect(0...1, "isolation [on|off]")
        let paths = NodePaths(root: args.dataDirectory)
        var on: Bool?
        if let word = args.positional.first {
            guard let b = NodeConfig.boolean(word) else { throw CLIError(message: "isolation takes on or off (got '\(word)')") }
            on = b
        }
        if let on {
            try NodeConfig.update(paths, ["isolated": on])
            if Hosting.config != nil {
                Hosting.config?.isolated = on
                Hosting.config?.sources["isolated"] = .file
            }
            if let node = Hosting.node {
                do { try node.setIsolated(on) } catch { throw CLIError(message: "isolation: \(error)", code: .failure) }
            }
        }
        let effective = try NodeConfig.load(paths)
        let now = Hosting.node?.isolated ?? effective.isolated
        let overridden = Hosting.node == nil && effective.sources["isolated"] == .environment
        if args.json {
            return out(JSON.object([("isolated", .bool(now)), ("running", .bool(Hosting.node != nil))]).text)
        }
        out("isolation \(now ? "on: no network" : "off: syncing with peers")\(Hosting.node == nil ? " (applies when the node runs)" : "")\(overridden ? "; LATTICE_ISOLATED overrides the saved setting" : "")")
    }

    /// After `keys`/`join` changed the key ring or trust policy: a running node uses them now.
    package static func reloadRunningNode(_ paths: NodePaths) throws(CLIError) {
        guard let node = Hosting.node else { return }
        do {
            node.reload(keyRing: try KeyFile.loadKeyRing(from: paths.networkKey), trust: try TrustPolicy.load(from: paths.trust))
        } catch {
            throw cliError(error)
        }
    }
}
