import Foundation
import Glibc
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore
import Testing

/// Group commit through `Node.submit` between two real nodes in this process (TCP on loopback,
/// Noise, stores with fsync): every completion runs once, in log order, after its change is
/// durable, including completions that commit again (group-committed or durably); the peer
/// receives every change.
@Suite("Node group commit", .serialized)
struct GroupCommitTests {
    /// Written and read on node A's loop thread only; the test thread reads after `finished`.
    final class Progress: @unchecked Sendable {
        var submitted: [UInt64] = []
        var completed: [UInt64] = []  // the sequence of each completion, in the order they ran
        var failures = 0
        var durableAtCompletion = true
        var durableCommits = 0
        let finished = DispatchSemaphore(value: 0)
    }

    /// The sequence of one submitted change, filled in when `submit` returns.
    final class Sequence: @unchecked Sendable {
        var value: UInt64 = 0
    }

    @Test func completionsRunOnceAfterDurabilityAndTheirChangesReachThePeer() throws {
        let nodes = try TestNodes("groupcommit")
        defer { nodes.stop() }
        let a = try nodes.make("a")
        let listen = try #require(a.listenAddress)
        let b = try nodes.make("b", peers: [StaticPeer(node: a.identity.nodeID, address: listen)])
        nodes.start()

        // 3,000 changes in chunks of 300 (each chunk's fsync usually covers part of the next,
        // so releases cover prefixes); every 7th completion commits one more change from inside.
        let progress = Progress()
        let total = 3_000
        let extra = (total + 6) / 7  // i = 0, 7, 14, … below total
        @Sendable func submit(_ i: Int) {
            let wall = ReplicaStore.wallMilliseconds()
            let sequence = Sequence()
            do {
                let r = try a.submit({ replica, delta in
                    try replica.set(FieldPath("gc", Key("d\(i % 500)"), "v"), .int(Int64(i)), now: wall, into: &delta)
                }, done: { error in
                    let seq = sequence.value
                    if error != nil { progress.failures += 1 }
                    if a.store.durableSequence < seq { progress.durableAtCompletion = false }
                    progress.completed.append(seq)
                    if i < total && i % 7 == 0 { submit(total + i / 7) }
                    if i < total && i % 250 == 0 {
                        // A durable commit from inside a completion releases the changes appended
                        // meanwhile from within this release (re-entrancy).
                        do {
                            try a.commit { replica, delta in
                                try replica.set(FieldPath("gc", "durable", "v"), .int(Int64(i)), now: wall, into: &delta)
                            }
                            progress.durableCommits += 1
                        } catch {
                            progress.failures += 1
                        }
                    }
                    if progress.completed.count == total + extra { progress.finished.signal() }
                })
                sequence.value = r.sequence
                progress.submitted.append(r.sequence)
            } catch {
                progress.failures += 1
            }
        }
        @Sendable func chunk(_ from: Int) {
            for i in from..<min(from + 300, total) { submit(i) }
            if from + 300 < total { a.loop.post { chunk(from + 300) } }
        }
        a.loop.post { chunk(0) }
        #expect(progress.finished.wait(timeout: .now() + 30) == .success, "not every completion ran")

        let done = DispatchSemaphore(value: 0)
        a.loop.post { done.signal() }
        done.wait()
        #expect(progress.failures == 0)
        #expect(progress.durableAtCompletion, "a completion ran before its change was durable")
        #expect(progress.completed.count == total + extra)
        #expect(progress.durableCommits == (total + 249) / 250)
        // Each completion ran once (a durable commit inside a completion may run later ones
        // first: completion order is log order only without such re-entrancy).
        #expect(progress.completed.sorted() == progress.submitted, "a completion ran twice or never")
        #expect(progress.submitted == progress.submitted.sorted())

        // B integrates all of them: poll its state on its loop.
        let expected = total + extra + progress.durableCommits
        var seen = 0
        for _ in 0..<300 {
            let probe = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var count = 0
            b.loop.post {
                count = Int(b.store.replica.state.versionVector.total)
                probe.signal()
            }
            probe.wait()
            seen = count
            if seen >= expected { break }
            usleep(20_000)
        }
        #expect(seen == expected, "B has \(seen) of \(expected) changes")
    }
}
