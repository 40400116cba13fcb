public import LatticeCRDT

/// A collection's retention rule: the documents that have not changed for `maxAge` and match
/// every condition (both when both are given) expire, and are erased as by `lattice forget`.
///
/// The decision is a function of the replicated state and the time only: a document's age is
/// the time since its newest timestamped write (register values, set elements, counter
/// contributions; text edits carry no time), and conditions read its fields as queries do. So
/// every node holding the same changes expires the same documents, and the erases it makes are
/// ordinary synced changes: one node with the rule is enough for all to forget.
public struct RetentionPolicy: Sendable, Equatable {
    /// The collection.
    public var collection: Key
    /// Documents younger than this (ms) stay; `nil`: age does not matter.
    public var maxAge: UInt64?
    /// Every condition must hold for a document to expire (a document without the field does
    /// not match it, so it stays).
    public var conditions: [QueryCondition]

    /// Creates a rule.
    /// - Parameters:
    ///   - collection: the collection.
    ///   - maxAge: the age (ms) after which documents may expire, or `nil`.
    ///   - conditions: what an expiring document must also satisfy.
    public init(collection: Key, maxAge: UInt64?, conditions: [QueryCondition]) {
        self.collection = collection
        self.maxAge = maxAge
        self.conditions = conditions
    }
}

/// What a retention rule would erase now.
public struct RetentionPlan: Sendable, Equatable {
    /// The rule.
    public var policy: RetentionPolicy
    /// The documents that expire, in ID order.
    public var expired: [Key]
    /// The documents the collection holds.
    public var documents: Int
    /// Whether the rule would erase every document of a non-empty collection (then applying it
    /// needs an explicit confirmation: it is likely a mistake).
    public var erasesEverything: Bool { documents > 0 && expired.count == documents }
}

extension ReplicaStore {
    /// The newest HLC stamp of a document's timestamped entries (`nil`: none, e.g. text only).
    static func lastWrite(_ doc: Document) -> Timestamp? {
        var newest: Timestamp?
        for field in doc.fields.values {
            field.forEachTag { tag in
                if newest.map({ tag.stamp > $0 }) ?? true { newest = tag.stamp }
            }
        }
        return newest
    }

    /// The documents `policy` expires at `now`: candidates from the indexes when the rule has
    /// conditions (a field no document holds matches nothing), else every document, then their
    /// age. Deterministic in the state and `now`.
    /// - Parameters:
    ///   - policy: the rule.
    ///   - now: wall clock, ms since the epoch.
    /// - Returns: the plan.
    public func retentionPlan(_ policy: RetentionPolicy, now: UInt64) -> RetentionPlan {
        let state = replica.state
        let c = policy.collection
        let documents = indexes.documentIDs(in: c, of: state).count
        var candidates: [Key]
        if policy.conditions.isEmpty {
            candidates = indexes.documentIDs(in: c, of: state)
        } else {
            var q = Query(collection: c)
            q.conditions = policy.conditions
            candidates = (try? query(q)) ?? []
        }
        if let maxAge = policy.maxAge {
            let cutoff = now >= maxAge ? now - maxAge : 0
            candidates = candidates.filter { id in
                guard let doc = state.document(c, id), let last = Self.lastWrite(doc) else { return false }
                return last.milliseconds < cutoff
            }
        }
        return RetentionPlan(policy: policy, expired: candidates, documents: documents)
    }

    /// Erases what the plans expire, in one durable change (an erase per document).
    /// - Parameters:
    ///   - plans: from ``retentionPlan(_:now:)``.
    ///   - now: wall clock, ms since the epoch.
    /// - Returns: the commit, or `nil` when nothing expires.
    /// - Throws: a store error; nothing is erased then.
    public func applyRetention(_ plans: [RetentionPlan], now: UInt64) throws -> CommitResult? {
        guard plans.contains(where: { !$0.expired.isEmpty }) else { return nil }
        return try commit { replica, delta in Self.erase(plans, in: &replica, now: now, into: &delta) }
    }

    /// The erases of `plans`, added to a change being built (a node commits them through its
    /// own commit path, which also ships them to peers).
    public static func erase(_ plans: [RetentionPlan], in replica: inout Replica, now: UInt64, into delta: inout Delta) {
        for plan in plans {
            for id in plan.expired { replica.erase(plan.policy.collection, id, now: now, into: &delta) }
        }
    }
}
