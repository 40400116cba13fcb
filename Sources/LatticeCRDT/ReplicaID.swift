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
