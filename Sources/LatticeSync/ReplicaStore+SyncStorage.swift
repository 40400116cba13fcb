public import LatticeCRDT
public import LatticeStore

/// The durable store as the engine's storage. Watermarks are keyed by the peer's replica ID in
/// hex (the same names `lattice status` shows).
extension ReplicaStore: SyncStorage {
    public var firstSequence: UInt64 { store.log.firstSequence }

    public func forEachRecord(from sequence: UInt64, _ body: (UInt64, UInt8, [UInt8]) throws -> Bool) throws {
        try store.log.forEachRecord(from: sequence) { seq, type, payload in try body(seq, type, Array(payload)) }
    }

    public func acknowledge(peer: ReplicaID, vector: VersionVector) throws {
        try acknowledge(peer: peer.description, vector: vector)
    }

    public func watermark(of peer: ReplicaID) -> VersionVector {
        store.watermarks.watermark(for: peer.description)?.acknowledged ?? VersionVector()
    }
}
