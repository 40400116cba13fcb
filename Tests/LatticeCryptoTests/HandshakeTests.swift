import LatticeCrypto
import Testing

/// Runs a handshake in memory; returns both sessions or the first error with the side that threw.
func runHandshake(
    initiator: NodeIdentity,
    initiatorKey: NetworkKey,
    initiatorTrust: TrustPolicy = TrustPolicy(),
    responder: NodeIdentity,
    responderRing: KeyRing,
    responderTrust: TrustPolicy = TrustPolicy(),
    byteByByte: Bool = false
) throws -> (SecureSession, SecureSession) {
    let i = HandshakeDriver(initiator: initiator, networkKey: initiatorKey, trust: initiatorTrust, deadline: .max)
    let r = HandshakeDriver(responder: responder, keyRing: responderRing, trust: responderTrust, deadline: .max)
    func feed(_ driver: HandshakeDriver, _ bytes: [UInt8]) throws -> HandshakeOutput {
        if !byteByByte { return try driver.receive(bytes, now: 0) }
        var out = HandshakeOutput(outbound: [], session: nil, remainingBytes: [])
        for b in bytes {
            let step = try driver.receive([b], now: 0)
            out.outbound += step.outbound
            if step.session != nil { out.session = step.session }
        }
        return out
    }
    let m1 = try i.start()
    let r1 = try feed(r, m1)
    #expect(r1.session == nil)
    let i2 = try feed(i, r1.outbound)
    let r3 = try feed(r, i2.outbound)
    let a = try #require(i2.session)
    let b = try #require(r3.session)
    return (a, b)
}

@Test func handshakeEstablishesMutuallyAuthenticatedSession() throws {
    let a = try NodeIdentity.generate()
    let b = try NodeIdentity.generate()
    let key = try NetworkKey.generate()
    for byteByByte in [false, true] {
        let (sa, sb) = try runHandshake(
            initiator: a,
            initiatorKey: key,
            responder: b,
            responderRing: KeyRing(current: key),
            byteByByte: byteByByte
        )
        #expect(sa.peer == b.nodeID)
        #expect(sb.peer == a.nodeID)
        #expect(sa.handshakeHash == sb.handshakeHash)
        #expect(sa.networkKeyID == key.id)
        #expect(try sb.stream.open(Array(sa.stream.seal([1, 2, 3]).dropFirst(2))) == [1, 2, 3])
        #expect(try sa.stream.open(Array(sb.stream.seal([4, 5]).dropFirst(2))) == [4, 5])
        #expect(try sb.datagrams.open(sa.datagrams.seal([9, 9], now: 0), now: 0) == [9, 9])
        #expect(try sa.datagrams.open(sb.datagrams.seal([8], now: 0), now: 0) == [8])
        #expect(sa.datagrams.remoteIndex == sb.datagrams.localIndex)
    }
}

@Test func handshakeMessagesHaveFixedSizes() throws {
    let key = try NetworkKey.generate()
    let i = HandshakeDriver(initiator: try .generate(), networkKey: key, trust: TrustPolicy(), deadline: .max)
    let r = HandshakeDriver(
        responder: try .generate(),
        keyRing: KeyRing(current: key),
        trust: TrustPolicy(),
        deadline: .max
    )
    let m1 = try i.start()
    let m2 = try r.receive(m1, now: 0).outbound
    let m3 = try i.receive(m2, now: 0).outbound
    #expect([m1.count, m2.count, m3.count] == LatticeHandshake.messageLengths.map { $0 + 2 })
}

@Test func wrongNetworkKeyFailsAtMessageOneBeforeParsing() throws {
    let i = HandshakeDriver(
        initiator: try .generate(),
        networkKey: try .generate(),
        trust: TrustPolicy(),
        deadline: .max
    )
    let r = HandshakeDriver(
        responder: try .generate(),
        keyRing: KeyRing(current: try .generate()),
        trust: TrustPolicy(),
        deadline: .max
    )
    let m1 = try i.start()
    let error = #expect(throws: CryptoError.self) { try r.receive(m1, now: 0) }
    #expect(error?.code == .wrongNetworkKey)
    #expect(error?.message.contains("network key") == true)
    #expect(r.isFailed)
    // A dead driver refuses everything afterwards.
    #expect(throws: CryptoError.self) { try r.receive(m1, now: 0) }
}

@Test func flippingAnyByteOfAnyHandshakeMessageIsRejected() throws {
    let a = try NodeIdentity.generate()
    let b = try NodeIdentity.generate()
    let key = try NetworkKey.generate()
    let ring = KeyRing(current: key)
    // Capture a genuine transcript's message shapes, then flip each byte of each message in a fresh run.
    for messageIndex in 0..<3 {
        let length = LatticeHandshake.messageLengths[messageIndex] + 2
        for position in 0..<length {
            let i = HandshakeDriver(initiator: a, networkKey: key, trust: TrustPolicy(), deadline: .max)
            let r = HandshakeDriver(responder: b, keyRing: ring, trust: TrustPolicy(), deadline: .max)
            var m1 = try i.start()
            if messageIndex == 0 {
                m1[position] ^= 0x01
                #expect(throws: CryptoError.self, "msg1 byte \(position)") { _ = try r.receive(m1, now: 0) }
                continue
            }
            var m2 = try r.receive(m1, now: 0).outbound
            if messageIndex == 1 {
                m2[position] ^= 0x01
                #expect(throws: CryptoError.self, "msg2 byte \(position)") {
                    let out = try i.receive(m2, now: 0)
                    if out.session == nil { throw CryptoError(.malformedMessage, "incomplete") }
                }
                continue
            }
            var m3 = try i.receive(m2, now: 0).outbound
            m3[position] ^= 0x01
            #expect(throws: CryptoError.self, "msg3 byte \(position)") {
                let out = try r.receive(m3, now: 0)
                if out.session == nil { throw CryptoError(.malformedMessage, "incomplete") }
            }
        }
    }
}

@Test func unknownIdentityIsRefusedInExplicitMode() throws {
    let a = try NodeIdentity.generate()
    let b = try NodeIdentity.generate()
    let key = try NetworkKey.generate()
    // Responder only trusts someone else.
    let strict = TrustPolicy(mode: .explicit, trusted: [try NodeIdentity.generate().nodeID])
    let e1 = #expect(throws: CryptoError.self) {
        try runHandshake(
            initiator: a,
            initiatorKey: key,
            responder: b,
            responderRing: KeyRing(current: key),
            responderTrust: strict
        )
    }
    #expect(e1?.code == .identityRefused)
    // Initiator refuses an unknown responder before revealing itself.
    let e2 = #expect(throws: CryptoError.self) {
        try runHandshake(
            initiator: a,
            initiatorKey: key,
            initiatorTrust: strict,
            responder: b,
            responderRing: KeyRing(current: key)
        )
    }
    #expect(e2?.code == .identityRefused)
    // Trusted explicitly: fine.
    let ok = TrustPolicy(mode: .explicit, trusted: [a.nodeID, b.nodeID])
    _ = try runHandshake(
        initiator: a,
        initiatorKey: key,
        initiatorTrust: ok,
        responder: b,
        responderRing: KeyRing(current: key),
        responderTrust: ok
    )
}

@Test func revokedIdentityIsRefusedEvenWithTheNetworkKey() throws {
    let a = try NodeIdentity.generate()
    let b = try NodeIdentity.generate()
    let key = try NetworkKey.generate()
    var policy = TrustPolicy(mode: .networkKey)
    policy.trust(a.nodeID)
    policy.revoke(a.nodeID)
    #expect(policy.decide(a.nodeID) == .refused(.revoked))
    #expect(policy.decide(b.nodeID) == .allowed)
    let error = #expect(throws: CryptoError.self) {
        try runHandshake(
            initiator: a,
            initiatorKey: key,
            responder: b,
            responderRing: KeyRing(current: key),
            responderTrust: policy
        )
    }
    #expect(error?.code == .identityRefused)
    #expect(error?.message.contains("revoked") == true)
}

@Test func keyRotationKeepsNodesTalkingThroughAllThreeSteps() throws {
    let old = try NetworkKey.generate()
    let new = try NetworkKey.generate()
    // Each node's ring at each step: 0 = before, 1 = installed, 2 = using new, 3 = old removed.
    var installed = KeyRing(current: old)
    try installed.install(new)
    var using = installed
    try using.use(new.id)
    var removed = using
    try removed.remove(old.id)
    var attempt = removed
    do {
        try attempt.remove(new.id)
        Issue.record("removing the current key must fail")
    } catch {}
    let steps = [KeyRing(current: old), installed, using, removed]
    let a = try NodeIdentity.generate()
    let b = try NodeIdentity.generate()
    // Nodes at most one step apart must keep talking in both directions.
    for x in 0..<4 {
        for y in 0..<4 where abs(x - y) <= 1 {
            let (sa, sb) = try runHandshake(
                initiator: a,
                initiatorKey: steps[x].current,
                responder: b,
                responderRing: steps[y]
            )
            #expect(try sb.stream.open(Array(sa.stream.seal([7]).dropFirst(2))) == [7], "steps \(x)->\(y)")
        }
    }
    // A node that skipped steps (old only vs new only) cannot connect.
    let error = #expect(throws: CryptoError.self) {
        try runHandshake(initiator: a, initiatorKey: old, responder: b, responderRing: removed)
    }
    #expect(error?.code == .wrongNetworkKey)
}

@Test func handshakeDeadlineAndHalfOpenLimit() throws {
    let key = try NetworkKey.generate()
    let r = HandshakeDriver(
        responder: try .generate(),
        keyRing: KeyRing(current: key),
        trust: TrustPolicy(),
        deadline: 1_000
    )
    try r.checkDeadline(now: 999)
    let error = #expect(throws: CryptoError.self) { try r.checkDeadline(now: 1_001) }
    #expect(error?.code == .timeout)
    #expect(throws: CryptoError.self) { try r.receive([0, 48], now: 1_002) }

    var limiter = HalfOpenLimiter(maxTotal: 3, maxPerSource: 2)
    var results: [Bool] = []
    results.append(limiter.acquire(source: "10.0.0.1"))
    results.append(limiter.acquire(source: "10.0.0.1"))
    results.append(limiter.acquire(source: "10.0.0.1"))
    results.append(limiter.acquire(source: "10.0.0.2"))
    results.append(limiter.acquire(source: "10.0.0.3"))
    limiter.release(source: "10.0.0.1")
    results.append(limiter.acquire(source: "10.0.0.3"))
    #expect(results == [true, true, false, true, false, true])
    #expect(limiter.count == 3)
}

@Test func oversizedOrWrongSizedHandshakeFramesAreRejectedEarly() throws {
    let key = try NetworkKey.generate()
    let r = HandshakeDriver(
        responder: try .generate(),
        keyRing: KeyRing(current: key),
        trust: TrustPolicy(),
        deadline: .max
    )
    let error = #expect(throws: CryptoError.self) { try r.receive([0xFF, 0xFF], now: 0) }
    #expect(error?.code == .malformedMessage)
}
