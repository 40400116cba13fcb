import LatticeCRDT
import LatticeSimulation
import LatticeSync
import Testing

/// Lazy push (Docs/PROTOCOL.md §5.4): a forwarded change goes whole to a few sessions and is
/// announced to the others, which ask for it when no one sent it; and a change never reaches a
/// peer before an announced one it observed.
@Suite("Sync engine: lazy push")
struct LazyPushTests {
    typealias Net = EngineTests.Net
    static let ids = (1...5).map { ReplicaID(UInt64($0)) }

    static func config(fanout: Int) -> SyncConfig {
        var c = SyncConfig()
        c.eagerFanout = fanout
        return c
    }

    static func isDeltas(_ m: Message) -> Bool { if case .deltas = m { true } else { false } }
    static func isAnnouncement(_ m: Message) -> Bool { if case .ihaveCompact = m { true } else { false } }
    static func isGraft(_ m: Message) -> Bool { if case .graft = m { true } else { false } }

    /// A — B, and B — C, D, E: what A writes, B forwards.
    static func star(fanout: Int) throws -> Net {
        let net = try Net(ids, config: config(fanout: fanout))
        net.connect(0, 1)
        for j in 2...4 { net.connect(1, j) }
        return net
    }

    @Test func aForwardGoesWholeToTheFanoutAndIsAnnouncedToTheRestWhoAskForIt() throws {
        let net = try Self.star(fanout: 1)
        let before = net.sent.count
        try net.write(0, EngineTests.path(1), .int(1))
        let forwards = net.sent[before...].filter { $0.from == 1 && $0.to >= 2 }
        let whole = Set(forwards.filter { Self.isDeltas($0.message) }.map(\.to))
        let announced = Set(forwards.filter { Self.isAnnouncement($0.message) }.map(\.to))
        #expect(whole.count == 1, "sent whole to \(whole)")
        #expect(announced.count == 2 && announced.isDisjoint(with: whole), "announced to \(announced)")
        #expect(net.engine(1).stats.announced == 2)
        // The announced nodes wait for another sender first.
        for j in announced { net.tick(j) }
        #expect(net.sent[before...].filter { Self.isGraft($0.message) }.isEmpty)
        // Past the delay they ask B, and B sends it.
        net.now += SyncConfig().graftDelay
        for j in announced { net.tick(j) }
        for j in announced {
            #expect(net.engine(j).stats.graftsSent == 1)
            #expect(net.storage(j).state == net.storage(0).state)
        }
        #expect(net.engine(1).stats.graftsServed == 2)
        // A node that got it whole asks nothing.
        for j in whole { #expect(net.engine(j).stats.graftsSent == 0) }
    }

    @Test func anAnnouncementOfAChangeAlreadyHereIsNotAskedFor() throws {
        let net = try Self.star(fanout: 1)
        try net.write(0, EngineTests.path(1), .int(1))
        // C, D and E link up, so the announced ones get it from the one B sent it to (anti-entropy
        // at connect), before the delay is over.
        net.connect(2, 3)
        net.connect(2, 4)
        net.connect(3, 4)
        net.now += SyncConfig().graftDelay
        for j in 2...4 {
            net.tick(j)
            #expect(net.engine(j).stats.graftsSent == 0)
            #expect(net.storage(j).state == net.storage(0).state)
        }
    }

    /// A session silent for longer than a live peer ever is (it pings at least every ping
    /// interval) is likely a dead link not yet timed out: forwards go whole to sessions heard
    /// from lately, and the silent one only gets announcements while others can take them.
    @Test func aSilentSessionIsNotChosenToCarryAWholeForward() throws {
        let net = try Self.star(fanout: 1)
        // C (node 2) goes silent: whatever it sends is lost; B still reaches it.
        guard let (toC, _) = net.ends.first(where: { $0.value.node == 1 && net.ends[$0.value.remote]?.node == 2 }) else {
            Issue.record("no B–C link")
            return
        }
        guard let fromC = net.ends[toC]?.remote else { return }
        net.closedEnds.insert(fromC)
        // Three seconds with ticks every 100 ms: D and E ping and answer pings, C's are lost.
        for _ in 0..<30 {
            net.now += 100
            for j in 0...4 { net.tick(j) }
        }
        var wholeTo: [Int: Int] = [:]
        for i in 1...12 {
            let before = net.sent.count
            try net.write(0, EngineTests.path(i), .int(Int64(i)))
            for m in net.sent[before...] where m.from == 1 && m.to >= 2 && Self.isDeltas(m.message) { wholeTo[m.to, default: 0] += 1 }
        }
        #expect(wholeTo[2] == nil, "whole forwards to the silent C: \(wholeTo)")
        #expect((wholeTo[3] ?? 0) + (wholeTo[4] ?? 0) == 12, "\(wholeTo)")
        #expect((wholeTo[3] ?? 0) > 0 && (wholeTo[4] ?? 0) > 0, "still drawn at random among the live ones: \(wholeTo)")
    }

    /// A stream the driver reports stalled (a retransmission under way) gets announcements,
    /// not whole forwards, until it flows again.
    @Test func aStalledStreamIsNotChosenToCarryAWholeForwardUntilItFlows() throws {
        let net = try Self.star(fanout: 1)
        guard let (toC, _) = net.ends.first(where: { $0.value.node == 1 && net.ends[$0.value.remote]?.node == 2 }) else {
            Issue.record("no B–C link")
            return
        }
        func forwards(_ writes: ClosedRange<Int>) throws -> [Int: Int] {
            var wholeTo: [Int: Int] = [:]
            for i in writes {
                let before = net.sent.count
                try net.write(0, EngineTests.path(i), .int(Int64(i)))
                for m in net.sent[before...] where m.from == 1 && m.to >= 2 && Self.isDeltas(m.message) { wholeTo[m.to, default: 0] += 1 }
            }
            return wholeTo
        }
        net.engine(1).transportStalled(toC, true)
        net.engine(1).transportStalled(toC, true)  // told twice: one stall
        #expect(net.engine(1).stats.stalls == 1)
        let stalled = try forwards(1...12)
        #expect(stalled[2] == nil && (stalled[3] ?? 0) + (stalled[4] ?? 0) == 12, "whole forwards while C's stream stalls: \(stalled)")
        net.engine(1).transportStalled(toC, false)
        let flowing = try forwards(13...36)
        #expect((flowing[2] ?? 0) > 0, "C is drawn again once its stream flows: \(flowing)")
        net.now += SyncConfig().graftDelay
        for j in 0...4 { net.tick(j) }
        #expect(net.storage(2).state == net.storage(0).state, "C got every change (announced, then grafted or sent)")
    }

    @Test func withoutFanoutEveryForwardIsWhole() throws {
        let net = try Self.star(fanout: 0)
        try net.write(0, EngineTests.path(1), .int(1))
        #expect(net.sent.filter { Self.isAnnouncement($0.message) }.isEmpty)
        for j in 2...4 { #expect(net.changes(from: 1, to: j).count == 1) }
    }

    /// The case causal delivery exists for (Docs/PROTOCOL.md §8): B announced A's overwrite C₁
    /// to a node L, then writes C₂ over it. C₂'s context names C₁'s dot; had C₂ reached L first,
    /// L would have recorded C₁ as seen, skipped it when it came, and kept the value C₁ had
    /// replaced. B must send C₁ first.
    @Test func aChangeNeverOvertakesAnAnnouncedOneItObserved() throws {
        let net = try Self.star(fanout: 1)
        for i in 0..<5 { net.engine(i).checkDuplicates = true }
        let path = EngineTests.path(1)
        try net.write(0, path, .int(0))  // v0, everywhere (B's first forward: eager or announced)
        net.now += SyncConfig().graftDelay
        for j in 2...4 { net.tick(j) }
        for j in 2...4 { #expect(net.storage(j).state == net.storage(0).state) }
        let before = net.sent.count
        try net.write(0, path, .int(1))  // C₁ replaces v0
        let lazy = Set(net.sent[before...].filter { $0.from == 1 && Self.isAnnouncement($0.message) }.map(\.to))
        #expect(lazy.count == 2)
        // B overwrites C₁ at once (before anyone asks for it): a local change goes whole to all.
        let c2 = try net.write(1, path, .int(2))
        for l in lazy {
            let changes = try net.sent[before...].filter { $0.from == 1 && $0.to == l }.flatMap { s -> [Delta] in
                if case .deltas(_, let list) = s.message { return try list.map { try Delta(decoding: $0) } }
                return []
            }
            #expect(changes.count == 2, "node \(l) got \(changes.count) changes")
            #expect(changes.last?.context == c2.context)
            #expect(net.storage(l).state == net.storage(1).state)
            #expect(net.storage(l).state.value(path) == net.storage(1).state.value(path))
            #expect(net.engine(l).stats.causalityViolations == 0)
        }
        net.now += SyncConfig().graftDelay
        for j in 0..<5 { net.tick(j) }
        for j in 0..<5 { #expect(net.storage(j).state == net.storage(1).state) }
    }
}
