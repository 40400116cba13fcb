/// The seeded editing trace of `lattice bench --text` and `Tests/Bench/peers_text.py` (the same
/// spec, bit for bit: both print its FNV-1a hash). One author types and deletes single
/// characters with cursor locality: 8 % of steps jump to a random place; 70 % insert a character
/// at the cursor, the rest delete one (80 % backspace, else forward delete).
struct EditingTrace {
    /// One operation: insert `char` at `position`, or delete the character at `position`.
    struct Op {
        var insert: Bool
        var position: Int
        var char: UInt8
    }

    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz    \netaoin".utf8)
    static let seed: UInt64 = 0x1A7_71CE

    /// SplitMix64.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// `ops` operations from a text of `length` characters with the cursor at `cursor`.
    static func generate(seed: UInt64, ops: Int, length: Int = 0, cursor: Int = 0) -> [Op] {
        var g = Generator(state: seed)
        var out: [Op] = []
        out.reserveCapacity(ops)
        var l = length
        var c = cursor
        for _ in 0..<ops {
            if g.uniform(100) < 8 { c = g.uniform(l + 1) }
            if l == 0 || g.uniform(100) < 70 {
                out.append(Op(insert: true, position: c, char: alphabet[g.uniform(alphabet.count)]))
                c += 1
                l += 1
            } else {
                if c > 0 && (g.uniform(100) < 80 || c == l) {
                    out.append(Op(insert: false, position: c - 1, char: 0))
                    c -= 1
                } else {
                    out.append(Op(insert: false, position: c, char: 0))
                }
                l -= 1
            }
        }
        return out
    }

    /// FNV-1a 64 over the ops (insert: 0x01, position as 8 bytes LE, the byte; delete: 0x02, position).
    static func hash(_ ops: [Op]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func eat(_ b: UInt8) {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        for op in ops {
            eat(op.insert ? 1 : 2)
            for k in 0..<8 { eat(UInt8(truncatingIfNeeded: UInt64(op.position) >> (8 * UInt64(k)))) }
            if op.insert { eat(op.char) }
        }
        return h
    }

    /// FNV-1a 64 of bytes.
    static func hash(bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    /// The text the ops produce from `start`, with a plain array (the reference for checks).
    static func apply(_ ops: [Op], to start: [UInt8] = []) -> [UInt8] {
        var s = start
        for op in ops {
            if op.insert { s.insert(op.char, at: op.position) } else { s.remove(at: op.position) }
        }
        return s
    }
}
