/// The installed network keys: the current one (used to initiate and to seal beacons) and up to
/// three others still accepted during a rotation.
///
/// Rotation in three steps, each reaching every node before the next: **install** the new key
/// (accepted, not used) → **use** it (becomes current; the old one is still accepted) → **remove**
/// the old key. Responders accept a handshake under any installed key.
public struct KeyRing: Sendable, Equatable {
    /// All installed keys; the first is current.
    public private(set) var keys: [NetworkKey]
    /// The most keys a ring holds.
    public static let capacity = 4

    /// Creates a ring with one key.
    /// - Parameter current: the network key.
    public init(current: NetworkKey) { keys = [current] }

    /// Creates a ring from keys, the first being current.
    /// - Parameter keys: 1...4 distinct keys.
    /// - Throws: ``CryptoError/Code/invalidArgument`` for an empty or oversized list or duplicates.
    public init(keys: [NetworkKey]) throws {
        guard !keys.isEmpty, keys.count <= Self.capacity else {
            throw CryptoError(.invalidArgument, "a key ring holds 1 to \(Self.capacity) keys")
        }
        guard Set(keys.map(\.id)).count == keys.count else {
            throw CryptoError(.invalidArgument, "duplicate network key")
        }
        self.keys = keys
    }

    /// The key used to initiate handshakes and seal beacons.
    public var current: NetworkKey { keys[0] }

    /// Step 1: accepts `key` in addition to the installed ones (no-op if already installed).
    /// - Throws: ``CryptoError/Code/invalidArgument`` when the ring is full.
    public mutating func install(_ key: NetworkKey) throws {
        guard !keys.contains(where: { $0.id == key.id }) else { return }
        guard keys.count < Self.capacity else {
            throw CryptoError(.invalidArgument, "key ring is full; remove a key first")
        }
        keys.append(key)
    }

    /// Step 2: makes an installed key current.
    /// - Throws: ``CryptoError/Code/invalidArgument`` if `id` is not installed.
    public mutating func use(_ id: NetworkKeyID) throws {
        guard let index = keys.firstIndex(where: { $0.id == id }) else {
            throw CryptoError(.invalidArgument, "network key \(id) is not installed")
        }
        let key = keys.remove(at: index)
        keys.insert(key, at: 0)
    }

    /// Step 3: removes a key that is no longer current.
    /// - Throws: ``CryptoError/Code/invalidArgument`` for the current key or an unknown one.
    public mutating func remove(_ id: NetworkKeyID) throws {
        guard let index = keys.firstIndex(where: { $0.id == id }) else {
            throw CryptoError(.invalidArgument, "network key \(id) is not installed")
        }
        guard index != 0 else {
            throw CryptoError(.invalidArgument, "cannot remove the current network key; use another first")
        }
        keys.remove(at: index)
    }
}
