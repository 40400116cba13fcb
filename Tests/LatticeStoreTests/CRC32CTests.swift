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
