import Foundation
import LatticeCRDT
package import LatticeNode
import LatticeStore

/// `retention`: the configured retention rules (Docs/CONFIG.md `retention`), listed as a dry
/// run or applied as synced erases; and the running node's periodic application of them.
package enum RetentionCommand {
    package static let help = """
        usage: lattice retention [list] [--collection C] [--data DIR] [--json]
               lattice retention apply [--collection C] [--yes] [--data DIR] [--json]

        The retention rules of config.json's "retention" key: per collection, documents not
        changed for max_age and matching every "where" condition expire. `list` (the default)
        is a dry run: what would be erased now, erasing nothing. `apply` erases them as
        `lattice forget` does (synced: every node forgets them). A rule that would erase every
        document of its collection is refused unless --yes is given (a running node skips it
        and logs a warning). A running node applies the rules every retention_interval.
        A document's age is the time since its newest timestamped write (registers, sets,
        counters); a document without the condition's field does not match it.
        """

    package static func run(_ a: [String]) throws(CLIError) {
        let args = try Arguments("retention", a, valued: ["--collection"], flags: ["--yes"])
        if args.help { return out(help) }
        try args.expect(0...1, "retention [list|apply] [--collection C] [--yes]")
        let verb = args.positional.first ?? "list"
        guard verb == "list" || verb == "apply" else {
            throw CLIError(message: "retention: unknown action '\(verb)'; use list (a dry run) or apply")
        }
        let config = try NodeConfig.load(NodePaths(root: Hosting.root ?? args.dataDirectory))
        var rules = config.retention
        if let only = args.value("--collection") {
            let name = try DocumentCommands.collectionName(only)
            rules = rules.filter { $0.collection == name }
            guard !rules.isEmpty else {
                throw CLIError(message: "retention: no rule for collection '\(only)' (rules: \(config.retention.map(\.collection.string).joined(separator: ", ")))", code: .notFound)
            }
        }
        let (store, _) = try openNode(args)
        let now = ReplicaStore.wallMilliseconds()
        let plans = rules.map { store.retentionPlan($0, now: now) }
        if verb == "apply" {
            if !args.flags.contains("--yes"), let all = plans.first(where: \.erasesEverything) {
                throw CLIError(
                    message:
                        "retention: the rule for '\(all.policy.collection)' would erase all \(all.documents) of its documents; check it with `lattice retention list`, then add --yes if that is what you want")
            }
            var erased = 0
            if plans.contains(where: { !$0.expired.isEmpty }) {
                _ = try DocumentCommands.commit(store, deferrable: false) { replica, delta, now in ReplicaStore.erase(plans, in: &replica, now: now, into: &delta) }
                erased = plans.reduce(0) { $0 + $1.expired.count }
            } else if Hosting.node == nil {
                do { try store.close() } catch { throw cliError(error) }
            }
            if args.json { return out(JSON.object([("ok", .bool(true)), ("erased", .int(Int64(erased))), ("plans", .array(plans.map(json)))]).text) }
            if rules.isEmpty { return out("no retention rules (config.json \"retention\"; see Docs/CONFIG.md)") }
            for p in plans { out("\(p.policy.collection): erased \(p.expired.count) of \(p.documents) document\(p.documents == 1 ? "" : "s")") }
            return
        }
        if Hosting.node == nil { do { try store.close() } catch { throw cliError(error) } }
        if args.json { return out(JSON.array(plans.map(json)).text) }
        if rules.isEmpty { return out("no retention rules (config.json \"retention\"; see Docs/CONFIG.md)") }
        for p in plans {
            let note = p.erasesEverything ? "  (every document: apply needs --yes)" : ""
            out("\(p.policy.collection): \(p.expired.count) of \(p.documents) document\(p.documents == 1 ? "" : "s") would be erased (\(describe(p.policy)))\(note)")
            for id in p.expired { out("  \(id)") }
        }
    }

    static func describe(_ p: RetentionPolicy) -> String {
        var parts: [String] = []
        if let age = p.maxAge { parts.append("older than \(durationText(age))") }
        parts += p.conditions.map(\.description)
        return parts.joined(separator: ", ")
    }

    static func durationText(_ ms: UInt64) -> String {
        for (unit, scale) in [("d", UInt64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] where ms % scale == 0 {
            return "\(ms / scale)\(unit)"
        }
        return "\(ms)ms"
    }

    static func json(_ p: RetentionPlan) -> JSON {
        .object([
            ("collection", .string(p.policy.collection.string)), ("documents", .int(Int64(p.documents))),
            ("expired", .array(p.expired.map { .string($0.string) })), ("erases_everything", .bool(p.erasesEverything)),
            ("max_age_ms", p.policy.maxAge.map { .uint($0) } ?? .null), ("where", .array(p.policy.conditions.map { .string($0.description) })),
        ])
    }

    // MARK: In a running node

    /// Applies the data directory's retention rules on `node`'s loop every `retention_interval`
    /// (the first time a minute after start, or sooner for a shorter interval). The rules are
    /// read from the file each time, so `lattice config set retention …` takes effect without a
    /// restart. A rule that would erase every document of its collection is skipped with a
    /// warning.
    package static func schedule(_ node: Node, root: String, interval: UInt64) {
        generation += 1
        let mine = generation
        func arm(_ wait: UInt64) {
            node.loop.schedule(after: wait) {
                // A newer schedule (a changed retention_interval) replaced this one.
                guard mine == generation else { return }
                var next = interval
                if let config = try? NodeConfig.load(NodePaths(root: root)) {
                    next = config.retentionInterval
                    applyAutomatically(node, config)
                }
                arm(next)
            }
        }
        arm(min(interval, 60_000))
    }

    /// The current schedule (on the node's loop); an older one stops at its next timer.
    nonisolated(unsafe) private static var generation = 0
    /// Collections whose rule was last skipped because it would erase everything: warned once
    /// until that changes, not at every run (on the node's loop).
    nonisolated(unsafe) private static var skipped: Set<Key> = []

    /// One automatic application (on the node's loop).
    /// - Returns: the number of documents erased.
    @discardableResult
    package static func applyAutomatically(_ node: Node, _ config: NodeConfig) -> Int {
        let now = ReplicaStore.wallMilliseconds()
        var plans: [RetentionPlan] = []
        var skippedNow: Set<Key> = []
        for rule in config.retention {
            let plan = node.store.retentionPlan(rule, now: now)
            if plan.erasesEverything {
                if !skipped.contains(rule.collection) {
                    node.log.warn("retention_skipped", ["collection": .string(rule.collection.string), "documents": .int(Int64(plan.documents))])
                }
                skippedNow.insert(rule.collection)
                continue
            }
            plans.append(plan)
        }
        skipped = skippedNow
        let erased = plans.reduce(0) { $0 + $1.expired.count }
        guard erased > 0 else { return 0 }
        do {
            _ = try node.commit { replica, delta in ReplicaStore.erase(plans, in: &replica, now: now, into: &delta) }
            node.log.info("retention_erased", ["documents": .int(Int64(erased))])
            return erased
        } catch {
            node.log.error("retention_failed", ["error": .string("\(error)")])
            return 0
        }
    }
}
