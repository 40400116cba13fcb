import Glibc

/// The body of the `log` libFuzzer harness, public so the test suite replays saved crashers
/// (`Fuzz/FailCases/log/`) through exactly the same code.
///
/// Input byte 0 chooses the mode. Even: **structure-aware** — the rest is cut into records
/// (`length u8 | type u8 | payload`), framed with correct checksums and sequences 1…n into a
/// segment, then optionally damaged (cut at an offset, one byte flipped) as directed by the last
/// bytes. Odd: the raw bytes follow a valid segment header. The segment is written to a fresh
/// directory under `/dev/shm` (or `/tmp`), then verified, opened, read and, when corrupt,
/// repaired and reopened.
///
/// Invariants checked (a violation traps, which the fuzzer reports): every record read back is
/// exactly the record framed at that sequence; an undamaged segment opens with every record and
/// no truncation; after `repair`, the directory opens and verifies clean.
public enum LogFuzzTarget {
    /// Runs one input. Never traps; a broken invariant is returned (the harness traps on it).
    /// - Parameter data: the fuzzer's bytes.
    /// - Returns: a description of the broken invariant, or `nil`.
    public static func run(_ data: UnsafeRawBufferPointer) -> String? {
        guard data.count > 0 else { return nil }
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/lattice-fuzz-XXXXXX".utf8CString)
        guard let dirPointer = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        let dir = String(cString: dirPointer)
        defer { removeTree(dir) }
        let logDir = dir + "/log"
        _ = mkdir(logDir, 0o755)

        var framed: [LogRecord] = []
        var segment = SegmentHeader(firstSequence: 1).encoded
        var damaged = false
        var intact = 0  // framed records wholly before any damage: must survive open and repair
        var frameEnds: [Int] = []
        if data[0] & 1 == 0 {
            var i = 1
            var seq: UInt64 = 1
            let controls = data.count >= 8 ? data.count - 6 : data.count
            while i + 2 <= controls {
                let length = Int(data[i])
                let type = data[i + 1] == 0 ? 1 : data[i + 1]
                let end = min(controls, i + 2 + length)
                let payload = Array(data[(i + 2)..<end])
                framed.append(LogRecord(sequence: seq, type: type, payload: payload))
                segment += RecordFrame.encode(type: type, sequence: seq, payload: payload)
                frameEnds.append(segment.count)
                seq += 1
                i = end
            }
            if data.count >= 8 {
                let c = Array(data[(data.count - 6)...])
                let position = Int(UInt16(c[1]) | UInt16(c[2]) << 8) % (segment.count + 1)
                switch c[0] % 4 {
                case 1 where position < segment.count:  // torn tail
                    segment.removeSubrange(position...)
                    damaged = true
                    intact = frameEnds.filter { $0 <= position }.count
                case 2 where position < segment.count && c[3] != 0:  // one flipped byte
                    segment[position] ^= c[3]
                    damaged = true
                    intact = frameEnds.filter { $0 <= position }.count
                case 3:  // garbage appended
                    segment += c[3...]
                    damaged = true
                    intact = framed.count
                default:
                    intact = framed.count
                }
            } else {
                intact = framed.count
            }
        } else {
            segment += data[1...]
            damaged = true
        }
        guard writeFile(logDir + "/" + SegmentName.name(firstSequence: 1), segment) else { return nil }

        // Verify must not trap, whatever the bytes.
        _ = try? Store.verify(at: dir)

        var options = StoreOptions()
        options.log.fsyncPolicy = .none
        options.log.segmentSize = 4_096
        if let store = try? Store.open(at: dir, options: options) {
            defer { try? store.close() }
            let records = (try? store.log.records(from: 1)) ?? []
            if let violation = check(records, against: framed, intact: intact) { return violation }
            // An open that succeeds reads a chain of frames from the header: a prefix of what
            // was framed (plus, at most, frames the appended garbage happens to hold).
            for (i, r) in records.prefix(framed.count).enumerated() where r != framed[i] {
                return "record \(r.sequence) differs from what was framed"
            }
            if !damaged {
                if records.count != framed.count { return "undamaged segment lost records" }
                if store.openReport.log.truncatedBytes != 0 { return "undamaged segment truncated" }
            }
            return seekCheck(store.log, framed)
        }
        // Open refused: repair must make the directory openable and clean, keeping records intact.
        guard let report = try? Store.repair(at: dir) else { return "repair failed" }
        if !report.after.isClean { return "repair left problems: \(report.after.problems)" }
        guard let store = try? Store.open(at: dir, options: options) else { return "open after repair failed" }
        defer { try? store.close() }
        let records = (try? store.log.records(from: 1)) ?? []
        return check(records, against: framed, intact: intact)
    }

    /// Appends the framed records again in this process (small segments: rotations; indexed for
    /// seeking), then reads from many starting sequences: each read must be exactly the suffix
    /// of the whole log from there.
    private static func seekCheck(_ log: Log, _ framed: [LogRecord]) -> String? {
        for r in framed.prefix(300) {
            for _ in 0..<3 { _ = try? log.append(type: r.type, payload: r.payload) }
        }
        guard (try? log.sync()) != nil else { return nil }
        guard let all = try? log.records(from: 1) else { return "the log cannot be read after appends" }
        for (i, r) in all.enumerated() where r.sequence != UInt64(i + 1) { return "sequence \(r.sequence) at position \(i + 1)" }
        let step = max(1, all.count / 23)
        for start in Array(stride(from: 1, through: all.count, by: step)) + [all.count] where start >= 1 {
            guard let got = try? log.records(from: UInt64(start), limit: 3) else { return "reading from \(start) failed" }
            if got != Array(all[(start - 1)...].prefix(3)) { return "reading from \(start) differs from the whole log" }
        }
        return nil
    }

    /// Sequences increase, and every record framed wholly before the damage is there, intact.
    /// (Records after the damage may be found or not: a payload can itself hold a valid frame.)
    private static func check(_ records: [LogRecord], against framed: [LogRecord], intact: Int) -> String? {
        var previous: UInt64 = 0
        for r in records {
            if r.sequence <= previous { return "sequences not increasing" }
            previous = r.sequence
        }
        if records.count < intact { return "lost an intact record: \(records.count) < \(intact)" }
        for i in 0..<intact where records[i] != framed[i] {
            return "intact record \(i + 1) differs from what was framed"
        }
        return nil
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let fh = FileHandle(fd: fd, path: path, sys: .system)
        return (try? bytes.withUnsafeBytes { try fh.pwriteAll($0, at: 0) }) != nil
    }

    /// Removes a directory tree (two levels: the data directory and its subdirectories).
    static func removeTree(_ path: String) {
        let fs = FileSystem(.system)
        for name in (try? fs.listDirectory(path)) ?? [] {
            let child = path + "/" + name
            if let inner = try? fs.listDirectory(child) {
                for n in inner { unlink(child + "/" + n) }
                rmdir(child)
            } else {
                unlink(child)
            }
        }
        rmdir(path)
    }
}
