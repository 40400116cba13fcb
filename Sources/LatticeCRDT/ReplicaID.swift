/// The identity of one replica: the author of every dot it mints.
///
/// A replica ID is 64 bits derived from the node's public key (see `Docs/ARCHITECTURE.md`), so two
/// nodes never share one in practice, and dots stay two machine words. Replica IDs are totally
/// ordered by their numeric value; that order breaks last-writer-wins ties.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The raw 64-bit value.
    public let rawValue: UInt64

    /// Creates a replica ID from its raw value.
    /// - Parameter rawValue: any 64-bit value.
    @inlinable
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    @inlinable
    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Sixteen lowercase hex digits.
    public var description: String {
        let hex = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Parses sixteen (or fewer) hex digits.
    /// - Parameter hex: the text form produced by `description`.
    public init?(hex: some StringProtocol) {
        guard !hex.isEmpty, hex.count <= 16, let value = UInt64(hex, radix: 16) else { return nil }
        self.rawValue = value
    }
}

extension ReplicaID {
    /// The author ID of this replica's dots in one collection: the raw value XOR a 64-bit hash of
    /// the collection name (FNV-1a, then a SplitMix64 finaliser). Distinct collections of one node
    /// get distinct dot sequences, and ``node(ofScoped:in:)`` recovers the node from a dot whose
    /// collection is known.
    /// - Parameter collection: the collection name.
    /// - Returns: the scoped author ID.
    public func scoped(to collection: Key) -> ReplicaID {
        ReplicaID(rawValue ^ Self.collectionHash(collection))
    }

    /// The node replica that authored `author` in `collection` (inverse of ``scoped(to:)``).
    public static func node(ofScoped author: ReplicaID, in collection: Key) -> ReplicaID {
        ReplicaID(author.rawValue ^ collectionHash(collection))
    }

    static func collectionHash(_ collection: Key) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in collection.string.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
