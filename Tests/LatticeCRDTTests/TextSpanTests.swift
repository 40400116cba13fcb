@testable import LatticeCRDT
import Testing

/// The decoder's overlap check of character ranges, on both of its paths.
@Suite struct TextSpanTests {
    @Test(arguments: [UInt64(1), 1 << 40])  // dense counters (bitmap) and sparse ones (sorted)
    func overlapsAreFoundAndDeletionsChecked(spread: UInt64) {
        var s = SpanSet(authors: 2)
        s.add(0, 1, 3)  // 1..<4
        s.add(0, 4 &* spread, 2)
        s.add(1, 1, 70)  // another author: no clash
        s.add(0, 10 &* spread, 65)  // crosses a 64-bit word
        let ok = s.disjoint()
        #expect(ok)
        #expect(s.intersects(0, 3, 4) && !s.intersects(0, 200 &* spread, 201 &* spread))
        #expect(s.intersects(0, 74 &* spread, 80 &* spread) == (spread == 1))
        #expect(s.intersects(1, 70, 71) && !s.intersects(1, 71, 72))

        var clash = SpanSet(authors: 1)
        clash.add(0, 5 &* spread, 70)
        clash.add(0, 5 &* spread + 69, 1)  // the last character again
        let clashes = !clash.disjoint()
        #expect(clashes)
    }
}
