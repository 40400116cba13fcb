internal import CSodium

/// A LAN discovery beacon's content (authenticated before it is parsed).
public struct Beacon: Equatable, Sendable {
    /// The announcing node.
    public var nodeID: NodeID
    /// Its TCP port.
    public var tcpPort: UInt16
    /// Its UDP port.
    public var udpPort: UInt16
    /// A random value chosen at each process start (lets peers tell restarts from replays).
    public var instance: UInt64
    /// Wall-clock time of sealing, milliseconds since the Unix epoch.
    public var timestamp: UInt64

    /// Creates a beacon.
    public init(nodeID: NodeID, tcpPort: UInt16, udpPort: UInt16, instance: UInt64, timestamp: UInt64) {
        self.nodeID = nodeID
        self.tcpPort = tcpPort
        self.udpPort = udpPort
        self.instance = instance
        self.timestamp = timestamp
    }
}

/// Seals and opens beacons with XChaCha20-Poly1305 under a key derived from each network key.
///
/// Wire format (93 bytes): `version (1) = 0x01 || nonce (24, random) || ciphertext (52) || tag (16)`;
/// the version byte is the associated data. Plaintext: `node ID (32) || TCP port (2, BE) || UDP port
/// (2, BE) || instance (8, BE) || timestamp ms (8, BE)`. Beacon key: `crypto_kdf_derive_from_key(32,
/// subkey id 1, context "LatBeacn", network key)` (BLAKE2b), distinct from every Noise use of the key.
/// Beacons are sealed under the current key and opened under any installed key.
public struct BeaconSealer: Sendable {
    /// The wire format version byte.
    public static let version: UInt8 = 0x01
    /// Length of a sealed beacon.
    public static let sealedLength = 1 + 24 + plaintextLength + 16
    static let plaintextLength = 52
    private let keys: [SecretKey]

    /// Derives beacon keys for every key of the ring (the first is used to seal).
    /// - Parameter keyRing: the installed network keys.
    /// - Throws: ``CryptoError`` if derivation fails.
    public init(keyRing: KeyRing) throws {
        keys = try keyRing.keys.map { key in
            try SecretKey.make(count: 32) { out in
                let result = key.secret.withUnsafeBytes { k in
                    crypto_kdf_derive_from_key(out.bindMutableMemory(), 32, 1, "LatBeacn", k.bindMemory())
                }
                try sodiumCheck(result, "crypto_kdf_derive_from_key")
            }
        }
    }

    /// Seals a beacon under the current network key with a random nonce.
    /// - Parameter beacon: the content.
    /// - Returns: 93 bytes to broadcast.
    /// - Throws: ``CryptoError`` if libsodium fails.
    public func seal(_ beacon: Beacon) throws -> [UInt8] {
        var plaintext = beacon.nodeID.publicKey
        plaintext += [
            UInt8(beacon.tcpPort >> 8), UInt8(beacon.tcpPort & 0xFF), UInt8(beacon.udpPort >> 8),
            UInt8(beacon.udpPort & 0xFF),
        ]
        for value in [beacon.instance, beacon.timestamp] { withUnsafeBytes(of: value.bigEndian) { plaintext += $0 } }
        var out = [UInt8](repeating: 0, count: Self.sealedLength)
        out[0] = Self.version
        let result = out.withUnsafeMutableBytes { raw in
            let nonce = UnsafeMutableRawBufferPointer(rebasing: raw[1..<25])
            Sodium.randomBytes(nonce)
            return plaintext.withUnsafeBytes { p in
                crypto_aead_xchacha20poly1305_ietf_encrypt(
                    UnsafeMutableRawBufferPointer(rebasing: raw[25...]).bindMutableMemory(),
                    nil,
                    p.bindMemory(),
                    UInt64(p.count),
                    UnsafeRawBufferPointer(rebasing: raw[0..<1]).bindMemory(),
                    1,
                    nil,
                    UnsafeRawBufferPointer(nonce).bindMemory(),
                    keys[0].unsafeRawBuffer.bindMemory()
                )
            }
        }
        try sodiumCheck(result, "crypto_aead_xchacha20poly1305_ietf_encrypt")
        return out
    }

    /// Authenticates a received beacon under any installed key, then parses it.
    /// - Parameter bytes: the received datagram.
    /// - Returns: the beacon content.
    /// - Throws: ``CryptoError/Code/malformedMessage`` for a wrong size or version or an invalid node ID,
    ///   ``CryptoError/Code/authenticationFailed`` if no installed key opens it.
    public func open(_ bytes: [UInt8]) throws -> Beacon {
        guard bytes.count == Self.sealedLength, bytes[0] == Self.version else {
            throw CryptoError(.malformedMessage, "not a Lattice beacon (\(bytes.count) bytes)")
        }
        var plaintext = [UInt8](repeating: 0, count: Self.plaintextLength)
        let opened = bytes.withUnsafeBytes { raw in
            plaintext.withUnsafeMutableBytes { p in
                keys.contains { key in
                    crypto_aead_xchacha20poly1305_ietf_decrypt(
                        p.bindMutableMemory(),
                        nil,
                        nil,
                        UnsafeRawBufferPointer(rebasing: raw[25...]).bindMemory(),
                        UInt64(raw.count - 25),
                        UnsafeRawBufferPointer(rebasing: raw[0..<1]).bindMemory(),
                        1,
                        UnsafeRawBufferPointer(rebasing: raw[1..<25]).bindMemory(),
                        key.unsafeRawBuffer.bindMemory()
                    ) == 0
                }
            }
        }
        guard opened else {
            throw CryptoError(.authenticationFailed, "beacon did not authenticate under any installed network key")
        }
        let id: NodeID
        do { id = try NodeID(publicKey: Array(plaintext[0..<32])) } catch {
            throw CryptoError(.malformedMessage, "beacon carries an invalid node ID")
        }
        func u64(_ at: Int) -> UInt64 { plaintext[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return Beacon(
            nodeID: id,
            tcpPort: UInt16(plaintext[32]) << 8 | UInt16(plaintext[33]),
            udpPort: UInt16(plaintext[34]) << 8 | UInt16(plaintext[35]),
            instance: u64(36),
            timestamp: u64(44)
        )
    }
}

/// Drops stale and replayed beacons. Remembers, per node, the latest timestamp of up to 4 instances
/// seen within the skew window; older state is pruned (anything older is stale anyway).
public struct BeaconFilter: Sendable {
    /// The verdict on a beacon.
    public enum Verdict: Equatable, Sendable {
        /// New information: use it.
        case accept
        /// Timestamp too far from now (clock skew or an old capture).
        case stale
        /// Same instance with a timestamp not newer than one already seen.
        case replayed
        /// Too many nodes tracked; try again later.
        case overloaded
    }

    /// Largest accepted |now − timestamp| in milliseconds.
    public let maxSkewMilliseconds: UInt64
    /// Most nodes tracked at once.
    public let maxNodes: Int
    private var seen: [NodeID: [(instance: UInt64, timestamp: UInt64)]] = [:]

    /// Creates a filter.
    /// - Parameters:
    ///   - maxSkewMilliseconds: default 30 s.
    ///   - maxNodes: default 4096.
    public init(maxSkewMilliseconds: UInt64 = 30_000, maxNodes: Int = 4096) {
        self.maxSkewMilliseconds = maxSkewMilliseconds
        self.maxNodes = maxNodes
    }

    /// Decides on an authenticated beacon and records it if accepted.
    /// - Parameters:
    ///   - beacon: the opened beacon.
    ///   - now: wall-clock milliseconds since the Unix epoch.
    /// - Returns: the verdict.
    public mutating func admit(_ beacon: Beacon, now: UInt64) -> Verdict {
        let skew = beacon.timestamp > now ? beacon.timestamp - now : now - beacon.timestamp
        guard skew <= maxSkewMilliseconds else { return .stale }
        let horizon = now > maxSkewMilliseconds ? now - maxSkewMilliseconds : 0
        var entries = (seen[beacon.nodeID] ?? []).filter { $0.timestamp >= horizon }
        if let index = entries.firstIndex(where: { $0.instance == beacon.instance }) {
            guard beacon.timestamp > entries[index].timestamp else { return .replayed }
            entries[index].timestamp = beacon.timestamp
        } else {
            if seen[beacon.nodeID] == nil && seen.count >= maxNodes {
                seen = seen.compactMapValues { list in
                    let kept = list.filter { $0.timestamp >= horizon }
                    return kept.isEmpty ? nil : kept
                }
                guard seen.count < maxNodes else { return .overloaded }
            }
            entries.append((beacon.instance, beacon.timestamp))
            if entries.count > 4 {
                entries.sort { $0.timestamp > $1.timestamp }
                entries.removeLast(entries.count - 4)
            }
        }
        seen[beacon.nodeID] = entries
        return .accept
    }
}
