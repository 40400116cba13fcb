public import LatticeCRDT

/// Selective sync: per collection, which peers may receive it and which may send it.
///
/// Enforced on both sides: a node never sends a change of a collection to a peer the policy
/// excludes, and refuses (with a `forbidden` error, counted) a change that touches a collection
/// the sending peer may not write here. Policies are per neighbour: a change that reaches this
/// node through a relay is judged by the relay's rights.
public struct SyncPolicy: Equatable, Sendable {
    /// Who a rule lets through.
    public enum Scope: Equatable, Sendable {
        /// Every peer.
        case all
        /// Only these peers (node replica IDs).
        case peers(Set<ReplicaID>)
        /// No peer: the collection stays on this node.
        case none

        /// Whether `peer` is let through.
        public func admits(_ peer: ReplicaID) -> Bool {
            switch self {
            case .all: true
            case .peers(let set): set.contains(peer)
            case .none: false
            }
        }
    }

    /// Per collection: who may receive it from this node (default ``fallback``).
    public var send: [Key: Scope]
    /// Per collection: who may write it to this node (default ``fallback``).
    public var accept: [Key: Scope]
    /// The rule for collections not named.
    public var fallback: Scope

    /// Creates a policy (default: sync everything with everyone).
    public init(send: [Key: Scope] = [:], accept: [Key: Scope] = [:], fallback: Scope = .all) {
        self.send = send
        self.accept = accept
        self.fallback = fallback
    }

    /// A collection that never leaves this node and is never accepted from a peer.
    public mutating func keepLocal(_ collection: Key) {
        send[collection] = Scope.none
        accept[collection] = Scope.none
    }

    /// Whether changes of `collection` may go to `peer`. Erasures (the reserved `~erasures`)
    /// follow the rules of the collections they erase in (``Delta/governedCollections``), so
    /// `~erasures` itself is admitted here.
    public func maySend(_ collection: Key, to peer: ReplicaID) -> Bool {
        collection == Erasure.collection || (send[collection] ?? fallback).admits(peer)
    }

    /// Whether `peer` may write `collection` here (`~erasures`: as in ``maySend(_:to:)``).
    public func mayAccept(_ collection: Key, from peer: ReplicaID) -> Bool {
        collection == Erasure.collection || (accept[collection] ?? fallback).admits(peer)
    }

    /// Whether `peer` receives every collection (then catch-ups need no restriction).
    public func sendsEverything(to peer: ReplicaID) -> Bool {
        fallback.admits(peer) && send.values.allSatisfy { $0.admits(peer) }
    }

    /// The collections of `state` that `peer` may receive.
    public func sendable(_ collections: some Sequence<Key>, to peer: ReplicaID) -> Set<Key> {
        Set(collections.filter { maySend($0, to: peer) })
    }
}
