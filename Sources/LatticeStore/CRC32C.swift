internal import CCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and LevelDB.
///
/// With the CPU's crc32 instruction where it has one (x86-64 SSE4.2, AArch64 CRC: eight bytes per
/// instruction), else table-driven slicing-by-8 (about one table lookup per byte). Check value:
/// `crc32c("123456789") == 0xE3069283`.
public enum CRC32C {
    /// Whether the instruction is used.
    public static let usesHardware = ccrc32c_available() != 0
    @usableFromInline
    static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var crc = UInt32(i)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][i] = crc
        }
        for i in 0..<256 {
            for t in 1..<8 {
                let prev = tables[t - 1][i]
                tables[t][i] = (prev >> 8) ^ tables[0][Int(prev & 0xFF)]
            }
        }
        return tables
    }()

    /// Computes the checksum of `bytes`, continuing from `crc` (pass the result of a previous call).
    /// - Parameters:
    ///   - bytes: the data.
    ///   - crc: a previous result to continue from, or 0 to start.
    /// - Returns: the CRC-32C.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        if usesHardware {
            guard let base = bytes.baseAddress else { return crc }
            return ~ccrc32c_update(~crc, base, bytes.count)
        }
        return software(bytes, continuing: crc)
    }

    /// The table-driven computation (used without the instruction; tests compare the two).
    /// - Parameters:
    ///   - bytes: the data.
    ///   - crc: a previous result to continue from, or 0 to start.
    /// - Returns: the CRC-32C.
    public static func software(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        var i = 0
        let n = bytes.count
        tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            while n - i >= 8 {
                let lo = c ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
                    | UInt32(bytes[i + 3]) << 24)
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)]
                    ^ t4[Int(lo >> 24)] ^ t3[Int(bytes[i + 4])] ^ t2[Int(bytes[i + 5])]
                    ^ t1[Int(bytes[i + 6])] ^ t0[Int(bytes[i + 7])]
                i += 8
            }
            while i < n {
                c = t0[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return ~c
    }

    /// Computes the checksum of a byte array.
    /// - Parameter bytes: the data.
    /// - Returns: the CRC-32C.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
