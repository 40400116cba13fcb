import LatticeCrypto
import Testing

func establishedPair(
    rekeyInterval: UInt64 = StreamCipher.defaultRekeyInterval,
    limits: DatagramLimits = .standard
)
    throws -> (SecureSession, SecureSession)
{
    let key = try NetworkKey.generate()
    let i = HandshakeDriver(
        initiator: try .generate(),
        networkKey: key,
        trust: TrustPolicy(),
        deadline: .max,
        streamRekeyInterval: rekeyInterval,
        datagramLimits: limits
    )
    let r = HandshakeDriver(
        responder: try .generate(),
        keyRing: KeyRing(current: key),
        trust: TrustPolicy(),
        deadline: .max,
        streamRekeyInterval: rekeyInterval,
        datagramLimits: limits
    )
    let m2 = try r.receive(i.start(), now: 0)
    let m3 = try i.receive(m2.outbound, now: 0)
    let done = try r.receive(m3.outbound, now: 0)
    return (try #require(m3.session), try #require(done.session))
}

@Test func tcpFramesRoundTripThroughTheFrameDecoderInAnySplit() throws {
    let (a, b) = try establishedPair()
    var rng = SeededRandom(seed: 42)
    let messages = (0..<50).map { _ in rng.bytes(Int.random(in: 0...3000, using: &rng)) }
    var wire: [UInt8] = []
    for m in messages { wire += try a.stream.seal(m) }
    var decoder = FrameDecoder()
    var received: [[UInt8]] = []
    var offset = 0
    while offset < wire.count {
        let n = min(wire.count - offset, Int.random(in: 1...700, using: &rng))
        decoder.append(wire[offset..<offset + n])
        offset += n
        while let frame = decoder.nextFrame() { received.append(try b.stream.open(frame)) }
    }
    #expect(received == messages, "seed 42")
}

@Test func flippingAnyByteOfATcpFrameIsRejectedAndDoesNotAdvanceTheCounter() throws {
    let (a, b) = try establishedPair()
    let frame = try a.stream.seal(Array("the quick brown fox".utf8))
    let body = Array(frame.dropFirst(2))
    for position in 0..<body.count {
        for bit in [UInt8(0x01), 0x80] {
            var tampered = body
            tampered[position] ^= bit
            let error = #expect(throws: CryptoError.self) { try b.stream.open(tampered) }
            #expect(error?.code == .authenticationFailed)
            #expect(b.stream.receivedCount == 0)
        }
    }
    // Truncated bodies are rejected too.
    for cut in 0..<body.count {
        #expect(throws: CryptoError.self) { try b.stream.open(Array(body.prefix(cut))) }
    }
    #expect(try b.stream.open(body) == Array("the quick brown fox".utf8))
    #expect(b.stream.receivedCount == 1)
    // A replayed TCP frame fails (the nonce moved on).
    #expect(throws: CryptoError.self) { try b.stream.open(body) }
}

@Test func streamRekeysEveryNMessagesAndOnDemand() throws {
    let (a, b) = try establishedPair(rekeyInterval: 3)
    for i in 0..<20 {
        #expect(try b.stream.open(Array(a.stream.seal([UInt8(i)]).dropFirst(2))) == [UInt8(i)])
        #expect(try a.stream.open(Array(b.stream.seal([UInt8(i), 1]).dropFirst(2))) == [UInt8(i), 1])
    }
    try a.stream.rekeySending()
    try b.stream.rekeyReceiving()
    #expect(try b.stream.open(Array(a.stream.seal([99]).dropFirst(2))) == [99])
    // One side rekeying alone breaks the stream: proves the key changed.
    try a.stream.rekeySending()
    #expect(throws: CryptoError.self) { try b.stream.open(Array(a.stream.seal([1]).dropFirst(2))) }
}

@Test func streamEnforcesTheMaximumMessageSize() throws {
    let (a, b) = try establishedPair()
    let biggest = [UInt8](repeating: 7, count: StreamCipher.maxPlaintextLength)
    let frame = try a.stream.seal(biggest)
    #expect(frame.count == 2 + 65_535)
    #expect(try b.stream.open(Array(frame.dropFirst(2))) == biggest)
    #expect(throws: CryptoError.self) { try a.stream.seal(biggest + [0]) }
}

@Test func sealInPlaceUsesCallerBuffers() throws {
    let (a, b) = try establishedPair()
    var buffer = [UInt8](repeating: 0, count: 1024 + 18)
    for i in 0..<1024 { buffer[2 + i] = UInt8(truncatingIfNeeded: i) }
    let n = try buffer.withUnsafeMutableBytes { try a.stream.sealFrameInPlace($0, plaintextLength: 1024) }
    #expect(n == 1042)
    var body = Array(buffer[2..<n])
    let m = try body.withUnsafeMutableBytes { try b.stream.openInPlace($0) }
    #expect(m == 1024 && Array(body.prefix(m)) == (0..<1024).map { UInt8(truncatingIfNeeded: $0) })
}

@Test func flippingAnyByteOfADatagramIsRejectedAndDoesNotMarkTheCounter() throws {
    let (a, b) = try establishedPair()
    let datagram = try a.datagrams.seal(Array("datagram payload".utf8), now: 0)
    #expect(datagram.count == 16 + DatagramCipher.overhead)
    for position in 0..<datagram.count {
        var tampered = datagram
        tampered[position] ^= 0x20
        #expect(throws: CryptoError.self, "byte \(position)") { try b.datagrams.open(tampered, now: 0) }
    }
    #expect(try b.datagrams.open(datagram, now: 0) == Array("datagram payload".utf8))
}

@Test func replayOfAnyDatagramIsRejected() throws {
    let (a, b) = try establishedPair()
    let datagrams = try (0..<100).map { try a.datagrams.seal([UInt8($0)], now: 0) }
    var rng = SeededRandom(seed: 7)
    for d in datagrams.shuffled(using: &rng) { _ = try b.datagrams.open(d, now: 0) }
    for d in datagrams {
        let error = #expect(throws: CryptoError.self) { try b.datagrams.open(d, now: 0) }
        #expect(error?.code == .replayed)
    }
}

@Test func udpKeysDifferFromTcpKeysAndPerDirection() throws {
    let (a, b) = try establishedPair()
    // A datagram sealed A→B does not open as B→A traffic, and a TCP body does not open as a datagram.
    let d = try a.datagrams.seal([1, 2, 3], now: 0)
    #expect(throws: CryptoError.self) { try a.datagrams.open(d, now: 0) }
    let tcp = try a.stream.seal([1, 2, 3])
    var fake = Array(d.prefix(14)) + Array(tcp.dropFirst(2))
    #expect(throws: CryptoError.self) { try b.datagrams.open(fake, now: 0) }
    fake = d
    #expect(try b.datagrams.open(fake, now: 0) == [1, 2, 3])
}

@Test func datagramSessionsAskForRehandshakeNearLimits() throws {
    let limits = DatagramLimits(
        rekeyAfterMessages: 3,
        rejectAfterMessages: 5,
        rekeyAfterNanoseconds: 100,
        rejectAfterNanoseconds: 200
    )
    let (a, b) = try establishedPair(limits: limits)
    #expect(!a.datagrams.needsRehandshake(now: 0))
    #expect(a.datagrams.needsRehandshake(now: 100))
    for i in 0..<5 { #expect(try b.datagrams.open(a.datagrams.seal([UInt8(i)], now: 0), now: 0) == [UInt8(i)]) }
    #expect(a.datagrams.needsRehandshake(now: 0))
    let error = #expect(throws: CryptoError.self) { try a.datagrams.seal([9], now: 0) }
    #expect(error?.code == .sessionExpired)
    let fresh = try establishedPair(limits: limits)
    let late = try fresh.0.datagrams.seal([1], now: 0)
    #expect(throws: CryptoError.self) { try fresh.1.datagrams.open(late, now: 250) }
}

@Test func replayWindowEdgeCases() {
    var window = ReplayWindow()
    #expect(window.check(0))
    #expect({ window.mark(0) }())
    #expect(!window.check(0))  // duplicate
    #expect({ window.mark(10_000) }())  // far future jump
    #expect(!window.check(10_000 - ReplayWindow.size))  // exactly outside the window
    #expect(window.check(10_000 - ReplayWindow.size + 1))  // oldest still inside
    #expect({ window.mark(10_000 - ReplayWindow.size + 1) }())
    #expect(!window.check(10_000 - ReplayWindow.size + 1))
    #expect(window.check(9_999))
    #expect(!window.check(0))  // old beyond window
    #expect({ window.mark(UInt64(1) << 62) }())  // huge jump clears everything
    #expect(!window.check(10_000))
    #expect(window.check((UInt64(1) << 62) - 1))
    var limited = ReplayWindow(limit: 100)
    #expect(!limited.check(100))
    #expect(!{ limited.mark(UInt64.max) }())
    #expect(ReplayWindow.size >= 2048)
}

@Test(arguments: [1, 2, 3, 99, 12345] as [UInt64])
func replayWindowMatchesAReferenceModel(seed: UInt64) {
    var rng = SeededRandom(seed: seed)
    var window = ReplayWindow()
    var marked = Set<UInt64>()
    var newest: UInt64?
    var base: UInt64 = 20_000
    for _ in 0..<20_000 {
        if UInt8.random(in: 0...255, using: &rng) == 0 { base += UInt64.random(in: 0...20_000, using: &rng) }
        let counter = base + UInt64.random(in: 0...9_000, using: &rng) - 9_000 + UInt64.random(in: 0...200, using: &rng)
        let expected =
            !marked.contains(counter) && (newest.map { counter > $0 || $0 - counter < ReplayWindow.size } ?? true)
        #expect(window.check(counter) == expected, "seed \(seed) counter \(counter)")
        if expected {
            window.mark(counter)
            marked.insert(counter)
            newest = max(newest ?? counter, counter)
        }
    }
}
