import LatticeCRDT
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Codec")
struct CodecTests {
    @Test func roundTripsAndIsCanonical() {
        for seed in propertySeeds(salt: 11) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: 3)
            cluster.run(steps: Int.random(in: 5...60, using: &g), &g)
            let a = cluster.replicas[0].state
            let b = cluster.replicas[1].state
            let bytes = a.encoded()
            guard let decoded = try? ReplicaState(decoding: bytes), decoded == a else {
                failed("state does not round-trip", seed: seed, test: "roundTripsAndIsCanonical")
                continue
            }
            if decoded.encoded() != bytes { failed("re-encoding differs", seed: seed, test: "roundTripsAndIsCanonical") }
            // Equal states built in different orders encode to equal bytes.
            if a.joined(b).encoded() != b.joined(a).encoded() {
                failed("equal states encode differently", seed: seed, test: "roundTripsAndIsCanonical")
            }
            for d in cluster.deltas {
                let e = d.encoded()
                if (try? Delta(decoding: e)) != d || InvariantChecks.codecRoundTrip(e) != nil {
                    failed("delta does not round-trip", seed: seed, test: "roundTripsAndIsCanonical")
                }
            }
            let catchUp = a.delta(since: b.versionVector)
            if (try? StateDelta(decoding: catchUp.encoded())) != catchUp {
                failed("state delta does not round-trip", seed: seed, test: "roundTripsAndIsCanonical")
            }
        }
    }

    @Test func truncatedInputIsRefused() throws {
        var g = SplitMix64(seed: 42)
        var cluster = Cluster(size: 3)
        cluster.run(steps: 60, &g)
        for bytes in [cluster.replicas[0].state.encoded()] + cluster.deltas.prefix(20).map({ $0.encoded() }) {
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut])
                #expect(throws: DecodeError.self) { try ReplicaState(decoding: prefix) }
                #expect(throws: DecodeError.self) { try Delta(decoding: prefix) }
            }
            // Concatenation: trailing bytes are refused.
            #expect(throws: DecodeError.self) { try Delta(decoding: bytes + bytes) }
        }
    }

    @Test func mutatedAndRandomBytesNeverTrap() {
        for seed in propertySeeds(salt: 12) {
            var g = SplitMix64(seed: seed)
            var cluster = Cluster(size: 2)
            cluster.run(steps: 20, &g)
            var bytes = cluster.replicas[0].state.encoded()
            if bytes.count > 3 {
                for _ in 0..<Int.random(in: 1...4, using: &g) {
                    bytes[Int.random(in: 3..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
                }
            }
            if let v = InvariantChecks.codecRoundTrip(bytes) { failed(v, seed: seed, test: "mutatedAndRandomBytesNeverTrap") }
            let noise = [Codec.magic, Codec.version, UInt8.random(in: 1...3, using: &g)]
                + (0..<Int.random(in: 0...64, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            if let v = InvariantChecks.codecRoundTrip(noise) { failed(v, seed: seed, test: "mutatedAndRandomBytesNeverTrap") }
        }
    }

    @Test func hugeCountsAreRefusedBeforeAllocating() {
        // A replica table claiming 2^62 entries in a 12-byte message.
        let bytes: [UInt8] = [Codec.magic, Codec.version, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]
        #expect(throws: DecodeError.self) { try ReplicaState(decoding: bytes) }
        // An empty state, then a store claiming 1,000,000 collections.
        let empty = ReplicaState().encoded()
        var claim = Array(empty.dropLast())
        claim += [0xC0, 0x84, 0x3D]
        do {
            _ = try ReplicaState(decoding: claim)
            Issue.record("accepted an impossible count")
        } catch {
            guard case .lengthTooLarge = error else { Issue.record("wrong error \(error)"); return }
        }
    }

    @Test func nonCanonicalVarintsAreRefused() {
        // The empty state with its store count written as an overlong varint (0x80 0x00).
        let empty = ReplicaState().encoded()
        #expect(empty == [Codec.magic, Codec.version, 1, 0, 0])
        #expect(throws: DecodeError.badVarint(offset: 4)) { try ReplicaState(decoding: [Codec.magic, Codec.version, 1, 0, 0x80, 0x00]) }
        #expect(throws: DecodeError.badMagic(0)) { try ReplicaState(decoding: [0, 1, 1, 0, 0]) }
        #expect(throws: DecodeError.unsupportedVersion(9)) { try ReplicaState(decoding: [Codec.magic, 9, 1, 0, 0]) }
        #expect(throws: DecodeError.unexpectedKind(2, expected: 1)) { try ReplicaState(decoding: [Codec.magic, Codec.version, 2, 0, 0]) }
    }

    @Test func unicodeSpellingsStayDistinct() throws {
        var r = Replica(id: ReplicaID(7))
        _ = try r.set(FieldPath("k", "é", "f"), .string("precomposed"), now: 1)
        _ = try r.set(FieldPath("k", "e\u{301}", "f"), .string("decomposed"), now: 2)
        #expect(r.state.documentIDs(in: "k").count == 2)
        let decoded = try ReplicaState(decoding: r.state.encoded())
        #expect(decoded == r.state)
    }
}

@Suite("Fuzz fail cases")
struct FuzzFailCaseTests {
    @Test func mergeInvariantHoldsOnSeededSchedules() {
        for seed in propertySeeds(200, salt: 13) {
            var g = SplitMix64(seed: seed)
            let bytes = (0..<Int.random(in: 0...600, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            if let v = InvariantChecks.mergeConvergence(bytes) { failed(v, seed: seed, test: "mergeInvariantHoldsOnSeededSchedules") }
        }
    }
}

@Suite("Fuzz fail cases replay")
struct FuzzFailCaseReplayTests {
    /// Every minimised crasher under `Fuzz/FailCases/HARNESS/` must now pass its harness's check.
    static func cases(_ harness: String) -> [(String, [UInt8])] {
        let dir = String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/")
        let path = "/" + dir + "/Fuzz/FailCases/" + harness
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [(String, [UInt8])] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard !name.hasPrefix(".") else { continue }
            guard let f = fopen(path + "/" + name, "rb") else { continue }
            var bytes: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = fread(&buf, 1, buf.count, f)
                if n <= 0 { break }
                bytes += buf[..<n]
            }
            fclose(f)
            out.append((name, bytes))
        }
        return out
    }

    @Test func decodeFailCases() {
        #expect(!Self.cases("decode").isEmpty, "the decode fail cases were not found")
        for (name, bytes) in Self.cases("decode") {
            #expect(InvariantChecks.codecRoundTrip(bytes) == nil, "Fuzz/FailCases/decode/\(name)")
        }
    }

    @Test func mergeFailCases() {
        for (name, bytes) in Self.cases("merge") {
            #expect(InvariantChecks.mergeConvergence(bytes) == nil, "Fuzz/FailCases/merge/\(name)")
        }
    }
}

@Suite("Codec known answers (Docs/FORMATS.md)")
struct CodecKnownAnswerTests {
    @Test func documentedExampleMatchesBytes() throws {
        var r = Replica(id: ReplicaID(1))
        _ = try r.set(FieldPath("notes", "n1", "title"), .string("hi"), now: 1)
        let expected: [UInt8] = [
            0x4C, 0x01, 0x01, 0x01, 0x78, 0x06, 0x89, 0x9A, 0x08, 0x7B, 0x6F, 0xFF, 0x01, 0x00, 0x01,
            0x05, 0x6E, 0x6F, 0x74, 0x65, 0x73, 0x01, 0x02, 0x6E, 0x31, 0x01,
            0x00, 0x05, 0x74, 0x69, 0x74, 0x6C, 0x65, 0x11, 0x02, 0xFE, 0xFF, 0x07, 0x82, 0x68, 0x69,
        ]
        #expect(r.state.encoded() == expected)
        #expect(try ReplicaState(decoding: expected) == r.state)
    }
}
