/// What a log rewrite did.
public struct LogRewriteReport: Sendable, Equatable {
    /// Segment files replaced.
    public var segments: Int = 0
    /// Records whose payload changed.
    public var records: Int = 0
    /// Bytes of the replaced segments, before and after.
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
}

extension Log {
    /// Rewrites every record for which `transform` returns a new payload, keeping its sequence
    /// and type: what an erase does to purge content from the log.
    ///
    /// The active segment is closed first, so that only closed segments are rewritten. Each one
    /// that changes is written whole to `<segment>.tmp`, synced, and renamed over the original
    /// (then the directory is synced): a crash leaves every segment either as it was or fully
    /// rewritten, and a leftover `.tmp` is removed by the next open. Readers that opened the old
    /// file read it to its end; later ones read the new one.
    /// - Parameter transform: the record's sequence, type and payload → a new payload, or `nil`
    ///   to keep it.
    /// - Returns: counts and bytes.
    /// - Throws: what reading, writing or `transform` throws; a segment already replaced stays so.
    @discardableResult
    public func rewrite(_ transform: (_ sequence: UInt64, _ type: UInt8, _ payload: UnsafeRawBufferPointer) throws -> [UInt8]?) throws
        -> LogRewriteReport
    {
        _ = try core.sealActiveSegment()
        let closed = core.lock.withLock { Array(core.segments.dropLast()) }
        var report = LogRewriteReport()
        for entry in closed {
            let file: FileHandle
            do { file = try core.fs.open(entry.path, flags: FileSystem.readOnly) } catch let e as StoreError where e.code == .notFound {
                continue  // compacted meanwhile
            }
            var out: [UInt8] = []
            var changed = 0
            do {
                defer { file.closeIgnoringErrors() }
                let size = try file.size()
                var reader = SegmentReader(file: file, fileSize: size)
                let header = try reader.window(at: 0, minimum: SegmentHeader.size)
                guard header.count >= SegmentHeader.size else { throw StoreError(.corrupt, "\(entry.path) has no header", path: entry.path) }
                out.reserveCapacity(Int(size))
                out += header[0..<SegmentHeader.size]
                var offset = Int64(SegmentHeader.size)
                var expected = entry.firstSequence
                while expected <= entry.lastSequence {
                    guard case .record(let h, let payload) = try reader.frame(at: offset, expectedSequence: expected) else {
                        throw StoreError(.corrupt, "\(entry.path): record \(expected) does not read back; run `lattice verify`", path: entry.path, offset: offset)
                    }
                    if let fresh = try transform(h.sequence, h.type, payload) {
                        guard fresh.count <= core.maxRecordSize else {
                            throw StoreError(.invalidArgument, "record \(h.sequence) would grow past the record limit when rewritten")
                        }
                        out += RecordFrame.encode(type: h.type, sequence: h.sequence, payload: fresh)
                        changed += 1
                    } else {
                        out += RecordFrame.encode(type: h.type, sequence: h.sequence, payload: Array(payload))
                    }
                    offset += Int64(RecordFrame.headerSize + h.length)
                    expected += 1
                }
                report.bytesBefore += size
            }
            guard changed > 0 else {
                report.bytesAfter += entry.bytes
                continue
            }
            let temporary = entry.path + ".tmp"
            let tmp = try core.fs.open(temporary, flags: FileSystem.createReadWrite | FileSystem.truncateFlag, mode: 0o644)
            do {
                try out.withUnsafeBytes { try tmp.pwriteAll($0, at: 0) }
                try tmp.fsync()
                tmp.closeIgnoringErrors()
            } catch {
                tmp.closeIgnoringErrors()
                try? core.fs.unlink(temporary)
                throw error
            }
            if try core.replaceSegment(firstSequence: entry.firstSequence, with: temporary, bytes: Int64(out.count)) {
                report.segments += 1
                report.records += changed
                report.bytesAfter += Int64(out.count)
            }
        }
        return report
    }
}
