/// A catch-up for one peer, computed by `ReplicaState.delta(since:)` from state alone (no history
/// needed): the sender's full causal context, every live entry the peer has not seen, and
/// *references* — the dots of live entries the peer has seen, without their payload.
///
/// The receiver keeps an entry whose dot the sender has seen only if the sender still holds it
/// (sent in full or referenced); that is how removals the peer missed reach it. A `StateDelta`
/// joins into a `ReplicaState` only; it is not a delta that can be forwarded to third parties.
public struct StateDelta: Hashable, Sendable {
    /// The sender's causal context.
    public internal(set) var context: CausalContext
    /// Entries the peer lacks.
    public internal(set) var store: Store
    /// Live entries the peer already has, by dot.
    public internal(set) var references: DotSet

    init(context: CausalContext, store: Store, references: DotSet) {
        self.context = context
        self.store = store
        self.references = references
    }

    /// The number of entries sent in full.
    public var entryCount: Int {
        storeEntryCount(store)
    }
}

extension StateDelta {
    /// This catch-up's context and the entries it sends in full, as a `Delta`, for inspection
    /// only (which dots a log record covers, what it touched). Joining it is *not* the same as
    /// joining the catch-up: apply the catch-up with `ReplicaState.join(_:)`.
    public var inspectionDelta: Delta {
        var d = Delta()
        d.context = context
        d.store = store
        return d
    }
}
