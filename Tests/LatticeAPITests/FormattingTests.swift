import Foundation
import LatticeCRDT
import Testing

import LatticeAPI

/// The hand-written formatters of listings print exactly what Foundation's formatters print.
@Suite struct FormattingTests {
    @Test func timesMatchISO8601DateFormatter() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var g = SystemRandomNumberGenerator()
        let samples: [UInt64] = [0, 1, 999, 1_000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_399_999, 1_764_000_000_123]
            + (0..<2_000).map { _ in UInt64.random(in: 0...253_402_300_799_999, using: &g) }  // up to 9999-12-31
        for ms in samples {
            let expected = f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
            #expect(isoTime(milliseconds: ms) == expected, "\(ms)")
        }
    }

    @Test func hexAndJSONMatchTheFormatStrings() {
        for v: UInt64 in [0, 1, 0xabc, 0xFFFF_FFFF_FFFF_FFFF, 0x0123_4567_89ab_cdef] {
            #expect(replicaHex(ReplicaID(v)) == String(format: "%016llx", v))
            #expect(hexDigits(v & 0xFF, width: 2) == String(format: "%02x", v & 0xFF))
        }
        #expect(jsonString("a\"b\\c\nd\u{1}é") == #""a\"b\\c\nd\u0001é""#)
        #expect(JSON.object([("x", .double(2)), ("y", .double(-0.0)), ("z", .double(0.25)), ("a", .array([.null, .bool(true), .int(-3)]))]).text
            == #"{"x": 2.0, "y": -0.0, "z": 0.25, "a": [null, true, -3]}"#)
    }
}
