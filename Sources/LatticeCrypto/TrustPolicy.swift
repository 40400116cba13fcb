/// Why the trust policy refused a node.
public enum RefusalReason: Equatable, Sendable, CustomStringConvertible {
    /// The node ID (or another encoding of the same X25519 key) is on the revoked list.
    case revoked
    /// Explicit mode and the node is not on the trusted list.
    case notTrusted

    public var description: String {
        switch self {
        case .revoked: "node is revoked"
        case .notTrusted: "node is not on the trusted list"
        }
    }
}

/// The outcome of ``TrustPolicy/decide(_:)``.
public enum TrustDecision: Equatable, Sendable {
    /// The node may connect.
    case allowed
    /// The node is refused, with the reason.
    case refused(RefusalReason)
}

/// Which node identities may complete a handshake.
///
/// File format (UTF-8 text, one entry per line, written 0600 atomically):
/// ```
/// lattice-trust v1
/// mode network-key|explicit
/// trust <node ID>
/// revoke <node ID>
/// ```
public struct TrustPolicy: Equatable, Sendable {
    /// How unknown nodes are treated.
    public enum Mode: String, Sendable {
        /// Anyone who holds the network key and is not revoked is allowed.
        case networkKey = "network-key"
        /// Only nodes on the trusted list (and not revoked) are allowed.
        case explicit
    }

    /// The mode.
    public var mode: Mode
    /// Explicitly trusted nodes.
    public private(set) var trusted: Set<NodeID>
    /// Revoked nodes; revocation wins over trust.
    public private(set) var revoked: Set<NodeID>
    private var revokedCurveKeys: Set<[UInt8]>

    /// Creates a policy.
    /// - Parameters:
    ///   - mode: trust on network key or explicit list.
    ///   - trusted: trusted node IDs.
    ///   - revoked: revoked node IDs.
    public init(mode: Mode = .networkKey, trusted: Set<NodeID> = [], revoked: Set<NodeID> = []) {
        self.mode = mode
        self.trusted = trusted.subtracting(revoked)
        self.revoked = revoked
        self.revokedCurveKeys = Set(revoked.map(\.curve25519PublicKey))
    }

    /// Trusts a node (and lifts a revocation of it).
    /// - Parameter id: the node.
    public mutating func trust(_ id: NodeID) {
        revoked.remove(id)
        revokedCurveKeys = Set(revoked.map(\.curve25519PublicKey))
        trusted.insert(id)
    }

    /// Revokes a node: refused from now on, whatever the mode.
    /// - Parameter id: the node.
    public mutating func revoke(_ id: NodeID) {
        trusted.remove(id)
        revoked.insert(id)
        revokedCurveKeys.insert(id.curve25519PublicKey)
    }

    /// Decides whether `id` may connect. A revoked key is also matched by its X25519 form, so the
    /// other Ed25519 encoding of the same Noise static key (the negated point) is refused too.
    /// - Parameter id: the authenticated peer identity.
    /// - Returns: ``TrustDecision/allowed`` or the refusal reason.
    public func decide(_ id: NodeID) -> TrustDecision {
        if revoked.contains(id) || revokedCurveKeys.contains(id.curve25519PublicKey) { return .refused(.revoked) }
        if mode == .explicit && !trusted.contains(id) { return .refused(.notTrusted) }
        return .allowed
    }

    /// The file text.
    public func serialized() -> String {
        var lines = ["lattice-trust v1", "mode \(mode.rawValue)"]
        lines += trusted.sorted().map { "trust \($0)" }
        lines += revoked.sorted().map { "revoke \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses the file text.
    /// - Parameter text: the file content.
    /// - Throws: ``CryptoError/Code/malformedMessage`` naming the bad line.
    public init(parsing text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.trimmingSpaces }
        lines.removeAll { $0.isEmpty || $0.hasPrefix("#") }
        guard lines.first == "lattice-trust v1" else {
            throw CryptoError(.malformedMessage, "trust file must start with 'lattice-trust v1'")
        }
        var mode = Mode.networkKey
        var trusted = Set<NodeID>()
        var revoked = Set<NodeID>()
        for (number, line) in lines.enumerated().dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw CryptoError(.malformedMessage, "trust file line \(number + 1): '\(line)'")
            }
            switch parts[0] {
            case "mode":
                guard let m = Mode(rawValue: parts[1]) else {
                    throw CryptoError(.malformedMessage, "trust file line \(number + 1): unknown mode '\(parts[1])'")
                }
                mode = m
            case "trust", "revoke":
                let id: NodeID
                do { id = try NodeID.parse(parts[1]) } catch {
                    throw CryptoError(.malformedMessage, "trust file line \(number + 1): \(error)")
                }
                if parts[0] == "trust" { trusted.insert(id) } else { revoked.insert(id) }
            default:
                throw CryptoError(.malformedMessage, "trust file line \(number + 1): unknown keyword '\(parts[0])'")
            }
        }
        self.init(mode: mode, trusted: trusted, revoked: revoked)
    }

    /// Loads a trust file.
    /// - Parameter path: the file path.
    /// - Returns: the policy.
    /// - Throws: ``CryptoError`` on I/O or parse errors.
    public static func load(from path: String) throws -> TrustPolicy {
        let file = try SecureFile.read(path: path, maxSize: 4 << 20, requirePrivate: false)
        let text = file.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        return try TrustPolicy(parsing: text)
    }

    /// Saves the policy atomically (0600).
    /// - Parameter path: the file path.
    /// - Throws: ``CryptoError/Code/keyFile`` on I/O errors.
    public func save(to path: String) throws {
        let bytes = Array(serialized().utf8)
        try bytes.withUnsafeBytes { try SecureFile.writeAtomically(path: path, bytes: $0) }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(
            self.drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop {
                $0 == " " || $0 == "\t" || $0 == "\r"
            }.reversed()
        )
    }
}
