import LatticeStore
import Testing

/// Replays every saved input of the `log` fuzzer (Fuzz/FailCases/log/) through the harness body.
@Test func replayLogFuzzFailCases() throws {
    let here = #filePath
    let root = "/" + here.split(separator: "/").dropLast(3).joined(separator: "/")
    let folder = root + "/Fuzz/FailCases/log"
    let names = listNames(folder).filter { !$0.hasPrefix(".") && $0 != "README.md" }
    for name in names {
        let bytes = readBytes(folder + "/" + name)
        #expect(bytes.withUnsafeBytes { LogFuzzTarget.run($0) } == nil, "Fuzz/FailCases/log/\(name)")
    }
}

/// A few hand-made structure-aware inputs through the harness: clean, torn, flipped, raw.
@Test(arguments: 0..<64)
func logFuzzTargetSmoke(seed: UInt64) {
    var rng = SeededRandom(seed: seed)
    var input: [UInt8] = [UInt8(seed % 2) * UInt8.random(in: 0...255, using: &rng) | UInt8(seed % 2)]
    input += rng.bytes(Int.random(in: 0...600, using: &rng))
    #expect(input.withUnsafeBytes { LogFuzzTarget.run($0) } == nil, "seed \(seed)")
}
