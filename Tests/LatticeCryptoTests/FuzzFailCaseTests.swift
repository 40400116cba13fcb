import Foundation
import LatticeCrypto
import Testing

/// Files under `Fuzz/FailCases/<harness>/` (minimised crashers), found relative to this file.
func failCases(_ harness: String) throws -> [URL] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/FailCases/\(harness)")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
    return names.filter { !$0.hasPrefix(".") }.sorted().map { root.appendingPathComponent($0) }
}

@Test func handshakeFailCasesReplayClean() throws {
    for url in try failCases("handshake") {
        let data = [UInt8](try Data(contentsOf: url))
        #expect(data.withUnsafeBytes { FuzzEntry.handshake($0) }, "\(url.lastPathComponent)")
    }
}

@Test func datagramFailCasesReplayClean() throws {
    for url in try failCases("datagram") {
        let data = [UInt8](try Data(contentsOf: url))
        #expect(data.withUnsafeBytes { FuzzEntry.datagram($0) }, "\(url.lastPathComponent)")
    }
}

/// The harness entry points on seeded random inputs, every mode (a quick in-suite fuzz smoke test).
@Test(arguments: [11, 22, 33] as [UInt64])
func fuzzEntriesHoldOnSeededRandomInputs(seed: UInt64) {
    var rng = SeededRandom(seed: seed)
    for i in 0..<60 {
        let mode = UInt8(i % 10)
        let body = rng.bytes(Int.random(in: 0...300, using: &rng))
        let input = [mode] + body
        #expect(input.withUnsafeBytes { FuzzEntry.handshake($0) }, "seed \(seed) input \(input.hex)")
        #expect(input.withUnsafeBytes { FuzzEntry.datagram($0) }, "seed \(seed) input \(input.hex)")
    }
}
