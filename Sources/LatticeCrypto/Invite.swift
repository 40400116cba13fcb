/// Why an invite string could not be decoded.
public enum InviteDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text does not start with `lattice1:`.
    case missingPrefix
    /// The text is longer than the limit.
    case tooLong(Int, limit: Int)
    /// The body is not valid base64url.
    case invalidEncoding
    /// The decoded bytes end early.
    case truncated
    /// The 4-byte checksum does not match: the invite was mistyped or cut.
    case checksumMismatch
    /// A format version this build does not read.
    case unsupportedVersion(UInt8)
    /// The inviter's node ID is not a valid key.
    case invalidNodeID
    /// An address hint is not `host:port`.
    case invalidAddressHint(String)
    /// Bytes follow the last field.
    case trailingBytes

    public var description: String {
        switch self {
        case .missingPrefix: "invite must start with 'lattice1:'"
        case .tooLong(let n, let limit): "invite has \(n) characters; at most \(limit)"
        case .invalidEncoding: "invite is not valid base64url after 'lattice1:'"
        case .truncated: "invite is truncated"
        case .checksumMismatch: "invite checksum does not match (copied incompletely or mistyped?)"
        case .unsupportedVersion(let v): "invite format version \(v) is not supported"
        case .invalidNodeID: "invite carries an invalid node ID"
        case .invalidAddressHint(let h): "invite address hint '\(h)' is not host:port"
        case .trailingBytes: "invite has unexpected trailing bytes"
        }
    }
}

/// An invitation to join a network: the network key, the inviter's node ID and where to reach it.
///
/// Text: `lattice1:` + base64url (no padding) of `version (1) = 1 || network key (32) || inviter node
/// ID (32) || hint count (1, ≤ 8) || hints (each: length (1) || UTF-8 "host:port") || checksum (4)`, the
/// checksum being the first 4 bytes of BLAKE2b-256(`"lattice/invite/v1"` || everything before it).
/// The string contains the network key: treat it as a secret and share it only over a trusted channel.
public struct Invite: Sendable, Equatable {
    /// The text prefix.
    public static let prefix = "lattice1:"
    /// The longest invite text accepted.
    public static let maxTextLength = 4096
    /// The most address hints.
    public static let maxHints = 8

    /// The network key being shared.
    public var networkKey: NetworkKey
    /// The inviting node (the joiner trusts it).
    public var inviter: NodeID
    /// Addresses to try first, `host:port` (IPv6 as `[addr]:port`).
    public var addressHints: [String]

    /// Creates an invite.
    /// - Throws: ``InviteDecodeError/invalidAddressHint(_:)`` for a bad hint.
    public init(networkKey: NetworkKey, inviter: NodeID, addressHints: [String]) throws {
        guard addressHints.count <= Self.maxHints else {
            throw InviteDecodeError.invalidAddressHint("more than \(Self.maxHints) hints")
        }
        for hint in addressHints where !Self.isValidHint(hint) { throw InviteDecodeError.invalidAddressHint(hint) }
        self.networkKey = networkKey
        self.inviter = inviter
        self.addressHints = addressHints
    }

    /// The invite text.
    public func encoded() -> String {
        var bytes: [UInt8] = [1]
        networkKey.secret.withUnsafeBytes { bytes += $0 }
        bytes += inviter.publicKey
        bytes.append(UInt8(addressHints.count))
        for hint in addressHints {
            let utf8 = Array(hint.utf8)
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes += Self.checksum(bytes)
        defer { wipe(&bytes) }
        return Self.prefix + Base64URL.encode(bytes)
    }

    /// Decodes an invite text (surrounding whitespace ignored).
    /// - Parameter text: the invite.
    /// - Returns: the invite.
    /// - Throws: ``InviteDecodeError``.
    public static func decode(_ text: String) throws(InviteDecodeError) -> Invite {
        let trimmed = text.utf8.drop { $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }
        let body = Array(trimmed.reversed().drop { $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }.reversed())
        guard body.count <= maxTextLength else { throw .tooLong(body.count, limit: maxTextLength) }
        let prefixBytes = Array(prefix.utf8)
        guard body.starts(with: prefixBytes) else { throw .missingPrefix }
        guard var bytes = Base64URL.decode(body[prefixBytes.count...]) else { throw .invalidEncoding }
        defer { wipe(&bytes) }
        guard bytes.count >= 1 + 32 + 32 + 1 + 4 else { throw .truncated }
        let checked = Array(bytes[..<(bytes.count - 4)])
        guard constantTimeEqual(checksum(checked), Array(bytes[(bytes.count - 4)...])) else { throw .checksumMismatch }
        guard bytes[0] == 1 else { throw .unsupportedVersion(bytes[0]) }
        let inviter: NodeID
        do { inviter = try NodeID(publicKey: Array(bytes[33..<65])) } catch { throw .invalidNodeID }
        let count = Int(bytes[65])
        guard count <= maxHints else { throw .invalidAddressHint("\(count) hints") }
        var offset = 66
        var hints: [String] = []
        for _ in 0..<count {
            guard offset < checked.count else { throw .truncated }
            let length = Int(checked[offset])
            guard checked.count - offset - 1 >= length else { throw .truncated }
            guard let hint = String(validating: checked[(offset + 1)..<(offset + 1 + length)], as: UTF8.self),
                isValidHint(hint)
            else {
                throw .invalidAddressHint(
                    String(decoding: checked[(offset + 1)..<(offset + 1 + length)], as: UTF8.self)
                )
            }
            hints.append(hint)
            offset += 1 + length
        }
        guard offset == checked.count else { throw .trailingBytes }
        let key: NetworkKey
        do {
            key = try NetworkKey(
                secret: bytes.withUnsafeBytes { try SecretKey(copying: UnsafeRawBufferPointer(rebasing: $0[1..<33])) }
            )
        } catch { throw .truncated }
        do { return try Invite(networkKey: key, inviter: inviter, addressHints: hints) } catch {
            throw (error as? InviteDecodeError) ?? .invalidEncoding
        }
    }

    private static func checksum(_ bytes: [UInt8]) -> [UInt8] {
        Array(Blake2b.hash(length: 32, label: "lattice/invite/v1", bytes).prefix(4))
    }

    /// `host:port` with a non-empty printable host (no spaces) and a port in 1...65535.
    static func isValidHint(_ hint: String) -> Bool {
        let utf8 = Array(hint.utf8)
        guard utf8.count <= 255, let colon = utf8.lastIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        let host = utf8[..<colon]
        let portText = utf8[(colon + 1)...]
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let port = Int(String(decoding: portText, as: UTF8.self)), port >= 1, port <= 65_535
        else { return false }
        guard host.allSatisfy({ $0 > 32 && $0 < 127 }) else { return false }
        if host.contains(UInt8(ascii: ":")) {  // IPv6 must be bracketed
            return host.first == UInt8(ascii: "[") && host.last == UInt8(ascii: "]")
        }
        return true
    }
}
