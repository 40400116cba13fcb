/// Appends the codec's primitives to a growing byte array.
package struct ByteWriter {
    package var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    package mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Unsigned LEB128, minimal length.
    @inline(__always)
    package mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always)
    package mutating func varint(_ value: Int) { varint(UInt64(value)) }

    /// ZigZag then LEB128.
    @inline(__always)
    package mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    package mutating func u64le(_ value: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }

    package mutating func lengthPrefixed(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            varint(buf.count)
            bytes.append(contentsOf: buf)
        }
    }
}

/// Reads the codec's primitives from a buffer, throwing `DecodeError` instead of trapping.
package struct ByteReader {
    package let buffer: UnsafeRawBufferPointer
    package var offset = 0

    package init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    package var remaining: Int { buffer.count - offset }

    @inline(__always)
    package mutating func byte() throws(DecodeError) -> UInt8 {
        guard offset < buffer.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return buffer[offset]
    }

    /// Minimal-length unsigned LEB128 of at most 64 bits.
    @inline(__always)
    package mutating func varint() throws(DecodeError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < buffer.count else { throw .truncated(offset: start) }
            let b = buffer[offset]
            offset += 1
            if shift == 63 && b > 1 { throw .badVarint(offset: start) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 { throw .badVarint(offset: start) }
                return result
            }
            shift += 7
            if shift > 63 { throw .badVarint(offset: start) }
        }
    }

    @inline(__always)
    package mutating func signed() throws(DecodeError) -> Int64 {
        let z = try varint()
        return Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
    }

    /// A count of items that each take at least `minimumItemSize` bytes: capped by the input left.
    @inline(__always)
    package mutating func count(minimumItemSize: Int = 1) throws(DecodeError) -> Int {
        let start = offset
        let n = try varint()
        let limit = remaining / max(minimumItemSize, 1)
        guard n <= UInt64(limit) else { throw .lengthTooLarge(n > UInt64(Int.max) ? Int.max : Int(n), limit: limit, offset: start) }
        return Int(n)
    }

    package mutating func u64le() throws(DecodeError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated(offset: offset) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(buffer[offset + i]) << (8 * i) }
        offset += 8
        return v
    }

    package mutating func bytes(_ n: Int) throws(DecodeError) -> UnsafeRawBufferPointer {
        guard n <= remaining else { throw .truncated(offset: offset) }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
    }

    package mutating func string() throws(DecodeError) -> String {
        let start = offset
        let n = try count()
        let raw = try bytes(n)
        guard let s = String(validating: raw.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else {
            throw .invalidUTF8(offset: start)
        }
        return s
    }
}
