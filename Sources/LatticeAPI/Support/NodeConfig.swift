import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import LatticeCRDT
package import LatticeCrypto
package import LatticeNode
package import LatticeStore
package import LatticeSync

/// The node's configuration: `DATA/config.json`, overridden by `LATTICE_*` environment
/// variables, overridden by `lattice run` flags (Docs/CONFIG.md). Every value is validated; an
/// error names the key, where it came from, and the allowed values.
package struct NodeConfig {
    /// Where a value came from.
    package enum Source: String { case defaults = "default", file, environment = "env", flag }

    /// A collection's sync rule: with every peer, with listed peers only, or none (local).
    package enum Scope: Equatable {
        case all
        case peers([NodeID])
        case local

        package var json: Any {
            switch self {
            case .all: "all"
            case .local: "local"
            case .peers(let ids): ids.map(\.description)
            }
        }

        package var syncScope: SyncPolicy.Scope {
            switch self {
            case .all: .all
            case .local: .none
            case .peers(let ids): .peers(Set(ids.map { ReplicaID($0.replicaRawValue) }))
            }
        }
    }

    package var name = ""
    package var fsync = "batch"
    package var created = ""
    package var listen = "0.0.0.0:7946"
    package var peers: [String] = []
    package var discovery = true
    package var discoveryPort: UInt16 = 7946
    /// The HTTP API's address; nil = off.
    package var api: String? = "127.0.0.1:7947"
    package var apiPublic = false
    package var logLevel = "info"
    package var isolated = false
    /// The rule for collections without their own.
    package var syncDefault = Scope.all
    /// Per-collection rules.
    package var syncCollections: [String: Scope] = [:]
    /// Retention rules, by collection (`retention`); applied by a running node every
    /// `retentionInterval` ms and by `lattice retention apply`.
    package var retention: [RetentionPolicy] = []
    /// `retention` as configured, for `lattice config`.
    package var retentionJSON: [String: Any] = [:]
    package var retentionInterval: UInt64 = 3_600_000
    /// Where each key's value came from (keys absent here are defaults).
    package var sources: [String: Source] = [:]

    package var policy: FsyncPolicy {
        switch fsync {
        case "always": .always
        case "none": .none
        default: .batch
        }
    }

    /// The engine's selective-sync policy: each collection's rule for both directions (a
    /// collection sent only to some peers is accepted only from them).
    package var syncPolicy: SyncPolicy {
        var p = SyncPolicy(fallback: syncDefault.syncScope)
        for (c, scope) in syncCollections {
            p.send[Key(c)] = scope.syncScope
            p.accept[Key(c)] = scope.syncScope
        }
        return p
    }

    // MARK: Keys

    /// One configuration key: its file name, environment variable, what it allows, and how a
    /// value (JSON from the file; a string from the environment) is applied.
    package struct Setting: Sendable {
        package let key: String
        package let allowed: String
        /// Says what exactly is wrong with a value `apply` refuses (nil: only `allowed`).
        package var explain: (@Sendable (Any) -> String?)? = nil
        package let apply: @Sendable (inout NodeConfig, Any) -> Bool
        package var env: String { "LATTICE_" + key.uppercased() }

        /// `KEY must be ALLOWED (got VALUE)`, and what exactly is wrong where that is known.
        package func refusal(_ value: Any, shown: String) -> String {
            let why = explain?(value).map { ": " + $0 } ?? ""
            return "\(key) must be \(allowed) (got \(shown))\(why)"
        }
    }

    /// The retention rules of a `retention` value, or what is wrong with it (naming the
    /// collection and the part).
    package static func retentionRules(_ v: Any) -> Result<([RetentionPolicy], [String: Any]), RetentionRuleError> {
        var object = v as? [String: Any]
        if let s = v as? String { object = (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] }
        guard let object else { return .failure(RetentionRuleError("it is not a JSON object of collection → rule")) }
        var rules: [RetentionPolicy] = []
        for name in object.keys.sorted() {
            guard !name.isEmpty else { return .failure(RetentionRuleError("a collection name is empty")) }
            guard !Erasure.isReserved(Key(name)) else { return .failure(RetentionRuleError("'\(name)' is reserved for the node's own records (names starting with ~)")) }
            guard let rule = object[name] as? [String: Any] else {
                return .failure(RetentionRuleError("the rule for '\(name)' is not an object such as {\"max_age\": \"30d\"}"))
            }
            guard !rule.isEmpty else { return .failure(RetentionRuleError("the rule for '\(name)' is empty: give max_age, where or both")) }
            if let extra = rule.keys.sorted().first(where: { !["max_age", "where"].contains($0) }) {
                return .failure(RetentionRuleError("the rule for '\(name)' has an unknown key '\(extra)' (a rule takes max_age and where)"))
            }
            var maxAge: UInt64?
            if let a = rule["max_age"] {
                guard let ms = duration(a), ms > 0 else {
                    return .failure(RetentionRuleError("max_age of '\(name)' is \(describe(a)), not a positive duration such as \"30d\""))
                }
                maxAge = ms
            }
            var texts: [String] = []
            if let w = rule["where"] {
                if let one = w as? String {
                    texts = [one]
                } else if let list = w as? [String], !list.isEmpty {
                    texts = list
                } else {
                    return .failure(RetentionRuleError("where of '\(name)' must be a condition or a non-empty list of conditions"))
                }
            }
            var conditions: [QueryCondition] = []
            for t in texts {
                do { conditions.append(try QueryParsing.condition(t)) } catch {
                    return .failure(RetentionRuleError("where of '\(name)': \(error.message)"))
                }
            }
            rules.append(RetentionPolicy(collection: Key(name), maxAge: maxAge, conditions: conditions))
        }
        return .success((rules, object))
    }

    /// What is wrong with a retention value.
    package struct RetentionRuleError: Error, CustomStringConvertible {
        package var description: String
        init(_ text: String) { description = text }
    }

    package static let settings: [Setting] = [
        Setting(key: "name", allowed: "a string") { c, v in
            guard let s = v as? String else { return false }
            c.name = s
            return true
        },
        Setting(key: "fsync", allowed: "\"always\", \"batch\" or \"none\"") { c, v in
            guard let s = v as? String, ["always", "batch", "none"].contains(s) else { return false }
            c.fsync = s
            return true
        },
        Setting(key: "created", allowed: "a string (set by init)") { c, v in
            guard let s = v as? String else { return false }
            c.created = s
            return true
        },
        Setting(key: "listen", allowed: "\"IP:PORT\", for example \"0.0.0.0:7946\" (a numeric IPv4 or [IPv6] address)") { c, v in
            guard let s = v as? String, bindable(s) else { return false }
            c.listen = s
            return true
        },
        Setting(key: "peers", allowed: "a list of \"NODE_ID@HOST:PORT\" (environment: comma-separated)") { c, v in
            let list: [String]
            if let s = v as? String {
                list = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            } else if let a = v as? [String] {
                list = a
            } else {
                return false
            }
            guard list.allSatisfy({ (try? NodeConfig.staticPeer($0, "")) != nil }) else { return false }
            c.peers = list
            return true
        },
        Setting(key: "discovery", allowed: "true or false") { c, v in
            guard let b = boolean(v) else { return false }
            c.discovery = b
            return true
        },
        Setting(key: "discovery_port", allowed: "a UDP port number 1-65535") { c, v in
            guard let n = integer(v), (1...65_535).contains(n) else { return false }
            c.discoveryPort = UInt16(n)
            return true
        },
        Setting(key: "api", allowed: "\"IP:PORT\" (127.0.0.1, ::1 or localhost unless api_public) or \"off\"") { c, v in
            guard let s = v as? String else { return false }
            if s == "off" {
                c.api = nil
                return true
            }
            guard bindable(s) else { return false }
            c.api = s
            return true
        },
        Setting(key: "api_public", allowed: "true or false (true lets the API listen beyond loopback)") { c, v in
            guard let b = boolean(v) else { return false }
            c.apiPublic = b
            return true
        },
        Setting(key: "log_level", allowed: "\"debug\", \"info\", \"warn\" or \"error\"") { c, v in
            guard let s = v as? String, NodeLog.Level(name: s) != nil else { return false }
            c.logLevel = s
            return true
        },
        Setting(key: "isolated", allowed: "true or false (isolation mode: no network at all)") { c, v in
            guard let b = boolean(v) else { return false }
            c.isolated = b
            return true
        },
        Setting(
            key: "sync",
            allowed:
                "{\"default\": RULE, \"collections\": {\"NAME\": RULE, …}} where RULE is \"all\", \"local\" or a list of node IDs (environment: the JSON text)"
        ) { c, v in
            var object = v as? [String: Any]
            if let s = v as? String { object = (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] }
            guard let object, Set(object.keys).isSubset(of: ["default", "collections"]) else { return false }
            if let d = object["default"] {
                guard let scope = scope(d) else { return false }
                c.syncDefault = scope
            }
            if let cs = object["collections"] {
                guard let map = cs as? [String: Any] else { return false }
                var out: [String: Scope] = [:]
                for (name, rule) in map {
                    guard !name.isEmpty, let scope = scope(rule) else { return false }
                    out[name] = scope
                }
                c.syncCollections = out
            }
            return true
        },
        Setting(
            key: "retention",
            allowed:
                "{\"COLLECTION\": {\"max_age\": DURATION, \"where\": CONDITION or [CONDITION, …]}, …} with at least one of max_age and where; DURATION such as \"30d\", \"12h\", \"90m\", \"45s\"; CONDITION as `ls --where` takes it, for example \"importance<0.3\" (environment: the JSON text)",
            explain: { v in
                if case .failure(let why) = retentionRules(v) { return why.description }
                return nil
            }
        ) { c, v in
            guard case .success(let (rules, object)) = retentionRules(v) else { return false }
            c.retention = rules
            c.retentionJSON = object
            return true
        },
        Setting(key: "retention_interval", allowed: "a DURATION of at least 1s, such as \"1h\" or \"10m\" (how often a running node applies retention)") { c, v in
            guard let ms = duration(v), ms >= 1_000 else { return false }
            c.retentionInterval = ms
            return true
        },
    ]

    /// A duration in ms: `N` followed by `ms`, `s`, `m`, `h` or `d` (a JSON number: seconds).
    package static func duration(_ v: Any) -> UInt64? {
        if let n = v as? NSNumber, !isJSONBoolean(n), let i = UInt64(exactly: n.doubleValue) {
            return i.multipliedReportingOverflow(by: 1_000).overflow ? nil : i * 1_000
        }
        guard let text = v as? String else { return nil }
        let units: [(String, UInt64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let n = UInt64(text.dropLast(suffix.count)) else { continue }
            let (ms, overflow) = n.multipliedReportingOverflow(by: scale)
            return overflow ? nil : ms
        }
        return nil
    }

    /// A `HOST:PORT` a socket can bind: a numeric IPv4 or IPv6 address (or `localhost`).
    package static func bindable(_ text: String) -> Bool {
        guard let a = SocketAddress(parsing: text) else { return false }
        if a.host == "localhost" { return true }
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, a.host, &v4) == 1 || inet_pton(AF_INET6, a.host, &v6) == 1
    }

    /// Whether the API address stays on this machine.
    package static func loopback(_ text: String) -> Bool {
        guard let a = SocketAddress(parsing: text) else { return false }
        return ["127.0.0.1", "::1", "localhost"].contains(a.host)
    }

    /// Rules between keys: an API beyond loopback needs `api_public`.
    package func checkCombination(_ origin: String) throws(CLIError) {
        if let api, !Self.loopback(api), !apiPublic {
            throw CLIError(message: "\(origin): api \"\(api)\" is not a loopback address; set api_public to true as well to expose the API beyond this machine", code: .dataError)
        }
    }

    package static func boolean(_ v: Any) -> Bool? {
        if let n = v as? NSNumber, isJSONBoolean(n) { return n.boolValue }
        guard let s = v as? String else { return nil }
        switch s.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: return nil
        }
    }

    package static func integer(_ v: Any) -> Int? {
        if let s = v as? String { return Int(s) }
        guard let n = v as? NSNumber, !isJSONBoolean(n), let i = Int(exactly: n.doubleValue) else { return nil }
        return i
    }

    package static func scope(_ v: Any) -> Scope? {
        if let s = v as? String {
            return s == "all" ? .all : s == "local" || s == "none" ? .local : nil
        }
        guard let list = v as? [String] else { return nil }
        var ids: [NodeID] = []
        for text in list {
            guard let id = NodeID(text) else { return nil }
            ids.append(id)
        }
        return .peers(ids)
    }

    // MARK: Loading and saving

    /// The file's values (validated), then the environment's.
    package static func load(_ paths: NodePaths, environment: [String: String] = ProcessInfo.processInfo.environment) throws(CLIError) -> NodeConfig {
        var config = NodeConfig()
        let object = try fileObject(paths)
        let known = Set(settings.map(\.key))
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw CLIError(
                message: "\(paths.config): unknown key \"\(unknown)\"; the keys are \(settings.map(\.key).joined(separator: ", ")) (Docs/CONFIG.md)",
                code: .dataError)
        }
        for s in settings {
            guard let v = object[s.key] else { continue }
            guard s.apply(&config, v) else {
                throw CLIError(message: "\(paths.config): \(s.refusal(v, shown: describe(v)))", code: .dataError)
            }
            config.sources[s.key] = .file
        }
        for s in settings where s.key != "created" {
            guard let v = environment[s.env] else { continue }
            guard s.apply(&config, v) else {
                throw CLIError(message: "environment \(s.env): \(s.refusal(v, shown: "\"\(v)\""))", code: .usage)
            }
            config.sources[s.key] = .environment
        }
        try config.checkCombination(environment.keys.contains(where: { $0.hasPrefix("LATTICE_API") }) ? "environment" : paths.config)
        return config
    }

    package static func fileObject(_ paths: NodePaths) throws(CLIError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: paths.config) else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError(message: "\(paths.config) is not a JSON object; fix or delete it (defaults are used without it)", code: .dataError)
        }
        return object
    }

    package static func describe(_ v: Any) -> String {
        if let s = v as? String { return "\"\(s)\"" }
        if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
            return String(decoding: d, as: UTF8.self)
        }
        return "\(v)"
    }

    /// Sets keys in the file (validated first), keeping every other key; written atomically.
    package static func update(_ paths: NodePaths, _ values: [String: Any]) throws(CLIError) {
        var object = try fileObject(paths)
        var check = NodeConfig()
        for (key, value) in values {
            guard let s = settings.first(where: { $0.key == key }) else {
                throw CLIError(message: "unknown configuration key \"\(key)\"; the keys are \(settings.map(\.key).joined(separator: ", "))")
            }
            guard s.apply(&check, value) else { throw CLIError(message: s.refusal(value, shown: describe(value)), code: .dataError) }
            object[key] = value
        }
        // The file as it would be, checked whole: no value that stops the next start.
        var merged = NodeConfig()
        for s in settings {
            if let v = object[s.key], !s.apply(&merged, v) {
                throw CLIError(message: "\(paths.config): \(s.refusal(v, shown: describe(v))); fix it first", code: .dataError)
            }
        }
        try merged.checkCombination(paths.config)
        guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]) else {
            throw CLIError(message: "cannot encode \(paths.config)", code: .failure)
        }
        guard writeDurably(Array((String(decoding: json, as: UTF8.self) + "\n").utf8), to: paths.config, directory: paths.root) else {
            throw CLIError(message: "cannot write \(paths.config): \(String(cString: strerror(errno))); check the directory's permissions", code: .failure)
        }
    }

    /// Replaces `path` atomically and durably: a temporary file (0600) written and fsynced,
    /// renamed over it, the directory fsynced — a crash leaves the old file or the new one.
    package static func writeDurably(_ bytes: [UInt8], to path: String, directory: String) -> Bool {
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                unlink(temp)
                return false
            }
            written += n
        }
        guard Glibc.fsync(fd) == 0, close(fd) == 0, rename(temp, path) == 0 else {
            unlink(temp)
            return false
        }
        let dir = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = Glibc.fsync(dir)
            close(dir)
        }
        return true
    }

    /// Writes name, fsync and created (by `init`).
    package func save(_ paths: NodePaths) throws(CLIError) {
        try Self.update(paths, ["name": name, "fsync": fsync, "created": created])
    }

    /// Every key's effective value and source, for `lattice config`.
    package var effective: [(key: String, value: Any, source: Source)] {
        let values: [String: Any] = [
            "name": name, "fsync": fsync, "created": created, "listen": listen, "peers": peers, "discovery": discovery,
            "discovery_port": Int(discoveryPort), "api": api ?? "off", "api_public": apiPublic, "log_level": logLevel,
            "isolated": isolated,
            "sync": ["default": syncDefault.json, "collections": syncCollections.mapValues(\.json)] as [String: Any],
            "retention": retentionJSON, "retention_interval": "\(retentionInterval / 1_000)s",
        ]
        return Self.settings.map { ($0.key, values[$0.key] ?? NSNull(), sources[$0.key] ?? .defaults) }
    }

    /// Parses `NODE_ID@HOST:PORT` (a `--peer` of `lattice run`, or an entry of `peers`).
    package static func staticPeer(_ p: String, _ source: String) throws(CLIError) -> StaticPeer {
        guard let at = p.firstIndex(of: "@"), let address = SocketAddress(parsing: String(p[p.index(after: at)...])) else {
            throw CLIError(message: "run: \(source) must be NODE_ID@HOST:PORT (got '\(p)')")
        }
        let idText = String(p[..<at])
        guard let node = NodeID(idText) else {
            throw CLIError(message: "run: '\(idText)' in \(source) is not a node ID (see `lattice status` on that node)")
        }
        return StaticPeer(node: node, address: address)
    }
}
