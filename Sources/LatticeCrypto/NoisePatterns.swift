/// A token of a Noise message pattern (spec rev 34 §7).
public enum NoiseToken: String, Sendable, Hashable {
    case e, s, ee, es, se, ss, psk
}

/// A Noise handshake pattern: pre-messages and message patterns, with psk modifiers applied.
public struct NoisePattern: Sendable, Hashable {
    /// The full pattern name, for example `XXpsk0` or `NXpsk0+psk1+psk2`.
    public let name: String
    /// Tokens of the initiator's pre-message (`e`/`s`), hashed first.
    public let initiatorPreMessage: [NoiseToken]
    /// Tokens of the responder's pre-message.
    public let responderPreMessage: [NoiseToken]
    /// Message patterns; even indices are sent by the initiator.
    public let messages: [[NoiseToken]]

    /// Whether any `psk` modifier is present (then `e` tokens also call `MixKey`).
    public var usesPSK: Bool { messages.contains { $0.contains(.psk) } }
    /// The number of `psk` tokens, i.e. of PSKs the handshake needs.
    public var pskCount: Int { messages.reduce(0) { $0 + $1.filter { $0 == .psk }.count } }
    /// Whether this is a one-way pattern (`N`, `K`, `X`): only the initiator sends.
    public var isOneWay: Bool { messages.count == 1 }

    /// Parses a pattern name with optional modifiers (`psk0`…`psk3`, joined with `+`).
    /// - Parameter name: for example `XX`, `XXpsk0`, `IKpsk1+psk2`, `X1K1`.
    /// - Throws: ``CryptoError/Code/unsupported`` for unknown patterns or modifiers.
    public init(name: String) throws {
        let baseEnd = name.firstIndex { $0.isLowercase } ?? name.endIndex
        let base = String(name[..<baseEnd])
        guard let table = Self.table[base] else { throw CryptoError(.unsupported, "unknown Noise pattern \(base)") }
        var messages = table.2
        let modifierText = name[baseEnd...]
        if !modifierText.isEmpty {
            for modifier in modifierText.split(separator: "+", omittingEmptySubsequences: false) {
                guard modifier.hasPrefix("psk"), let n = Int(modifier.dropFirst(3)), n >= 0, n <= messages.count,
                    modifier.count == 4
                else { throw CryptoError(.unsupported, "unsupported Noise modifier \(modifier)") }
                if n == 0 { messages[0].insert(.psk, at: 0) } else { messages[n - 1].append(.psk) }
            }
        }
        self.name = name
        self.initiatorPreMessage = table.0
        self.responderPreMessage = table.1
        self.messages = messages
    }

    // (initiator pre-message, responder pre-message, messages). Spec rev 34 §7.4 (fundamental),
    // §7.5 (deferred) and §7.6 (one-way).
    private static let table: [String: ([NoiseToken], [NoiseToken], [[NoiseToken]])] = [
        "N": ([], [.s], [[.e, .es]]),
        "K": ([.s], [.s], [[.e, .es, .ss]]),
        "X": ([], [.s], [[.e, .es, .s, .ss]]),
        "NN": ([], [], [[.e], [.e, .ee]]),
        "NK": ([], [.s], [[.e, .es], [.e, .ee]]),
        "NX": ([], [], [[.e], [.e, .ee, .s, .es]]),
        "KN": ([.s], [], [[.e], [.e, .ee, .se]]),
        "KK": ([.s], [.s], [[.e, .es, .ss], [.e, .ee, .se]]),
        "KX": ([.s], [], [[.e], [.e, .ee, .se, .s, .es]]),
        "XN": ([], [], [[.e], [.e, .ee], [.s, .se]]),
        "XK": ([], [.s], [[.e, .es], [.e, .ee], [.s, .se]]),
        "XX": ([], [], [[.e], [.e, .ee, .s, .es], [.s, .se]]),
        "IN": ([], [], [[.e, .s], [.e, .ee, .se]]),
        "IK": ([], [.s], [[.e, .es, .s, .ss], [.e, .ee, .se]]),
        "IX": ([], [], [[.e, .s], [.e, .ee, .se, .s, .es]]),
        // Deferred patterns.
        "NK1": ([], [.s], [[.e], [.e, .ee, .es]]),
        "NX1": ([], [], [[.e], [.e, .ee, .s], [.es]]),
        "X1N": ([], [], [[.e], [.e, .ee], [.s], [.se]]),
        "X1K": ([], [.s], [[.e, .es], [.e, .ee], [.s], [.se]]),
        "XK1": ([], [.s], [[.e], [.e, .ee, .es], [.s, .se]]),
        "X1K1": ([], [.s], [[.e], [.e, .ee, .es], [.s], [.se]]),
        "X1X": ([], [], [[.e], [.e, .ee, .s, .es], [.s], [.se]]),
        "XX1": ([], [], [[.e], [.e, .ee, .s], [.es, .s, .se]]),
        "X1X1": ([], [], [[.e], [.e, .ee, .s], [.es, .s], [.se]]),
        "K1N": ([.s], [], [[.e], [.e, .ee], [.se]]),
        "K1K": ([.s], [.s], [[.e, .es], [.e, .ee], [.se]]),
        "KK1": ([.s], [.s], [[.e], [.e, .ee, .se, .es]]),
        "K1K1": ([.s], [.s], [[.e], [.e, .ee, .es], [.se]]),
        "K1X": ([.s], [], [[.e], [.e, .ee, .s, .es], [.se]]),
        "KX1": ([.s], [], [[.e], [.e, .ee, .se, .s], [.es]]),
        "K1X1": ([.s], [], [[.e], [.e, .ee, .s], [.se, .es]]),
        "I1N": ([], [], [[.e, .s], [.e, .ee], [.se]]),
        "I1K": ([], [.s], [[.e, .es, .s], [.e, .ee], [.se]]),
        "IK1": ([], [.s], [[.e, .s], [.e, .ee, .se, .es]]),
        "I1K1": ([], [.s], [[.e, .s], [.e, .ee, .es], [.se]]),
        "I1X": ([], [], [[.e, .s], [.e, .ee, .s, .es], [.se]]),
        "IX1": ([], [], [[.e, .s], [.e, .ee, .se, .s], [.es]]),
        "I1X1": ([], [], [[.e, .s], [.e, .ee, .s], [.se, .es]]),
    ]

    /// Names of all supported base patterns.
    public static var supportedBaseNames: [String] { table.keys.sorted() }
}

/// A full Noise protocol name, `Noise_<pattern>_25519_ChaChaPoly_SHA256` (the only suite supported).
public struct NoiseProtocolName: Sendable, Hashable {
    /// The full name, for example `Noise_XXpsk0_25519_ChaChaPoly_SHA256`.
    public let name: String
    /// The parsed handshake pattern.
    public let pattern: NoisePattern

    /// Parses a protocol name.
    /// - Parameter name: the full name.
    /// - Throws: ``CryptoError/Code/unsupported`` for other DH, cipher or hash functions or patterns.
    public init(_ name: String) throws {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "Noise" else {
            throw CryptoError(.unsupported, "not a Noise protocol name: \(name)")
        }
        guard parts[2] == "25519", parts[3] == "ChaChaPoly", parts[4] == "SHA256" else {
            throw CryptoError(.unsupported, "only 25519_ChaChaPoly_SHA256 is supported, got \(name)")
        }
        self.name = name
        self.pattern = try NoisePattern(name: String(parts[1]))
    }
}
