import Foundation
import LatticeCRDT
import LatticeSync
import Testing

/// The sync protocol's message codec (`Message.swift`, specified in `Docs/PROTOCOL.md`).
@Suite("Sync messages")
struct MessageTests {
    // MARK: Fixtures

    /// Node replica 1's author for `notes` (see Docs/FORMATS.md, "Authors").
    static let author = ReplicaID(0xff6f_7b08_9a89_0678)
    static let node = ReplicaID(1)

    /// `notes/n1.title = "hi"` written by node 1 at 1 ms: its delta and the catch-up an empty peer gets.
    static func example() throws -> (delta: [UInt8], catchUp: [UInt8]) {
        var r = Replica(id: node)
        let d = try r.set(FieldPath("notes", "n1", "title"), .string("hi"), now: 1)
        return (d.encoded(), r.state.delta(since: VersionVector()).encoded())
    }

    /// Every message type, with edge values.
    static func samples() throws -> [Message] {
        let (delta, catchUp) = try example()
        let big = VersionVector([ReplicaID(0): 1, ReplicaID(7): 300, author: Dot.maxCounter, ReplicaID(UInt64.max): 2])
        var out: [Message] = [
            .hello(Hello(node: node, vector: VersionVector([author: 1]), watermark: VersionVector())),
            .hello(Hello(node: ReplicaID(UInt64.max), capabilities: UInt64.max, vector: big, watermark: big)),
            .hello(Hello(node: ReplicaID(0), capabilities: 0, vector: VersionVector(), watermark: VersionVector())),
            .deltas(batch: 1, changes: [delta]),
            .deltas(batch: UInt64.max, changes: [delta, [0x01], Array(repeating: 0xAB, count: 300)]),
            .catchUp(batch: 2, stateDelta: catchUp),
            .catchUp(batch: 0, stateDelta: []),
            .ack(batch: 0, vector: VersionVector()),
            .ack(batch: 1 << 40, vector: big),
            .synced(vector: VersionVector()),
            .synced(vector: big),
            .syncRequest(vector: VersionVector([author: 300])),
            .ping(nonce: 0),
            .ping(nonce: 0x0102_0304_0506_0708),
            .pong(nonce: UInt64.max),
            .error(code: .malformed, message: ""),
            .error(code: .storage, message: "disk full: \u{e9}t\u{e9} \u{1F4BE}"),
        ]
        out.append(.digest(0)); out.append(.digest(.max))
        let d = try Delta(decoding: delta)
        out.append(.ihave([Announcement(sequence: 1, context: d.context)]))
        out.append(.ihave([
            Announcement(sequence: .max, context: CausalContext(vector: big, cloud: [Dot(ReplicaID(7), 302), Dot(ReplicaID(9), 5)])),
            Announcement(sequence: 0, context: CausalContext(vector: VersionVector(), cloud: [Dot(author, 3)])),
        ]))
        out.append(.graft([0])); out.append(.graft([1, .max, 300]))
        out.append(.ackCompact(batch: 0, vector: []))
        out.append(.ackCompact(batch: .max, vector: [AuthorEntry(.index(0), 1), AuthorEntry(.new(ReplicaID(.max)), Dot.maxCounter), AuthorEntry(.index(70_000), 300)]))
        out.append(.ihaveCompact([CompactAnnouncement(sequence: 1, vector: [], cloud: [AuthorEntry(.index(3), 5)])]))
        out.append(.ihaveCompact([
            CompactAnnouncement(sequence: .max, vector: [AuthorEntry(.new(author), 2)], cloud: [AuthorEntry(.index(0), 4), AuthorEntry(.index(1), 9)]),
            CompactAnnouncement(sequence: 0, vector: [AuthorEntry(.index(2), 1)], cloud: []),
        ]))
        for reason: UInt8 in 1...7 { out.append(.goodbye(reason: GoodbyeReason(rawValue: reason)!)) }
        for code: UInt16 in 1...6 { out.append(.error(code: ProtocolErrorCode(rawValue: code)!, message: "x")) }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
    }

    static func bytes(_ hex: String) -> [UInt8] {
        let digits = hex.filter { !$0.isWhitespace }
        var out: [UInt8] = []
        var i = digits.startIndex
        while i < digits.endIndex {
            let j = digits.index(i, offsetBy: 2)
            out.append(UInt8(digits[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func refuses(_ bytes: [UInt8]) -> Bool {
        do {
            _ = try Message(decoding: bytes)
            return false
        } catch {
            return true
        }
    }

    // MARK: Round trips

    @Test func everyTypeRoundTrips() throws {
        let samples = try Self.samples()
        #expect(Set(samples.map(\.type)) == Set(1...15))
        for m in samples {
            let bytes = m.encoded()
            #expect(bytes.first == m.type)
            let back = try Message(decoding: bytes)
            #expect(back == m, "\(m.name): \(Self.hex(bytes))")
            #expect(back.encoded() == bytes)
        }
    }

    /// The `message` fuzz harness's check holds for every sample and for every input kept
    /// under `Fuzz/FailCases/message/` (none yet).
    @Test func samplesAndFuzzFailCasesAreCanonical() throws {
        for m in try Self.samples() { #expect(Message.canonicalRoundTrip(m.encoded()) == nil, "\(m.name)") }
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/FailCases/message")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for name in names where !name.hasPrefix(".") {
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            #expect(Message.canonicalRoundTrip(bytes) == nil, "Fuzz/FailCases/message/\(name)")
        }
    }

    @Test func deltasSizePredictsTheEncoding() throws {
        for m in try Self.samples() {
            guard case .deltas(let batch, let changes) = m else { continue }
            #expect(Message.deltasSize(batch: batch, sizes: changes.map(\.count)) == m.encoded().count)
        }
    }

    // MARK: The examples of Docs/PROTOCOL.md

    /// (label as in PROTOCOL.md's example block, message, bytes).
    static func examples() throws -> [(String, Message, String)] {
        let (delta, catchUp) = try example()
        let a = VersionVector([author: 1])
        return [
            ("hello", .hello(Hello(node: node, vector: a, watermark: VersionVector())),
             "01 01 01 00 00 00 00 00 00 00 0f 01 78 06 89 9a 08 7b 6f ff 01 00"),
            ("deltas", .deltas(batch: 1, changes: [delta]),
             "02 01 01 29 4c 01 02 01 78 06 89 9a 08 7b 6f ff 01 00 01 05 6e 6f 74 65 73 01 02 6e 31 01 00 05 74 69 74 6c 65 11 02 fe ff 07 82 68 69"),
            ("catch-up", .catchUp(batch: 2, stateDelta: catchUp),
             "03 02 2a 4c 01 03 01 78 06 89 9a 08 7b 6f ff 01 00 00 01 05 6e 6f 74 65 73 01 02 6e 31 01 00 05 74 69 74 6c 65 11 02 fe ff 07 82 68 69"),
            ("ack", .ack(batch: 1, vector: a), "04 01 01 78 06 89 9a 08 7b 6f ff 01"),
            ("synced", .synced(vector: a), "05 01 78 06 89 9a 08 7b 6f ff 01"),
            ("sync-request", .syncRequest(vector: VersionVector([author: 300])), "06 01 78 06 89 9a 08 7b 6f ff ac 02"),
            ("ping", .ping(nonce: 0x0102_0304_0506_0708), "07 08 07 06 05 04 03 02 01"),
            ("pong", .pong(nonce: 0x0102_0304_0506_0708), "08 08 07 06 05 04 03 02 01"),
            ("goodbye", .goodbye(reason: .quarantined), "09 05"),
            ("error", .error(code: .forbidden, message: "no"), "0a 05 02 6e 6f"),
            ("digest", .digest(0x0102_0304_0506_0708), "0b 08 07 06 05 04 03 02 01"),
            ("ihave", .ihave([Announcement(sequence: 1, context: try Delta(decoding: delta).context)]),
             "0c 01 01 01 78 06 89 9a 08 7b 6f ff 01 00"),
            ("graft", .graft([1]), "0d 01 01"),
            ("ack-compact", .ackCompact(batch: 1, vector: [AuthorEntry(.index(0), 2), AuthorEntry(.new(author), 1)]),
             "0e 01 02 00 02 01 78 06 89 9a 08 7b 6f ff 01"),
            ("ihave-compact", .ihaveCompact([CompactAnnouncement(sequence: 7, vector: [], cloud: [AuthorEntry(.index(1), 4), AuthorEntry(.index(1), 5)])]),
             "0f 01 07 00 02 02 04 02 05"),
        ]
    }

    @Test func hexExamplesAreByteExact() throws {
        for (label, m, hex) in try Self.examples() {
            #expect(Self.hex(m.encoded()) == hex, "\(label)")
            #expect(try Message(decoding: Self.bytes(hex)) == m, "\(label)")
            #expect(m.name == label)
        }
    }

    /// The example block of PROTOCOL.md holds exactly these bytes (one line per message:
    /// the label, then the hex).
    @Test func protocolDocumentShowsTheSameBytes() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Docs/PROTOCOL.md")
        let doc = try String(contentsOf: url, encoding: .utf8)
        var lines: [String: Set<String>] = [:]
        for line in doc.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            lines[String(first), default: []].insert(words.dropFirst().joined(separator: " "))
        }
        for (label, _, hex) in try Self.examples() {
            #expect(lines[label]?.contains(hex) == true, "PROTOCOL.md has no line \"\(label) \(hex)\"")
        }
    }

    // MARK: Refusals

    @Test func everyTruncationIsRefused() throws {
        for m in try Self.samples() {
            let bytes = m.encoded()
            for n in 0..<bytes.count {
                #expect(Self.refuses(Array(bytes.prefix(n))), "\(m.name) cut to \(n) of \(bytes.count) bytes")
            }
        }
    }

    @Test func trailingBytesAreRefused() throws {
        for m in try Self.samples() {
            for extra: [UInt8] in [[0x00], [0x01], [0xFF, 0xFF]] {
                #expect(Self.refuses(m.encoded() + extra), "\(m.name) + \(extra)")
            }
        }
    }

    @Test func unknownTypesReasonsAndCodesAreRefused() {
        for type: UInt8 in [0, 11, 12, 13, 14, 15, 16, 0x4C, 0x80, 0xFF] {
            #expect(Self.refuses([type]))
            #expect(Self.refuses([type, 0x00]))
        }
        // goodbye with reasons 0 and 8.
        #expect(Self.refuses([0x09, 0x00]))
        #expect(Self.refuses([0x09, 0x08]))
        // error with codes 0, 7 and 65536 + 5 (would truncate to 5 if not checked).
        #expect(Self.refuses([0x0A, 0x00, 0x00]))
        #expect(Self.refuses([0x0A, 0x07, 0x00]))
        #expect(Self.refuses([0x0A, 0x85, 0x80, 0x04, 0x00]))
        #expect(!Self.refuses([0x0A, 0x05, 0x00]))
    }

    @Test func announcementsMustBeCanonicalAndBounded() {
        // ihave: one announcement, sequence 1, empty vector, cloud of `dots`.
        func ihave(_ dots: [(UInt64, UInt64)], vector: [UInt8] = [0x00]) -> [UInt8] {
            var w: [UInt8] = [12, 0x01, 0x01] + vector + [UInt8(dots.count)]
            for (r, c) in dots {
                withUnsafeBytes(of: r.littleEndian) { w += $0 }
                w.append(UInt8(c))
            }
            return w
        }
        #expect(!Self.refuses(ihave([(1, 3), (2, 5)])))
        #expect(Self.refuses(ihave([])))  // an empty context names no change
        #expect(Self.refuses(ihave([(2, 5), (1, 3)])))  // not ascending
        #expect(Self.refuses(ihave([(1, 3), (1, 3)])))  // a dot twice
        #expect(Self.refuses(ihave([(1, 0)])))  // counter 0
        // A cloud dot right above its vector entry belongs in the vector (r1 at 2: dot 3 is absorbed).
        let vector: [UInt8] = [0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0x02]
        #expect(Self.refuses(ihave([(1, 3)], vector: vector)))
        #expect(!Self.refuses(ihave([(1, 4)], vector: vector)))
        // Empty lists and more than the limit.
        #expect(Self.refuses([12, 0x00]))
        #expect(Self.refuses([13, 0x00]))
        let many = Message.graft(Array(repeating: 1, count: Message.maxAnnouncements + 1)).encoded()
        #expect(Self.refuses(many))
        #expect(!Self.refuses(Message.graft(Array(repeating: 1, count: Message.maxAnnouncements)).encoded()))
    }

    /// Compact entries: an author is an even varint (2 × index) or exactly 1 (a replica in
    /// full follows); counters are 1 … 2⁶²; an announcement's context is not empty. (Which
    /// indices exist, and the order of the replicas they name, the engine checks against the
    /// session's table: `AuthorTableTests`.)
    @Test func compactEntriesMustBeCanonicalAndBounded() {
        #expect(!Self.refuses([0x0e, 0x01, 0x01, 0x04, 0x02]))  // ack-compact: index 2, counter 2
        #expect(Self.refuses([0x0e, 0x01, 0x01, 0x03, 0x02]))  // author tag 3: neither an index nor 1
        #expect(Self.refuses([0x0e, 0x01, 0x01, 0x04, 0x00]))  // counter 0
        #expect(Self.refuses([0x0e, 0x01, 0x01, 0x80, 0x80, 0x10, 0x01]))  // index 2¹⁷: beyond any table
        #expect(!Self.refuses([0x0e, 0x01, 0x01, 0xfe, 0xff, 0x0f, 0x01]))  // index 2¹⁷ − 1
        #expect(Self.refuses([0x0e, 0x01, 0x01, 0x01, 1, 0, 0, 0, 0, 0, 0]))  // a replica cut short
        #expect(Self.refuses([0x0f, 0x01, 0x01, 0x00, 0x00]))  // ihave-compact: an empty context
        #expect(Self.refuses([0x0f, 0x00]))  // no announcement
        let tooMany = [UInt8](Message.ihaveCompact([CompactAnnouncement(
            sequence: 1, vector: [], cloud: Array(repeating: AuthorEntry(.index(0), 1), count: Message.maxAnnouncedDots + 1))]).encoded())
        #expect(Self.refuses(tooMany))
    }

    @Test func vectorsMustBeStrictlyAscending() {
        let one: [UInt8] = [0x02, 0, 0, 0, 0, 0, 0, 0, 0x01]  // replica 2, counter 1
        let two: [UInt8] = [0x03, 0, 0, 0, 0, 0, 0, 0, 0x01]  // replica 3, counter 1
        #expect(!Self.refuses([0x05, 0x02] + one + two))
        #expect(Self.refuses([0x05, 0x02] + two + one))  // descending
        #expect(Self.refuses([0x05, 0x02] + one + one))  // repeated
        // Also inside a hello's watermark and an ack.
        let hello: [UInt8] = [0x01, 0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00]
        #expect(!Self.refuses(hello + [0x02] + one + two))
        #expect(Self.refuses(hello + [0x02] + two + one))
        #expect(Self.refuses([0x04, 0x01, 0x02] + one + one))
    }

    @Test func vectorCountersMustBeInRange() {
        let replica: [UInt8] = [0x02, 0, 0, 0, 0, 0, 0, 0]
        #expect(Self.refuses([0x05, 0x01] + replica + [0x00]))  // counter 0
        #expect(Self.refuses([0x06, 0x01] + replica + [0x00]))
        #expect(Self.refuses([0x04, 0x00, 0x01] + replica + [0x00]))
        // 2^62 is the largest counter, 2^62 + 1 is refused.
        var w: [UInt8] = []
        var v = Dot.maxCounter
        while v >= 0x80 {
            w.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        w.append(UInt8(v))
        #expect(!Self.refuses([0x05, 0x01] + replica + w))
        w[0] |= 1
        #expect(Self.refuses([0x05, 0x01] + replica + w))
    }

    @Test func nonMinimalVarintsAreRefused() {
        #expect(!Self.refuses([0x04, 0x01, 0x00]))
        #expect(Self.refuses([0x04, 0x81, 0x00, 0x00]))  // batch 1 in two bytes
        #expect(Self.refuses([0x05, 0x80, 0x00]))  // vector count 0 in two bytes
    }

    @Test func helloOfAnotherVersionNamesIt() {
        var bytes = Message.hello(Hello(node: Self.node, vector: VersionVector(), watermark: VersionVector())).encoded()
        bytes[1] = 2
        do {
            _ = try Message(decoding: bytes)
            Issue.record("a version 2 hello decoded")
        } catch {
            #expect(error.unsupportedVersion == 2)
        }
        // Even with a body this node cannot parse: the version is read first.
        do {
            _ = try Message(decoding: [0x01, 0x02, 0xFF])
            Issue.record("a version 2 hello decoded")
        } catch {
            #expect(error.unsupportedVersion == 2)
        }
        bytes[1] = 0
        do {
            _ = try Message(decoding: bytes)
            Issue.record("a version 0 hello decoded")
        } catch {
            #expect(error.unsupportedVersion == 0)
        }
        // Other refusals do not claim a version.
        do {
            _ = try Message(decoding: [0x07, 0x00])
            Issue.record("a truncated ping decoded")
        } catch {
            #expect(error.unsupportedVersion == nil)
        }
    }

    @Test func emptyBatchesAndEmptyChangesAreRefused() {
        #expect(Self.refuses([0x02, 0x01, 0x00]))  // no changes
        #expect(Self.refuses([0x02, 0x01, 0x01, 0x00]))  // one empty change
        #expect(Self.refuses([0x02, 0x01, 0x02, 0x01, 0xAA, 0x00]))
        #expect(!Self.refuses([0x02, 0x01, 0x01, 0x01, 0xAA]))
    }

    @Test func hugeCountsAreRefusedBeforeAllocation() {
        let huge: [[UInt8]] = [
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],  // 2^63 - 1
            [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // 2^63
            [0x80, 0x80, 0x80, 0x80, 0x08],  // 2^31
            [0x81, 0x80, 0x04],  // 65537
        ]
        for n in huge {
            #expect(Self.refuses([0x02, 0x01] + n + [0x01, 0xAA]), "deltas count \(n)")
            #expect(Self.refuses([0x02, 0x01, 0x01] + n + [0xAA]), "change length \(n)")
            #expect(Self.refuses([0x03, 0x01] + n + [0xAA]), "catch-up length \(n)")
            #expect(Self.refuses([0x05] + n + [0x02, 0, 0, 0, 0, 0, 0, 0, 0x01]), "vector count \(n)")
            #expect(Self.refuses([0x01, 0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0x00] + n), "hello vector count \(n)")
            #expect(Self.refuses([0x0A, 0x01] + n + [0x61]), "error text length \(n)")
        }
        // A vector entry takes at least 9 bytes: 2 entries in 17 bytes is refused from the count.
        let entry: [UInt8] = [0x02, 0, 0, 0, 0, 0, 0, 0, 0x01]
        #expect(Self.refuses([0x05, 0x02] + entry + Array(entry.prefix(8))))
    }

    @Test func capsHoldAtTheirLimits() {
        // Changes per batch: 65536 accepted, 65537 refused (each change one byte).
        let tiny = Array(repeating: [UInt8(0x01)], count: Message.maxBatchChanges)
        #expect(!Self.refuses(Message.deltas(batch: 1, changes: tiny).encoded()))
        #expect(Self.refuses(Message.deltas(batch: 1, changes: tiny + [[0x01]]).encoded()))
        // Vector entries: 65536 accepted, 65537 refused.
        var entries: [ReplicaID: UInt64] = [:]
        for i in 0..<UInt64(Message.maxVectorEntries) { entries[ReplicaID(i + 1)] = 1 }
        #expect(!Self.refuses(Message.synced(vector: VersionVector(entries)).encoded()))
        entries[ReplicaID(UInt64.max)] = 1
        #expect(Self.refuses(Message.synced(vector: VersionVector(entries)).encoded()))
        // Error text: 1024 bytes accepted, 1025 refused; the encoder truncates.
        let ok: [UInt8] = [0x0A, 0x01, 0x80, 0x08] + Array(repeating: 0x61, count: 1024)
        let long: [UInt8] = [0x0A, 0x01, 0x81, 0x08] + Array(repeating: 0x61, count: 1025)
        #expect(!Self.refuses(ok))
        #expect(Self.refuses(long))
        let truncated = Message.error(code: .malformed, message: String(repeating: "a", count: 5000)).encoded()
        #expect(truncated == ok)
        // Message size: one byte over 64 MiB is refused before parsing.
        let catchUp = Message.catchUp(batch: 1, stateDelta: Array(repeating: 0, count: Message.maxSize - 6)).encoded()
        #expect(catchUp.count == Message.maxSize)
        #expect(!Self.refuses(catchUp))
        #expect(Self.refuses(Message.catchUp(batch: 1, stateDelta: Array(repeating: 0, count: Message.maxSize - 5)).encoded()))
    }

    @Test func errorTextMustBeUTF8() {
        #expect(Self.refuses([0x0A, 0x01, 0x02, 0xC3, 0x28]))
        #expect(Self.refuses([0x0A, 0x01, 0x01, 0xFF]))
        #expect(!Self.refuses([0x0A, 0x01, 0x02, 0xC3, 0xA9]))
    }

    /// The encoder cuts long error texts to 1,024 bytes; a cut inside a multi-byte character must
    /// still give a text the decoder accepts.
    @Test
    func longNonASCIIErrorTextStillDecodes() throws {
        let text = String(repeating: "a", count: 1023) + "\u{e9}\u{e9}"
        let bytes = Message.error(code: .forbidden, message: text).encoded()
        let back = try Message(decoding: bytes)
        guard case .error(_, let decoded) = back else {
            Issue.record("not an error message")
            return
        }
        #expect(decoded.utf8.count <= Message.maxErrorText)
        #expect(text.hasPrefix(decoded))
    }

    // MARK: Random input

    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Random bytes and mutated valid messages: the decoder never traps, and whatever it accepts
    /// re-encodes to exactly the input (the encoding is canonical). `LATTICE_SEED=S` replays.
    @Test func randomBytesNeverTrap() throws {
        let seed = ProcessInfo.processInfo.environment["LATTICE_SEED"].flatMap(UInt64.init) ?? 0x5EED_0001
        var rng = SplitMix64(state: seed)
        let samples = try Self.samples().map { $0.encoded() }.filter { $0.count < 4_096 }
        var accepted = 0
        for i in 0..<30_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                let n = Int.random(in: 0...48, using: &rng)
                bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if !bytes.isEmpty && rng.next() % 4 != 0 { bytes[0] = UInt8.random(in: 1...10, using: &rng) }
            } else {
                bytes = samples[Int.random(in: 0..<samples.count, using: &rng)]
                for _ in 0...Int.random(in: 0...3, using: &rng) {
                    let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                    switch rng.next() % 4 {
                    case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
                    case 1 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 2 where !bytes.isEmpty: bytes.remove(at: at)
                    default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    }
                }
            }
            if let m = try? Message(decoding: bytes) {
                accepted += 1
                #expect(m.encoded() == bytes, "seed \(seed), case \(i): \(Self.hex(bytes)) is not canonical")
            }
        }
        #expect(accepted > 0, "seed \(seed): nothing decoded, the mutations test nothing")
    }
}
