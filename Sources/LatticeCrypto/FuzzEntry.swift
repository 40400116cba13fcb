/// Entry points shared by the libFuzzer harnesses (`Fuzz/Sources/handshake`, `Fuzz/Sources/datagram`)
/// and the test that replays `Fuzz/FailCases/`. Each returns whether the invariant held; the harness
/// traps when it did not. No input may trap inside these functions.
public enum FuzzEntry {
    /// Fixed keys so runs are deterministic.
    final class Fixtures: Sendable {
        let initiator: NodeIdentity
        let responder: NodeIdentity
        let networkKey: NetworkKey
        let initiatorEphemeral: X25519KeyPair
        let responderEphemeral: X25519KeyPair

        init() throws {
            func seeded(_ byte: UInt8) throws -> SecretKey {
                var bytes = [UInt8](repeating: byte, count: 32)
                return try SecretKey(wiping: &bytes)
            }
            initiator = try NodeIdentity(seed: seeded(1))
            responder = try NodeIdentity(seed: seeded(2))
            networkKey = try NetworkKey(secret: seeded(3))
            initiatorEphemeral = try X25519KeyPair(privateKey: seeded(4))
            responderEphemeral = try X25519KeyPair(privateKey: seeded(5))
        }

        func initiatorDriver() -> HandshakeDriver {
            HandshakeDriver(
                role: .initiator,
                identity: initiator,
                keys: [networkKey],
                trust: TrustPolicy(),
                deadline: .max,
                localIndex: 7,
                streamRekeyInterval: 0,
                datagramLimits: .standard,
                ephemeral: initiatorEphemeral
            )
        }

        func responderDriver() -> HandshakeDriver {
            HandshakeDriver(
                role: .responder,
                identity: responder,
                keys: [networkKey],
                trust: TrustPolicy(),
                deadline: .max,
                localIndex: 9,
                streamRekeyInterval: 0,
                datagramLimits: .standard,
                ephemeral: responderEphemeral
            )
        }

        func noiseState(initiator isInitiator: Bool) throws -> NoiseHandshakeState {
            guard let name = LatticeHandshake.parsedName else { throw CryptoError(.invalidState, "name") }
            return try NoiseHandshakeState(
                protocolName: name,
                initiator: isInitiator,
                prologue: LatticeHandshake.prologue,
                localStatic: isInitiator ? initiator.staticKey : responder.staticKey,
                localEphemeral: isInitiator ? initiatorEphemeral : responderEphemeral,
                psks: [networkKey.secret]
            )
        }
    }

    static let fixtures: Fixtures? = try? Fixtures()

    /// The handshake harness. The first byte picks a mode:
    /// 0 — a responder is fed the rest as raw stream bytes (message 1 onwards);
    /// 1 — a responder gets a genuine message 1, then the rest as raw bytes (message 3);
    /// 2 — an initiator sends message 1, then is fed the rest as raw bytes (message 2);
    /// 3 — a genuine initiator sends a well-formed, correctly encrypted message 3 whose *payload* is
    ///     the rest (reaches the identity parser behind the AEAD);
    /// 4 — a genuine responder sends a correctly encrypted message 2 whose payload is the rest.
    /// In modes 3 and 4, `mode / 5` even pads or cuts the payload to the identity payload size.
    /// Invariant: no session is ever established from fuzzer-chosen bytes.
    /// - Parameter data: the fuzzer input.
    /// - Returns: whether the invariant held.
    public static func handshake(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let fixtures, let mode = data.first else { return true }
        let rest = Array(data.dropFirst())
        // Even high bits: the payload is padded/cut to the exact identity payload size, so it reaches
        // the identity parser; odd: any size (exercises the length checks).
        let fuzzPayload =
            (mode / 5) % 2 == 0
            ? Array(
                (rest + [UInt8](repeating: 0, count: LatticeHandshake.identityPayloadLength)).prefix(
                    LatticeHandshake.identityPayloadLength
                )
            )
            : Array(rest.prefix(4096))
        do {
            switch mode % 5 {
            case 0:
                let responder = fixtures.responderDriver()
                return try responder.receive(rest, now: 0).session == nil
            case 1:
                let initiator = fixtures.initiatorDriver()
                let responder = fixtures.responderDriver()
                _ = try responder.receive(initiator.start(), now: 0)
                return try responder.receive(rest, now: 0).session == nil
            case 2:
                let initiator = fixtures.initiatorDriver()
                _ = try initiator.start()
                return try initiator.receive(rest, now: 0).session == nil
            case 3:
                let noise = try fixtures.noiseState(initiator: true)
                let responder = fixtures.responderDriver()
                let message2 = try responder.receive(FrameDecoder.frame(noise.writeMessage(payload: [])), now: 0)
                    .outbound
                _ = try noise.readMessage(Array(message2.dropFirst(2)))
                let message3 = try noise.writeMessage(payload: fuzzPayload)
                return try responder.receive(FrameDecoder.frame(message3), now: 0).session == nil
            default:
                let noise = try fixtures.noiseState(initiator: false)
                let initiator = fixtures.initiatorDriver()
                _ = try noise.readMessage(Array(initiator.start().dropFirst(2)))
                let message2 = try noise.writeMessage(payload: fuzzPayload)
                return try initiator.receive(FrameDecoder.frame(message2), now: 0).session == nil
            }
        } catch {
            return true  // rejected: fine
        }
    }

    /// The datagram harness. The first byte picks a mode:
    /// 0 — the opener is fed the rest as a datagram: it must be rejected (never sealed with the key);
    /// 1 — the rest is sealed as a payload: it must open to the same bytes exactly once (a replay and
    ///     a copy with one flipped byte must be rejected);
    /// 2 — 64 genuine datagrams are delivered in an order (with duplicates) chosen by the rest: each
    ///     opens at most once and only to its own payload;
    /// 3 — a ``ReplayWindow`` driven by 64-bit counters from the rest agrees with a reference model.
    /// - Parameter data: the fuzzer input.
    /// - Returns: whether the invariant held.
    public static func datagram(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let mode = data.first else { return true }
        let rest = Array(data.dropFirst())
        guard let (sender, receiver) = try? datagramPair() else { return false }
        switch mode % 4 {
        case 0:
            return (try? receiver.open(rest, now: 0)) == nil
        case 1:
            let payload = Array(rest.prefix(DatagramCipher.maxDatagramLength - DatagramCipher.overhead))
            guard let sealed = try? sender.seal(payload, now: 0) else { return false }
            if !rest.isEmpty {
                var tampered = sealed
                let position = Int(rest[0]) * 257 % tampered.count
                tampered[position] ^= rest.last.map { $0 == 0 ? 1 : $0 } ?? 1
                if (try? receiver.open(tampered, now: 0)) != nil { return false }
            }
            guard (try? receiver.open(sealed, now: 0)) == payload else { return false }
            return (try? receiver.open(sealed, now: 0)) == nil
        case 2:
            var datagrams: [[UInt8]] = []
            for i in 0..<64 {
                guard let d = try? sender.seal([UInt8(i)], now: 0) else { return false }
                datagrams.append(d)
            }
            var accepted = Set<Int>()
            for byte in rest.prefix(4096) {
                let index = Int(byte) % 64
                if let opened = try? receiver.open(datagrams[index], now: 0) {
                    guard opened == [UInt8(index)], accepted.insert(index).inserted else { return false }
                }
            }
            return true
        default:
            var window = ReplayWindow()
            var marked = Set<UInt64>()
            var newest: UInt64?
            var offset = 0
            var base: UInt64 = 0
            while offset + 3 <= rest.count && offset < 3 * 4096 {
                // Small steps around a moving base so the window edge is hit often.
                let step = Int64(Int16(bitPattern: UInt16(rest[offset]) << 8 | UInt16(rest[offset + 1])))
                let jump = rest[offset + 2]
                offset += 3
                if jump == 0xFF { base &+= UInt64(1) << 40 }
                let counter = UInt64(bitPattern: Int64(bitPattern: base) &+ step)
                let expected: Bool
                if let newestValue = newest {
                    expected =
                        !marked.contains(counter)
                        && (counter > newestValue || newestValue - counter < ReplayWindow.size)
                } else {
                    expected = true
                }
                guard counter < window.limit else { continue }
                if window.check(counter) != expected { return false }
                if expected {
                    window.mark(counter)
                    marked.insert(counter)
                    newest = max(newest ?? counter, counter)
                }
            }
            return true
        }
    }

    private static func datagramPair() throws -> (DatagramCipher, DatagramCipher) {
        guard let fixtures else { throw CryptoError(.invalidState, "fixtures") }
        let a = try fixtures.networkKey.secret.copy()
        let b = try fixtures.initiator.seed()
        let sender = try DatagramCipher(sendKey: a, receiveKey: b, localIndex: 1, remoteIndex: 2, createdAt: 0)
        let receiver = try DatagramCipher(sendKey: b, receiveKey: a, localIndex: 2, remoteIndex: 1, createdAt: 0)
        return (sender, receiver)
    }
}
