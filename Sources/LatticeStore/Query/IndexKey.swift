public import LatticeCRDT

/// A field's value as the query indexes order it: numbers (integers and doubles alike)
/// numerically, strings by their UTF-8 bytes. Kinds order `null < bool < number < string <
/// bytes`, so a field holding mixed kinds still sorts deterministically.
///
/// A register is indexed as the value it reads as (the last-writer-wins winner among its
/// siblings); a counter as its total. `-0.0` is `0`; a NaN sorts by IEEE 754 total order.
public enum IndexKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(Key)
    case bytes([UInt8])

    /// The key of a scalar.
    /// - Parameter value: a register value or a query's operand.
    public init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .number(Double(i))
        case .double(let d): self = .number(d == 0 ? 0 : d)
        case .string(let s): self = .string(Key(s))
        case .bytes(let b): self = .bytes(b)
        }
    }

    /// What a field reads as for the indexes: a register's winning value, a counter's total;
    /// `nil` for sets, text and empty fields.
    /// - Parameter field: the field.
    /// - Returns: its key, or `nil`.
    public static func read(_ field: Field) -> IndexKey? {
        if !field.registers.isEmpty {
            let onlyRegisters = field.elements.isEmpty && field.counters.isEmpty && field.text == nil
            guard onlyRegisters || field.kind == .register else { return nil }
            var best = field.registers[0]
            for e in field.registers.dropFirst() where e.tag.wins(over: best.tag) { best = e }
            return IndexKey(best.value)
        }
        if !field.counters.isEmpty, field.kind == .counter {
            var total: UInt64 = 0
            for e in field.counters { total = total &+ e.increments &- e.decrements }
            return .number(Double(Int64(bitPattern: total)))
        }
        return nil
    }

    /// Whether the key is a number.
    public var number: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The kind's place in the order.
    var rank: UInt8 {
        switch self {
        case .null: 0
        case .bool: 1
        case .number: 2
        case .string: 3
        case .bytes: 4
        }
    }

    /// A double's bits as an unsigned integer ordered as IEEE 754 totalOrder.
    static func orderedBits(_ d: Double) -> UInt64 {
        let bits = d.bitPattern
        return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
    }

    public static func == (lhs: IndexKey, rhs: IndexKey) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a.bitPattern == b.bitPattern
        case (.string(let a), .string(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rank)
        switch self {
        case .null: break
        case .bool(let b): hasher.combine(b)
        case .number(let d): hasher.combine(d.bitPattern)
        case .string(let k): hasher.combine(k)
        case .bytes(let b): hasher.combine(b)
        }
    }

    public static func < (lhs: IndexKey, rhs: IndexKey) -> Bool { compare(lhs, rhs) < 0 }

    /// -1, 0 or 1 as `lhs` sorts before, with or after `rhs` (the order of `<`; equal as `==`).
    /// Numbers, the common case of an index walk, are compared without building a tuple.
    @inline(__always)
    static func compare(_ lhs: IndexKey, _ rhs: IndexKey) -> Int {
        if case .number(let a) = lhs, case .number(let b) = rhs {
            let x = orderedBits(a)
            let y = orderedBits(b)
            return x < y ? -1 : x == y ? 0 : 1
        }
        if case .string(let a) = lhs, case .string(let b) = rhs { return a < b ? -1 : a == b ? 0 : 1 }
        return lhs == rhs ? 0 : less(lhs, rhs) ? -1 : 1
    }

    private static func less(_ lhs: IndexKey, _ rhs: IndexKey) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): !a && b
        case (.number(let a), .number(let b)): orderedBits(a) < orderedBits(b)
        case (.string(let a), .string(let b)): a < b
        case (.bytes(let a), .bytes(let b)): a.lexicographicallyPrecedes(b)
        default: lhs.rank < rhs.rank
        }
    }

    /// The value as text (strings unquoted).
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let k): k.string
        case .bytes(let b): "0x" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }
}

extension Field {
    /// The set elements with a live add, ascending (empty for other kinds).
    var liveElements: [Value] {
        if elements.isEmpty { return [] }
        return elements.compactMap { $0.value.isEmpty ? nil : $0.key }.sorted()
    }
}

extension IndexKey {
    /// A 64-bit summary monotone in the order: the kind's rank in the top 3 bits, then the
    /// value's order-preserving bits — a number's IEEE 754 total-order bits (all but the last
    /// 4), the first 7 bytes of a string or bytes (zero-padded) — and in the lowest bit whether
    /// the summary leaves anything out (``summaryIsExact(_:)``). Different summaries order as
    /// their keys; equal exact summaries are equal keys; equal inexact ones need the full
    /// comparison.
    ///
    /// Monotone with the flag too: an exact key is the smallest of the keys sharing its value
    /// bits (a number whose dropped bits are zero; a string of at most 7 bytes without a zero
    /// byte, which every other string with the same first 7 bytes, zero-padded, extends).
    var summary: UInt64 {
        switch self {
        case .null: return 0
        case .bool(let b): return 1 << 61 | (b ? 2 : 0)
        case .number(let d):
            let bits = Self.orderedBits(d)
            return 2 << 61 | (bits >> 4) << 1 | (bits & 0xF == 0 ? 0 : 1)
        case .string(let k):
            var s = k.string
            return 3 << 61 | s.withUTF8 { Self.prefixBits(UnsafeRawBufferPointer($0)) }
        case .bytes(let b): return 4 << 61 | b.withUnsafeBytes { Self.prefixBits($0) }
        }
    }

    /// Whether a summary determines its key (see ``summary``).
    @inline(__always)
    static func summaryIsExact(_ summary: UInt64) -> Bool { summary & 1 == 0 }

    /// The first 7 bytes, big-endian, zero-padded, shifted left by one, with the inexact flag:
    /// set when there are more than 7 bytes or a zero byte among them.
    @inline(__always)
    static func prefixBits(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var v: UInt64 = 0
        var inexact = bytes.count > 7
        for i in 0..<7 {
            let b = i < bytes.count ? bytes[i] : 0
            if b == 0 && i < bytes.count { inexact = true }
            v = v << 8 | UInt64(b)
        }
        return v << 1 | (inexact ? 1 : 0)
    }
}
