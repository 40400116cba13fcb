import Foundation
@testable import LatticeCRDT
import Testing

// A decoded text keeps its runs encoded until its first edit or merge, and validates them in a
// lean pass with a careful fallback (`TextSequence+Load.swift`). These tests hold the lazy form
// to the eager one: the same bytes are accepted or refused alike by both passes, a loaded text
// reads, encodes, compares, catches up and edits exactly as the text it was encoded from.

private let path = FieldPath("knowledge", "k1", "body")

private func text(_ r: Replica) -> String {
    if case .text(let s)? = r.state.value(path) { return s }
    return ""
}

private func replica(_ n: UInt64) -> Replica { Replica(id: ReplicaID(n &* 0x1000_0000_0001)) }

/// Three authors edit one body with cursor locality (typing runs, backspaces, jumps) and merge
/// now and then, so the runs have own, other-author and neighbour origins and tombstones.
private func editedReplicas(_ g: inout SplitMix64, steps: Int) throws -> [Replica] {
    var replicas = (1...3).map { replica(UInt64($0)) }
    var cursors = [0, 0, 0]
    for step in 0..<steps {
        let i = Int.random(in: 0..<3, using: &g)
        let length = replicas[i].state.field(path)?.text?.count ?? 0
        if Int.random(in: 0..<40, using: &g) == 0 {
            let j = (i + 1) % 3
            replicas[i].join(replicas[j].state, now: UInt64(step))
            continue
        }
        if Int.random(in: 0..<12, using: &g) == 0 { cursors[i] = Int.random(in: 0...length, using: &g) }
        cursors[i] = min(cursors[i], length)
        if length == 0 || Int.random(in: 0..<10, using: &g) < 7 {
            let piece = Workload.textPieces.randomElement(using: &g)!
            _ = try replicas[i].insertText(path, at: cursors[i], piece, now: UInt64(step))
            cursors[i] += piece.unicodeScalars.count
        } else if cursors[i] > 0 {
            let n = min(cursors[i], Int.random(in: 1...3, using: &g))
            _ = try replicas[i].deleteText(path, at: cursors[i] - n, count: n, now: UInt64(step))
            cursors[i] -= n
        }
    }
    return replicas
}

/// The outcome of decoding `bytes` one way: the state's encoding, or the error.
private func outcome(_ decode: () throws(DecodeError) -> ReplicaState) -> Result<[UInt8], DecodeError> {
    do { return .success(try decode().encoded()) } catch { return .failure(error) }
}

@Suite("Text loading: lazy runs (seeded; LATTICE_SEED replays one case)")
struct TextLoadTests {
    @Test func leanAndCarefulPassesAcceptAndRefuseAlike() throws {
        for seed in propertySeeds(12, salt: 61) {
            var g = SplitMix64(seed: seed)
            let replicas = try editedReplicas(&g, steps: 700)
            for r in replicas {
                let bytes = r.state.encoded()
                let lean = try ReplicaState(decoding: bytes)
                let careful = try ReplicaState(decodingCarefully: bytes)
                if lean != r.state || careful != r.state || lean.encoded() != bytes || careful.encoded() != bytes {
                    failed("a text state does not load as it was", seed: seed, test: "leanAndCarefulPassesAcceptAndRefuseAlike")
                }
                // Damaged copies: a flipped byte, a byte dropped or doubled, a cut. Both passes
                // must give the same state or the same error.
                var disagreements = 0
                for trial in 0..<600 {
                    var m = bytes
                    let at = Int.random(in: 3..<m.count, using: &g)
                    switch trial % 4 {
                    case 0, 1: m[at] ^= UInt8.random(in: 1...255, using: &g)
                    case 2: if Bool.random(using: &g) { m.remove(at: at) } else { m.insert(m[at], at: at) }
                    default: m.removeLast(Int.random(in: 1...min(40, m.count - 3), using: &g))
                    }
                    let a = outcome { () throws(DecodeError) in try ReplicaState(decoding: m) }
                    let b = outcome { () throws(DecodeError) in try ReplicaState(decodingCarefully: m) }
                    if a != b { disagreements += 1 }
                    if case .success(let e) = a, e != m { disagreements += 1 }  // whatever decodes is canonical
                }
                if disagreements > 0 {
                    failed("\(disagreements) damaged encodings decode differently lean and careful", seed: seed, test: "leanAndCarefulPassesAcceptAndRefuseAlike")
                }
            }
        }
    }

    @Test func aLoadedTextReadsEditsAndMergesAsTheOriginal() throws {
        for seed in propertySeeds(12, salt: 62) {
            var g = SplitMix64(seed: seed)
            let replicas = try editedReplicas(&g, steps: 500)
            let original = replicas[0]
            let loaded = Replica(id: original.id, state: try ReplicaState(decoding: original.state.encoded()), clock: original.clock)
            // Read-only paths on the kept encoding.
            guard text(loaded) == text(original), loaded.state == original.state, loaded.state.hashValue == original.state.hashValue else {
                failed("a loaded text reads differently", seed: seed, test: "aLoadedTextReadsEditsAndMergesAsTheOriginal")
                continue
            }
            let since = replicas[1].state.versionVector
            if loaded.state.delta(since: since).encoded() != original.state.delta(since: since).encoded() {
                failed("a loaded text catches a peer up differently", seed: seed, test: "aLoadedTextReadsEditsAndMergesAsTheOriginal")
            }
            // The same edits and merges on both, starting with either (the first builds the runs).
            var a = original
            var b = loaded
            var other = replicas[2]
            for step in 0..<60 {
                let length = text(a).unicodeScalars.count
                let at = Int.random(in: 0...length, using: &g)
                switch Int.random(in: 0..<4, using: &g) {
                case 0:
                    let d = try other.insertText(path, at: Int.random(in: 0...text(other).unicodeScalars.count, using: &g), "⟨\(step)⟩", now: 900)
                    a.apply(d, now: 900)
                    b.apply(d, now: 900)
                case 1:
                    let n = Int.random(in: 0...min(4, length - at), using: &g)
                    _ = try a.deleteText(path, at: at, count: n, now: 900)
                    _ = try b.deleteText(path, at: at, count: n, now: 900)
                default:
                    _ = try a.insertText(path, at: at, "é\(step)", now: 900)
                    _ = try b.insertText(path, at: at, "é\(step)", now: 900)
                }
                if text(a) != text(b) || a.state != b.state {
                    failed("a loaded text diverged from the original at edit \(step)", seed: seed, test: "aLoadedTextReadsEditsAndMergesAsTheOriginal")
                    break
                }
            }
            // A loaded state merged into: the kept encoding is turned into runs for the join.
            var c = Replica(id: replicas[1].id, state: try ReplicaState(decoding: replicas[1].state.encoded()))
            var d = replicas[1]
            c.join(original.state, now: 950)
            d.join(original.state, now: 950)
            if c.state != d.state || text(c) != text(d) {
                failed("a loaded text merges differently", seed: seed, test: "aLoadedTextReadsEditsAndMergesAsTheOriginal")
            }
        }
    }

    /// Every run written as two runs that should be one — its right origin explicit or implicit,
    /// typed or a tombstone, early or deep in the block where the lean pass reads — is refused
    /// as not canonical by both passes, with the same error.
    @Test func aRunWrittenAsTwoIsRefusedByBothPasses() throws {
        var checked = 0
        for seed in propertySeeds(4, salt: 63) {
            var g = SplitMix64(seed: seed)
            let r = try editedReplicas(&g, steps: 300)[0]
            guard case .text? = r.state.value(path), let runs = r.state.field(path)?.text?.storage.canonicalRuns() else { continue }
            for k in runs.indices where runs[k].length >= 2 {
                let bytes = TextCodec.$splitRunForTesting.withValue(k) { r.state.encoded() }
                let lean = outcome { () throws(DecodeError) in try ReplicaState(decoding: bytes) }
                let careful = outcome { () throws(DecodeError) in try ReplicaState(decodingCarefully: bytes) }
                guard case .failure(let e) = lean, lean == careful, case .nonCanonical = e else {
                    failed("run \(k) of \(runs.count) split: lean \(lean), careful \(careful)", seed: seed, test: "aRunWrittenAsTwoIsRefusedByBothPasses")
                    break
                }
                checked += 1
            }
        }
        #expect(checked > 20)
    }

    /// A run whose right origin is none, followed by a run whose left origin is its neighbour
    /// (found by the lazy loader's first cut).
    @Test func aRunWithoutRightOriginBeforeANeighbourLoads() throws {
        var a = replica(1)
        var b = replica(2)
        b.apply(try a.insertText(path, at: 0, "ab", now: 1), now: 1)
        a.apply(try b.insertText(path, at: 2, "Z", now: 2), now: 2)
        _ = try a.insertText(path, at: 2, "c", now: 3)
        let bytes = a.state.encoded()
        let decoded = try ReplicaState(decoding: bytes)
        #expect(decoded == a.state)
        #expect(decoded.encoded() == bytes)
        if case .text(let s)? = decoded.value(path) { #expect(s == "abcZ") } else { Issue.record("no text") }
    }
}
