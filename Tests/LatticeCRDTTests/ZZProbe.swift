@testable import LatticeCRDT
import Testing
import Foundation

struct ZZProbe {
    struct G {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }
    @Test func probe() throws {
        guard ProcessInfo.processInfo.environment["PROBE"] == "1" else { return }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz    \netaoin".unicodeScalars)
        var g = G(state: 0x1A7_71CE)
        var r = Replica(id: ReplicaID(0x1234_5678_9abc_def0))
        let p = FieldPath("bench", "doc", "text")
        var l = 0, c = 0
        for _ in 0..<260_000 {
            if g.uniform(100) < 8 { c = g.uniform(l + 1) }
            if l == 0 || g.uniform(100) < 70 {
                _ = try r.insertText(p, at: c, String(alphabet[g.uniform(alphabet.count)]), now: 1)
                c += 1; l += 1
            } else {
                if c > 0 && (g.uniform(100) < 80 || c == l) { _ = try r.deleteText(p, at: c - 1, count: 1, now: 1); c -= 1 }
                else { _ = try r.deleteText(p, at: c, count: 1, now: 1) }
                l -= 1
            }
        }
        let t = r.state.field(p)!.text!
        let runs = t.storage.canonicalRuns()
        var deleted = 0, leftPrev = 0, leftNone = 0, rightNext = 0, rightNone = 0, sameAuthor = 0
        var lenHist: [UInt64: Int] = [:]
        var prevEnd: UInt64 = 0
        var ctrDeltaHist: [Int64: Int] = [:]
        var leftDist: [Int64: Int] = [:]
        var rightDist: [Int64: Int] = [:]
        for (k, run) in runs.enumerated() {
            if run.deleted { deleted += 1 }
            lenHist[min(run.length, 20), default: 0] += 1
            let d = Int64(run.counter) - Int64(prevEnd)
            ctrDeltaHist[max(-1000, min(1000, d)), default: 0] += 1
            prevEnd = run.end
            if run.left == nil { leftNone += 1 } else if k > 0 && run.left == runs[k-1].last { leftPrev += 1 } else {
                leftDist[max(-1000, min(1000, Int64(run.left!.counter) - Int64(run.counter))), default: 0] += 1 }
            if run.right == nil { rightNone += 1 } else if k + 1 < runs.count && run.right == runs[k+1].first { rightNext += 1 } else {
                rightDist[max(-1000, min(1000, Int64(run.right!.counter) - Int64(run.counter))), default: 0] += 1 }
            _ = sameAuthor
        }

        func zz(_ v: Int64) -> Int { let u = UInt64(bitPattern: (v << 1) ^ (v >> 63)); var n = 1; var x = u >> 7; while x > 0 { n += 1; x >>= 7 }; return n }
        func vu(_ u: UInt64) -> Int { var n = 1; var x = u >> 7; while x > 0 { n += 1; x >>= 7 }; return n }
        var ctrCost = 0, lenCost = 0, leftCur = 0, rightCur = 0, leftOwn = 0, rightOwn = 0, flagsCost = runs.count
        var ctrFromLeft = 0, leftFromPrev = 0
        var lastEnd: UInt64 = 0
        var lenFold = 0
        for (k, run) in runs.enumerated() {
            ctrCost += zz(Int64(run.counter) - Int64(lastEnd))
            lenCost += vu(run.length - 1)
            if run.length > 3 { lenFold += vu(run.length - 4) }
            let implicitL = run.left == nil || (k > 0 && run.left == runs[k-1].last)
            let implicitR = run.right == nil || (k + 1 < runs.count && run.right == runs[k+1].first)
            if !implicitL { leftCur += zz(Int64(run.left!.counter) - Int64(lastEnd)); leftOwn += zz(Int64(run.left!.counter) - Int64(run.counter))
                ctrFromLeft += zz(Int64(run.counter) - Int64(run.left!.counter)); leftFromPrev += zz(Int64(run.left!.counter) - Int64(lastEnd)) }
            else { ctrFromLeft += zz(Int64(run.counter) - Int64(lastEnd)) }
            if !implicitR { rightCur += zz(Int64(run.right!.counter) - Int64(lastEnd)); rightOwn += zz(Int64(run.right!.counter) - Int64(run.counter)) }
            lastEnd = run.end
        }
        print("PROBE cost flags \(flagsCost) ctr \(ctrCost) len \(lenCost) lenFold \(lenFold) leftCur \(leftCur) leftOwn \(leftOwn) rightCur \(rightCur) rightOwn \(rightOwn) ctrFromLeft+leftFromPrev \(ctrFromLeft + leftFromPrev)")
        print("PROBE runs \(runs.count) deleted \(deleted) leftPrev \(leftPrev) leftNone \(leftNone) rightNext \(rightNext) rightNone \(rightNone) visible \(t.count) encoded \(r.state.encoded().count)")
        print("PROBE len", lenHist.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))
        print("PROBE ctrdelta top", ctrDeltaHist.sorted { $0.value > $1.value }.prefix(12).map { "\($0.key):\($0.value)" }.joined(separator: " "))
        print("PROBE leftdist top", leftDist.sorted { $0.value > $1.value }.prefix(12).map { "\($0.key):\($0.value)" }.joined(separator: " "))
        print("PROBE rightdist top", rightDist.sorted { $0.value > $1.value }.prefix(12).map { "\($0.key):\($0.value)" }.joined(separator: " "))
    }
}
