package import Foundation
import LatticeNode

/// A JSON string literal.
package func jsonString(_ s: String) -> String {
    var r = ""
    writeJSONString(s, into: &r)
    return r
}

/// Appends `s` as a JSON string literal.
package func writeJSONString(_ s: String, into r: inout String) { JSONText.append(s, to: &r) }

/// `value` in lower-case hex, zero-padded to `width` digits (more when the value needs them).
package func hexDigits(_ value: UInt64, width: Int) -> String {
    let needed = max(1, (64 - value.leadingZeroBitCount + 3) / 4)
    let count = max(needed, max(width, 0))
    return String(unsafeUninitializedCapacity: count) { buffer in
        var v = value
        for i in stride(from: count - 1, through: 0, by: -1) {
            let d = UInt8(truncatingIfNeeded: v & 15)
            buffer[i] = d < 10 ? UInt8(ascii: "0") + d : UInt8(ascii: "a") + d - 10
            v >>= 4
        }
        return count
    }
}

/// JSONSerialization's booleans are NSNumbers of type `c` (on Linux `1 is Bool` holds too, so
/// `as? Bool` cannot tell `true` from `1`).
package func isJSONBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

/// A tiny JSON builder (keeps key order).
package indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])
    /// Text already rendered as JSON (by a streaming writer such as ``writeFieldJSON(_:in:into:)``),
    /// written as it is.
    case raw(String)

    package var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// Appends this value's text (one buffer for the whole tree).
    package func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d):
            if d.isNaN || d.isInfinite {
                writeJSONString(String(d), into: &out)
            } else if d == d.rounded(), abs(d) < 1e15 {
                out += (d == 0 && d.sign == .minus ? "-0" : String(Int64(d))) + ".0"
            } else {
                out += "\(d)"
            }
        case .string(let s): writeJSONString(s, into: &out)
        case .raw(let text): out += text
        case .array(let a):
            out += "["
            for (k, v) in a.enumerated() {
                if k > 0 { out += ", " }
                v.write(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (k, (key, v)) in o.enumerated() {
                if k > 0 { out += ", " }
                writeJSONString(key, into: &out)
                out += ": "
                v.write(into: &out)
            }
            out += "}"
        }
    }
}
