import LatticeCRDT
import Testing

/// The README's Swift example, kept compiling and true.
@Test func readmeExample() throws {
    var laptop = Replica(id: ReplicaID(1))
    var desktop = Replica(id: ReplicaID(2))
    let title = FieldPath("knowledge", "swift-concurrency", "title")
    let now = UInt64(1_763_800_000_000)

    let d1 = try laptop.set(title, .string("Actors isolate state"), now: now)
    let d2 = try desktop.set(title, .string("Actors serialise access"), now: now + 5)
    let d3 = try laptop.add(FieldPath("knowledge", "swift-concurrency", "tags"), [.string("swift")], now: now)
    desktop.apply(d1, now: now)
    desktop.apply(d3, now: now)
    laptop.apply(d2, now: now)

    #expect(laptop.state == desktop.state)
    #expect(laptop.state.conflicts().map(\.path) == [title])
    #expect(try ReplicaState(decoding: laptop.state.encoded()) == laptop.state)
    let catchUp = laptop.state.delta(since: desktop.state.versionVector)
    #expect(catchUp.entryCount == 0)
}
