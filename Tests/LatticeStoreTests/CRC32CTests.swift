import LatticeStore
import Testing

@Test func crc32cCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([]) == 0)
    // Continuation equals one pass over the concatenation.
    let a = Array("hello, ".utf8), b = Array("world".utf8)
    let whole = CRC32C.checksum(a + b)
    let split = b.withUnsafeBytes { CRC32C.checksum($0, continuing: CRC32C.checksum(a)) }
    #expect(whole == split)
}

/// The instruction path and the table path agree on every length and alignment (seeded bytes).
@Test func crc32cInstructionAndTablesAgree() {
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    let data: [UInt8] = (0..<4_133).map { _ in
        x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: x >> 33)
    }
    data.withUnsafeBytes { all in
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1_000, 4_096] {
                let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                let seed: UInt32 = length % 2 == 0 ? 0 : 0xDEAD_BEEF
                #expect(
                    CRC32C.checksum(slice, continuing: seed) == CRC32C.software(slice, continuing: seed),
                    "start \(start) length \(length)")
            }
        }
    }
    #expect(CRC32C.software(UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
}
