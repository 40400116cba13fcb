/// Self-checks shared by the libFuzzer harnesses (`Fuzz/`) and the test suite, which replays the
/// harnesses' minimised crashers from `Fuzz/FailCases/`. Each returns `nil` when the invariant
/// holds, or a description of the violation.
public enum InvariantChecks {
    /// Decoding arbitrary bytes never traps; whatever decodes re-encodes to the same bytes and
    /// decodes again to an equal value (for each message kind).
    /// - Parameter bytes: arbitrary input.
    /// - Returns: a violation, or `nil`.
    public static func codecRoundTrip(_ bytes: [UInt8]) -> String? {
        // Text runs are validated by a lean pass with a careful fallback: both must accept,
        // refuse and build alike (`TextSequence+Load.swift`).
        let lean = Result { () throws(DecodeError) in try ReplicaState(decoding: bytes) }
        let careful = Result { () throws(DecodeError) in try ReplicaState(decodingCarefully: bytes) }
        switch (lean, careful) {
        case (.success(let a), .success(let b)): if a != b { return "state decodes differently lean and careful" }
        case (.failure(let a), .failure(let b)): if a != b { return "state refused differently lean (\(a)) and careful (\(b))" }
        default: return "state accepted by one text pass and refused by the other"
        }
        if case .success(let s) = lean {
            let again = s.encoded()
            if again != bytes { return "state re-encodes to different bytes" }
            if (try? ReplicaState(decoding: again)) != s { return "state does not decode back equal" }
            // The kept run blocks build runs that are the same text: equal, and encoding to the
            // same bytes from the built runs.
            var built = s
            if built.materializeTexts() {
                if built != s || built.encoded() != bytes { return "a loaded text builds different runs" }
            }
        }
        if let d = try? Delta(decoding: bytes) {
            let again = d.encoded()
            if again != bytes { return "delta re-encodes to different bytes" }
            if (try? Delta(decoding: again)) != d { return "delta does not decode back equal" }
        }
        if let d = try? StateDelta(decoding: bytes) {
            let again = d.encoded()
            if again != bytes { return "state delta re-encodes to different bytes" }
            if (try? StateDelta(decoding: again)) != d { return "state delta does not decode back equal" }
        }
        return nil
    }

    /// The input bytes drive an operation schedule over three replicas — local changes, delta
    /// deliveries in any order with duplicates, catch-ups and full joins. After everything is
    /// delivered, all replicas must be equal, equal to the join of all deltas, and the join laws
    /// must hold on the final states.
    /// - Parameter bytes: the schedule.
    /// - Returns: a violation, or `nil`.
    public static func mergeConvergence(_ bytes: [UInt8]) -> String? {
        var input = ScheduleReader(bytes)
        let ids = [ReplicaID(1), ReplicaID(0xFFFF_FFFF_FFFF_FFFF), ReplicaID(0x8000_0000_0000_0000)]
        var replicas = ids.map { Replica(id: $0) }
        var deltas: [Delta] = []
        var now: UInt64 = 1_000
        let names: [Key] = ["a", "b", "é", "e\u{301}"]
        let values: [Value] = [.null, .bool(true), .int(-1), .double(-0.0), .double(0.0), .string("x"), .bytes([1])]
        while let op = input.next() {
            let r = Int(op % 3)
            now &+= UInt64(op >> 6)
            let path = FieldPath(names[Int(input.next() ?? 0) % 2], names[Int(input.next() ?? 0) % 4], names[Int(input.next() ?? 0) % 4])
            let value = values[Int(input.next() ?? 0) % values.count]
            var delta = Delta()
            switch (op >> 2) % 8 {
            case 0: try? replicas[r].set(path, value, now: now, into: &delta)
            case 1: try? replicas[r].add(path, [value], now: now, into: &delta)
            case 2: try? replicas[r].remove(path, [value], now: now, into: &delta)
            case 3: try? replicas[r].increment(path, by: Int64(Int8(bitPattern: op)), now: now, into: &delta)
            case 4: replicas[r].deleteDocument(path.collection, path.document, now: now, into: &delta)
            case 5:
                if !deltas.isEmpty { replicas[r].apply(deltas[Int(input.next() ?? 0) % deltas.count], now: now) }
            case 6:
                let from = replicas[Int(input.next() ?? 0) % 3].state
                replicas[r].join(from.delta(since: replicas[r].state.versionVector), now: now)
            default:
                replicas[r].join(replicas[Int(input.next() ?? 0) % 3].state, now: now)
            }
            if !delta.isEmpty {
                // Every delta must survive the codec.
                guard let decoded = try? Delta(decoding: delta.encoded()), decoded == delta else {
                    return "delta does not round-trip through the codec"
                }
                deltas.append(delta)
            }
        }
        var all = ReplicaState()
        for d in deltas { all.apply(d) }
        for i in replicas.indices {
            for d in deltas.reversed() { replicas[i].apply(d, now: now) }
            if replicas[i].state != all { return "replica \(i) differs from the join of all deltas" }
        }
        let s = replicas.map(\.state)
        if s[0].joined(s[1]) != s[1].joined(s[0]) { return "join not commutative" }
        if s[0].joined(s[0]) != s[0] { return "join not idempotent" }
        guard let decoded = try? ReplicaState(decoding: all.encoded()), decoded == all else {
            return "state does not round-trip through the codec"
        }
        return nil
    }
}

/// Reads a fuzz input as a stream of bytes, capped so that one input stays fast.
struct ScheduleReader {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = Array(bytes.prefix(4096)) }
    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }
}

extension ReplicaState {
    /// Builds the runs of every text still held as its decoded encoding (as a first edit would).
    /// - Returns: whether there was any.
    mutating func materializeTexts() -> Bool {
        var any = false
        for (c, docs) in store {
            for (d, doc) in docs {
                for (f, field) in doc.fields where field.text?.storage.encodedRuns != nil {
                    store[c]?[d]?.fields[f]?.text?.makeUnique()
                    any = true
                }
            }
        }
        return any
    }
}
