internal import CSodium

/// Throughput measurements of the ciphers next to raw libsodium, for `lattice bench`
/// (the executable cannot import CSodium, so the raw baseline lives here).
///
/// Every measurement seals in place into one preallocated buffer or opens pre-sealed messages into
/// one preallocated buffer: no per-message allocation on either side of the comparison.
public enum CryptoBenchmark {
    /// What is measured.
    public enum Subject: String, Sendable, CaseIterable {
        /// `crypto_aead_chacha20poly1305_ietf_encrypt/decrypt` called directly.
        case raw
        /// ``StreamCipher`` (length prefix, Noise nonce, rekey check).
        case stream
        /// ``DatagramCipher`` (header as AD, counter, replay window on open).
        case datagram
    }

    /// One throughput figure.
    public struct Throughput: Sendable {
        /// The subject.
        public var subject: Subject
        /// `true` for open, `false` for seal.
        public var isOpen: Bool
        /// Payload size in bytes.
        public var size: Int
        /// Payload megabytes (10^6 bytes) per second.
        public var megabytesPerSecond: Double
        /// Messages per second.
        public var messagesPerSecond: Double
    }

    /// Measures seal or open throughput.
    /// - Parameters:
    ///   - subject: raw AEAD, stream or datagram cipher.
    ///   - isOpen: measure open instead of seal.
    ///   - size: payload bytes per message.
    ///   - messages: messages per round.
    ///   - rounds: rounds; the best is reported.
    /// - Returns: the best round.
    /// - Throws: ``CryptoError`` if a cipher fails (it should not).
    public static func measure(
        _ subject: Subject,
        open isOpen: Bool,
        size: Int,
        messages: Int,
        rounds: Int = 3
    ) throws
        -> Throughput
    {
        var best = Double.infinity
        for _ in 0..<max(1, rounds) {
            let seconds =
                try isOpen
                ? openRound(subject, size: size, messages: messages)
                : sealRound(subject, size: size, messages: messages)
            best = min(best, seconds)
        }
        let perSecond = Double(messages) / max(best, 1e-9)
        return Throughput(
            subject: subject,
            isOpen: isOpen,
            size: size,
            megabytesPerSecond: perSecond * Double(size) / 1e6,
            messagesPerSecond: perSecond
        )
    }

    /// Measures several subjects with their rounds interleaved (raw, stream, datagram, raw, …) so that
    /// load from other processes hits all of them alike; the best round of each is reported.
    /// - Parameters:
    ///   - subjects: what to measure.
    ///   - isOpen: measure open instead of seal.
    ///   - size: payload bytes per message.
    ///   - messages: messages per round.
    ///   - rounds: rounds per subject.
    /// - Returns: one figure per subject, in the order given.
    /// - Throws: ``CryptoError`` if a cipher fails (it should not).
    public static func measureInterleaved(
        _ subjects: [Subject],
        open isOpen: Bool,
        size: Int,
        messages: Int,
        rounds: Int = 5
    ) throws -> [Throughput] {
        var best = [Double](repeating: .infinity, count: subjects.count)
        for _ in 0..<max(1, rounds) {
            for (index, subject) in subjects.enumerated() {
                let seconds =
                    try isOpen
                    ? openRound(subject, size: size, messages: messages)
                    : sealRound(subject, size: size, messages: messages)
                best[index] = min(best[index], seconds)
            }
        }
        return zip(subjects, best).map { subject, seconds in
            let perSecond = Double(messages) / max(seconds, 1e-9)
            return Throughput(
                subject: subject,
                isOpen: isOpen,
                size: size,
                megabytesPerSecond: perSecond * Double(size) / 1e6,
                messagesPerSecond: perSecond
            )
        }
    }

    /// Complete in-memory handshakes (both sides computed on this thread) per second.
    /// - Parameter count: handshakes to run.
    /// - Returns: handshakes per second.
    /// - Throws: ``CryptoError`` if a handshake fails (it should not).
    public static func handshakesPerSecond(count: Int) throws -> Double {
        let key = try NetworkKey.generate()
        let ring = KeyRing(current: key)
        let a = try NodeIdentity.generate()
        let b = try NodeIdentity.generate()
        let start = MonotonicTime.now()
        for _ in 0..<count {
            let i = HandshakeDriver(initiator: a, networkKey: key, trust: TrustPolicy(), deadline: .max)
            let r = HandshakeDriver(responder: b, keyRing: ring, trust: TrustPolicy(), deadline: .max)
            let m2 = try r.receive(i.start(), now: 0)
            let m3 = try i.receive(m2.outbound, now: 0)
            guard m3.session != nil, try r.receive(m3.outbound, now: 0).session != nil else {
                throw CryptoError(.invalidState, "benchmark handshake did not complete")
            }
        }
        return Double(count) / (Double(MonotonicTime.now() - start) / 1e9)
    }

    private static func pair() throws -> (StreamCipher, StreamCipher, DatagramCipher, DatagramCipher) {
        let k1 = try SecretKey(randomCount: 32)
        let k2 = try SecretKey(randomCount: 32)
        let sender = StreamCipher(send: CipherState(key: k1), receive: CipherState(key: k2))
        let receiver = try StreamCipher(send: CipherState(key: k2.copy()), receive: CipherState(key: k1.copy()))
        let d1 = try DatagramCipher(
            sendKey: k1.copy(),
            receiveKey: k2.copy(),
            localIndex: 1,
            remoteIndex: 2,
            createdAt: 0
        )
        let d2 = try DatagramCipher(
            sendKey: k2.copy(),
            receiveKey: k1.copy(),
            localIndex: 2,
            remoteIndex: 1,
            createdAt: 0
        )
        return (sender, receiver, d1, d2)
    }

    private static func sealRound(_ subject: Subject, size: Int, messages: Int) throws -> Double {
        let (stream, _, datagram, _) = try pair()
        let key = try SecretKey(randomCount: 32)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 64, alignment: 64)
        defer { buffer.deallocate() }
        _ = buffer.initializeMemory(as: UInt8.self, repeating: 0xA5)
        guard let bufferBase = buffer.baseAddress else { throw CryptoError(.allocation, "benchmark buffer") }
        let start = MonotonicTime.now()
        switch subject {
        case .raw:
            for n in 0..<messages {
                _ = try ChaChaPoly.seal(
                    key: key.rawPointer,
                    nonce: UInt64(n),
                    ad: UnsafeRawBufferPointer(start: nil, count: 0),
                    plaintext: UnsafeRawBufferPointer(rebasing: buffer[0..<size]),
                    out: bufferBase
                )
            }
        case .stream:
            for _ in 0..<messages {
                var remaining = size
                repeat {
                    let chunk = min(remaining, StreamCipher.maxPlaintextLength)
                    _ = try stream.sealFrameInPlace(buffer, plaintextLength: chunk)
                    remaining -= chunk
                } while remaining > 0
            }
        case .datagram:
            for _ in 0..<messages {
                var remaining = size
                repeat {
                    let chunk = min(remaining, DatagramCipher.maxDatagramLength - DatagramCipher.overhead)
                    _ = try datagram.sealInPlace(buffer, payloadLength: chunk, now: 0)
                    remaining -= chunk
                } while remaining > 0
            }
        }
        return Double(MonotonicTime.now() - start) / 1e9
    }

    /// Payloads above one message's limit (64 KiB > 65,519 B for TCP, > 65,477 B for UDP) are carried as
    /// a full message plus a remainder, as a caller would send them (setup only; the timed loops inline it).
    private static func chunks(_ size: Int, max: Int) -> [Int] {
        size <= max ? [size] : [max, size - max]
    }

    private static func openRound(_ subject: Subject, size: Int, messages: Int) throws -> Double {
        let (stream, streamReceiver, datagram, datagramReceiver) = try pair()
        let key = try SecretKey(randomCount: 32)
        let stride = size + 128
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: stride * messages, alignment: 64)
        defer { sealed.deallocate() }
        _ = sealed.initializeMemory(as: UInt8.self, repeating: 0x5A)
        guard let sealedBase = sealed.baseAddress else { throw CryptoError(.allocation, "benchmark buffer") }
        var lengths = [[Int]](repeating: [], count: messages)
        for n in 0..<messages {
            let slot = UnsafeMutableRawBufferPointer(rebasing: sealed[(n * stride)..<((n + 1) * stride)])
            switch subject {
            case .raw:
                lengths[n] = [
                    try ChaChaPoly.seal(
                        key: key.rawPointer,
                        nonce: UInt64(n),
                        ad: UnsafeRawBufferPointer(start: nil, count: 0),
                        plaintext: UnsafeRawBufferPointer(rebasing: slot[0..<size]),
                        out: sealedBase + n * stride
                    )
                ]
            case .stream:
                var offset = 0
                for chunk in chunks(size, max: StreamCipher.maxPlaintextLength) {
                    let n2 = try stream.sealFrameInPlace(
                        UnsafeMutableRawBufferPointer(rebasing: slot[offset...]),
                        plaintextLength: chunk
                    )
                    lengths[n].append(n2)
                    offset += n2
                }
            case .datagram:
                var offset = 0
                for chunk in chunks(size, max: DatagramCipher.maxDatagramLength - DatagramCipher.overhead) {
                    let n2 = try datagram.sealInPlace(
                        UnsafeMutableRawBufferPointer(rebasing: slot[offset...]),
                        payloadLength: chunk,
                        now: 0
                    )
                    lengths[n].append(n2)
                    offset += n2
                }
            }
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: stride, alignment: 64)
        defer { out.deallocate() }
        guard let outBase = out.baseAddress else { throw CryptoError(.allocation, "benchmark buffer") }
        let start = MonotonicTime.now()
        for n in 0..<messages {
            let base = sealedBase + n * stride
            switch subject {
            case .raw:
                _ = try ChaChaPoly.open(
                    key: key.rawPointer,
                    nonce: UInt64(n),
                    ad: UnsafeRawBufferPointer(start: nil, count: 0),
                    ciphertext: UnsafeRawBufferPointer(start: base, count: lengths[n][0]),
                    out: outBase
                )
            case .stream:
                var offset = 0
                for length in lengths[n] {
                    _ = try streamReceiver.open(
                        UnsafeRawBufferPointer(start: base + offset + 2, count: length - 2),
                        into: out
                    )
                    offset += length
                }
            case .datagram:
                var offset = 0
                for length in lengths[n] {
                    _ = try datagramReceiver.open(
                        UnsafeRawBufferPointer(start: base + offset, count: length),
                        into: out,
                        now: 0
                    )
                    offset += length
                }
            }
        }
        return Double(MonotonicTime.now() - start) / 1e9
    }
}
