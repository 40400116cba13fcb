import Foundation
import Glibc
import LatticeCrypto
import Testing

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "lattice-crypto-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Test func secretKeysCompareInConstantTimeAndNeverPrint() throws {
    let a = try SecretKey(randomCount: 32)
    let b = try a.copy()
    #expect(a == b)
    #expect(a != (try SecretKey(randomCount: 32)))
    #expect(a != (try SecretKey(randomCount: 16)))
    #expect(!"\(a)".contains(a.withUnsafeBytes { Array($0) }.hex))
    var bytes: [UInt8] = [1, 2, 3]
    let c = try SecretKey(wiping: &bytes)
    #expect(bytes == [0, 0, 0])
    #expect(c.withUnsafeBytes { Array($0) } == [1, 2, 3])
}

@Test func nodeIDTextRoundTripsAndDetectsTypos() throws {
    let id = try NodeIdentity.generate().nodeID
    let text = id.description
    #expect(text.count == 56 + 7)
    #expect(try NodeID.parse(text) == id)
    #expect(try NodeID.parse(text.lowercased().replacingOccurrences(of: "-", with: "")) == id)
    var chars = Array(text)
    chars[3] = chars[3] == "A" ? "B" : "A"
    #expect(throws: NodeIDParseError.checksumMismatch) { try NodeID.parse(String(chars)) }
    #expect(throws: NodeIDParseError.wrongLength(55)) { try NodeID.parse(String(text.dropLast())) }
    #expect(throws: NodeIDParseError.invalidCharacter) { try NodeID.parse(String(text.dropLast()) + "1") }
    #expect(NodeID("nonsense") == nil)
}

@Test func replicaRawValueIsFirst8BytesOfBlake2bLittleEndian() throws {
    // A fixed identity; the value is checked against Python's hashlib below.
    var seed = [UInt8](repeating: 1, count: 32)
    let identity = try NodeIdentity(seed: SecretKey(wiping: &seed))
    let id = identity.nodeID
    #expect(id.replicaRawValue == identity.nodeID.replicaRawValue)
    #expect(id.replicaRawValue != (try NodeIdentity.generate()).nodeID.replicaRawValue)
    // Independent computation via Python hashlib.blake2b.
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
        "python3", "-c",
        "import hashlib,sys; print(int.from_bytes(hashlib.blake2b(bytes.fromhex(sys.argv[1]), digest_size=32).digest()[:8], 'little'))",
        id.publicKey.hex,
    ]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    process.waitUntilExit()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(
        in: .whitespacesAndNewlines
    )
    #expect(UInt64(text) == id.replicaRawValue)
}

@Test func identityAndKeyRingFilesRoundTripWithMode0600() throws {
    let dir = try temporaryDirectory()
    let identity = try NodeIdentity.generate()
    try KeyFile.save(identity, to: dir + "/identity.key")
    var info = stat()
    #expect(stat(dir + "/identity.key", &info) == 0)
    #expect(info.st_mode & 0o777 == 0o600)
    #expect(try KeyFile.loadIdentity(from: dir + "/identity.key").nodeID == identity.nodeID)

    var ring = KeyRing(current: try .generate())
    try ring.install(try .generate())
    try KeyFile.save(ring, to: dir + "/network.key")
    #expect(try KeyFile.loadKeyRing(from: dir + "/network.key") == ring)
    // Wrong kind.
    #expect(throws: CryptoError.self) { try KeyFile.loadIdentity(from: dir + "/network.key") }
    // No temporary files left behind.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["identity.key", "network.key"])
}

@Test func keyFileReadableByOthersIsRefusedWithTheFix() throws {
    let dir = try temporaryDirectory()
    let path = dir + "/identity.key"
    try KeyFile.save(try NodeIdentity.generate(), to: path)
    chmod(path, 0o644)
    let error = #expect(throws: CryptoError.self) { try KeyFile.loadIdentity(from: path) }
    #expect(error?.code == .insecurePermissions)
    #expect(error?.message.contains(path) == true)
    #expect(error?.message.contains("chmod 600") == true)
    chmod(path, 0o640)
    #expect(throws: CryptoError.self) { try KeyFile.loadIdentity(from: path) }
    chmod(path, 0o600)
    _ = try KeyFile.loadIdentity(from: path)
}

@Test func corruptKeyFilesAreRefused() throws {
    let dir = try temporaryDirectory()
    let path = dir + "/network.key"
    try KeyFile.save(KeyRing(current: try .generate()), to: path)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    for position in [0, 4, 5, 6, 10, bytes.count - 1] {
        var copy = bytes
        copy[position] ^= 1
        try Data(copy).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        let error = #expect(throws: CryptoError.self) { try KeyFile.loadKeyRing(from: path) }
        #expect(error?.code == .keyFile)
    }
    bytes.removeLast()
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    chmod(path, 0o600)
    #expect(throws: CryptoError.self) { try KeyFile.loadKeyRing(from: path) }
}

@Test func inviteRoundTripsAndReportsCorruption() throws {
    let key = try NetworkKey.generate()
    let inviter = try NodeIdentity.generate().nodeID
    let invite = try Invite(
        networkKey: key,
        inviter: inviter,
        addressHints: ["192.168.1.20:7400", "[fe80::1]:7400", "laptop.local:7400"]
    )
    let text = invite.encoded()
    #expect(text.hasPrefix("lattice1:"))
    let decoded = try Invite.decode("  " + text + "\n")
    #expect(decoded == invite)
    #expect(decoded.networkKey.id == key.id)
    // Any changed character is caught (checksum or encoding).
    var chars = Array(text)
    for position in stride(from: 9, to: chars.count, by: 3) {
        let original = chars[position]
        chars[position] = original == "A" ? "B" : "A"
        #expect(throws: InviteDecodeError.self) { try Invite.decode(String(chars)) }
        chars[position] = original
    }
    chars[20] = chars[20] == "A" ? "B" : "A"
    #expect(throws: InviteDecodeError.checksumMismatch) { try Invite.decode(String(chars)) }
    #expect(throws: InviteDecodeError.missingPrefix) { try Invite.decode("lattice2:" + text.dropFirst(9)) }
    #expect(throws: InviteDecodeError.truncated) { try Invite.decode("lattice1:AAAA") }
    #expect(throws: InviteDecodeError.invalidEncoding) { try Invite.decode("lattice1:@@@@") }
    #expect(throws: InviteDecodeError.self) { try Invite.decode(String(text.dropLast(4))) }
    #expect(throws: InviteDecodeError.invalidAddressHint("no-port")) {
        try Invite(networkKey: key, inviter: inviter, addressHints: ["no-port"])
    }
}

@Test func trustPolicyPersistsAndRefusesRevokedAliases() throws {
    let a = try NodeIdentity.generate().nodeID
    let b = try NodeIdentity.generate().nodeID
    var policy = TrustPolicy(mode: .explicit)
    policy.trust(a)
    policy.trust(b)
    policy.revoke(b)
    #expect(policy.decide(a) == .allowed)
    #expect(policy.decide(b) == .refused(.revoked))
    #expect(policy.decide(try NodeIdentity.generate().nodeID) == .refused(.notTrusted))
    // The negated Ed25519 point maps to the same X25519 key: it is refused as revoked too.
    var negated = b.publicKey
    negated[31] ^= 0x80
    let alias = try NodeID(publicKey: negated)
    #expect(alias != b)
    #expect(alias.curve25519PublicKey == b.curve25519PublicKey)
    #expect(policy.decide(alias) == .refused(.revoked))
    let dir = try temporaryDirectory()
    try policy.save(to: dir + "/trust")
    #expect(try TrustPolicy.load(from: dir + "/trust") == policy)
    #expect(throws: CryptoError.self) { try TrustPolicy(parsing: "lattice-trust v1\ntrust not-an-id\n") }
    #expect(throws: CryptoError.self) { try TrustPolicy(parsing: "something else\n") }
}

@Test func beaconsSealOpenAndFilterStaleAndReplayed() throws {
    let key = try NetworkKey.generate()
    let sealer = try BeaconSealer(keyRing: KeyRing(current: key))
    let id = try NodeIdentity.generate().nodeID
    let beacon = Beacon(nodeID: id, tcpPort: 7400, udpPort: 7401, instance: 0xDEAD_BEEF, timestamp: 1_000_000)
    let sealed = try sealer.seal(beacon)
    #expect(sealed.count == BeaconSealer.sealedLength)
    #expect(try sealer.open(sealed) == beacon)
    #expect(try sealer.seal(beacon) != sealed)  // random nonce
    // Flip every byte: rejected.
    for position in 0..<sealed.count {
        var tampered = sealed
        tampered[position] ^= 0x04
        #expect(throws: CryptoError.self) { try sealer.open(tampered) }
    }
    // Another network cannot read it; a ring with both keys can.
    let other = try BeaconSealer(keyRing: KeyRing(current: try .generate()))
    #expect(throws: CryptoError.self) { try other.open(sealed) }
    var ring = KeyRing(current: try .generate())
    try ring.install(key)
    #expect(try BeaconSealer(keyRing: ring).open(sealed) == beacon)

    var filter = BeaconFilter(maxSkewMilliseconds: 30_000)
    #expect({ filter.admit(beacon, now: 1_000_500) }() == .accept)
    #expect({ filter.admit(beacon, now: 1_000_600) }() == .replayed)
    var later = beacon
    later.timestamp += 1_000
    #expect({ filter.admit(later, now: 1_001_000) }() == .accept)
    #expect({ filter.admit(beacon, now: 1_001_000) }() == .replayed)
    var restarted = beacon
    restarted.instance = 1
    #expect({ filter.admit(restarted, now: 1_001_000) }() == .accept)
    #expect({ filter.admit(beacon, now: 1_031_001) }() == .stale)
    var future = beacon
    future.timestamp = 2_000_000
    #expect({ filter.admit(future, now: 1_000_000) }() == .stale)
}
