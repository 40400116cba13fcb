import Glibc

/// The store's file layer: one throwing wrapper per syscall over a ``Syscalls`` table.
///
/// Every wrapper retries `EINTR`, finishes short writes, and reports failures as ``StoreError``
/// carrying the syscall name, the path and `errno` (swift-nio `System.swift` style). `EBADF` and
/// `EFAULT` mean a bug in the store and trap.
struct FileSystem: Sendable {
    let sys: Syscalls

    init(_ sys: Syscalls) { self.sys = sys }

    static let readOnly = O_RDONLY | O_CLOEXEC
    static let readWrite = O_RDWR | O_CLOEXEC
    static let createReadWrite = O_RDWR | O_CREAT | O_CLOEXEC
    static let createExclusive = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC
    static let directory = O_RDONLY | O_DIRECTORY | O_CLOEXEC
    static let truncateFlag = O_TRUNC

    /// Traps on the error numbers that can only mean a bug in the caller (a stale or bad pointer
    /// or descriptor); returns otherwise.
    @inline(__always)
    static func checkNotABug(_ err: Int32, _ syscall: String) {
        precondition(err != Errno.badFileDescriptor && err != Errno.fault, "\(syscall): \(Errno.name(err)) is a bug")
    }

    /// `open`, retried on `EINTR`.
    func open(_ path: String, flags: Int32, mode: UInt32 = 0o644) throws -> FileHandle {
        while true {
            let fd = sys.open(path, flags, mode)
            if fd >= 0 { return FileHandle(fd: fd, path: path, sys: sys) }
            if -fd == Errno.interrupted { continue }
            throw StoreError.syscall("open", path: path, errno: -fd)
        }
    }

    /// `rename`, retried on `EINTR`.
    func rename(_ from: String, to: String) throws {
        while true {
            let r = sys.rename(from, to)
            if r == 0 { return }
            if -r == Errno.interrupted { continue }
            throw StoreError.syscall("rename", path: "\(from) -> \(to)", errno: -r)
        }
    }

    /// `unlink`, retried on `EINTR`.
    func unlink(_ path: String) throws {
        while true {
            let r = sys.unlink(path)
            if r == 0 { return }
            if -r == Errno.interrupted { continue }
            throw StoreError.syscall("unlink", path: path, errno: -r)
        }
    }

    /// `mkdir`, retried on `EINTR`; an existing directory is not an error.
    /// - Returns: whether the directory was created.
    @discardableResult
    func makeDirectory(_ path: String, mode: UInt32 = 0o755) throws -> Bool {
        while true {
            let r = sys.mkdir(path, mode)
            if r == 0 { return true }
            if -r == Errno.interrupted { continue }
            if -r == Errno.exists { return false }
            throw StoreError.syscall("mkdir", path: path, errno: -r)
        }
    }

    /// Makes a directory's entries (creations, renames, removals) durable: open it and `fsync`.
    func syncDirectory(_ path: String) throws {
        let dir = try open(path, flags: Self.directory)
        defer { dir.closeIgnoringErrors() }
        try dir.fsync()
    }

    /// The names in a directory, without `.` and `..`, sorted (`opendir`/`readdir`).
    func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw StoreError.syscall("opendir", path: path, errno: Glibc.errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether `path` exists (`access(F_OK)`).
    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Reads a whole file, refusing one larger than `limit` before allocating.
    /// - Returns: the bytes.
    /// - Throws: `.notFound`, `.io`, or `.corrupt` when the file exceeds `limit`.
    func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let file = try open(path, flags: Self.readOnly)
        defer { file.closeIgnoringErrors() }
        let size = try file.size()
        guard size <= Int64(limit) else {
            throw StoreError(.corrupt, "\(path) is \(size) bytes, over the limit of \(limit)", path: path)
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = try bytes.withUnsafeMutableBytes { try file.pread(into: $0, at: 0) }
        if n < bytes.count { bytes.removeSubrange(n...) }
        return bytes
    }

    /// Replaces `path` atomically and durably: write `path.tmp`, `fsync` it, rename it over `path`,
    /// `fsync` the directory. A crash leaves either the old file or the new one, never a mix.
    func writeFileAtomically(_ path: String, directory: String, bytes: [UInt8]) throws {
        let temp = path + ".tmp"
        let file = try open(temp, flags: Self.createReadWrite | O_TRUNC, mode: 0o644)
        do {
            try bytes.withUnsafeBytes { try file.pwriteAll($0, at: 0) }
            try file.fsync()
            try file.close()
        } catch {
            file.closeIgnoringErrors()
            try? unlink(temp)
            throw error
        }
        try rename(temp, to: path)
        try syncDirectory(directory)
    }
}

/// An open file descriptor with its path, for error messages. Not closed automatically.
struct FileHandle: Sendable {
    let fd: Int32
    let path: String
    let sys: Syscalls

    /// Writes every byte at the file offset (`write`), retrying `EINTR` and short writes.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = sys.write(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]))
            if n > 0 {
                done += n
            } else if n == 0 {
                throw StoreError(.io, "write \(path): wrote 0 bytes", path: path)
            } else if Int32(-n) != Errno.interrupted {
                FileSystem.checkNotABug(Int32(-n), "write")
                throw StoreError.syscall("write", path: path, errno: Int32(-n))
            }
        }
    }

    /// Writes every byte at `offset` (`pwrite`), retrying `EINTR` and short writes.
    func pwriteAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = sys.pwrite(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), offset + Int64(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                throw StoreError(.io, "pwrite \(path): wrote 0 bytes", path: path)
            } else if Int32(-n) != Errno.interrupted {
                FileSystem.checkNotABug(Int32(-n), "pwrite")
                throw StoreError.syscall("pwrite", path: path, errno: Int32(-n))
            }
        }
    }

    /// Reads until `buffer` is full or the file ends (`pread`), retrying `EINTR` and short reads.
    /// - Returns: the number of bytes read; less than `buffer.count` only at end of file.
    func pread(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = sys.pread(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), offset + Int64(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if Int32(-n) != Errno.interrupted {
                FileSystem.checkNotABug(Int32(-n), "pread")
                throw StoreError.syscall("pread", path: path, errno: Int32(-n))
            }
        }
        return done
    }

    /// `fsync`: data and metadata durable. Not retried after a real failure: after a failed
    /// `fsync` the kernel may have dropped the dirty pages, so a retry could falsely succeed.
    func fsync() throws {
        while true {
            let r = sys.fsync(fd)
            if r == 0 { return }
            if -r == Errno.interrupted { continue }
            FileSystem.checkNotABug(-r, "fsync")
            throw StoreError.syscall("fsync", path: path, errno: -r)
        }
    }

    /// `fdatasync`: data (and the size) durable. Same failure rule as ``fsync()``.
    func fdatasync() throws {
        while true {
            let r = sys.fdatasync(fd)
            if r == 0 { return }
            if -r == Errno.interrupted { continue }
            FileSystem.checkNotABug(-r, "fdatasync")
            throw StoreError.syscall("fdatasync", path: path, errno: -r)
        }
    }

    /// `ftruncate`, retried on `EINTR`.
    func truncate(to length: Int64) throws {
        while true {
            let r = sys.ftruncate(fd, length)
            if r == 0 { return }
            if -r == Errno.interrupted { continue }
            FileSystem.checkNotABug(-r, "ftruncate")
            throw StoreError.syscall("ftruncate", path: path, errno: -r)
        }
    }

    /// `lseek(SEEK_SET)`, so the next `write` lands at `offset`.
    func seek(to offset: Int64) throws {
        let r = sys.seek(fd, offset)
        if r < 0 { throw StoreError.syscall("lseek", path: path, errno: Int32(-r)) }
    }

    /// The file size (`fstat`).
    func size() throws -> Int64 {
        while true {
            let r = sys.fileSize(fd)
            if r >= 0 { return r }
            if Int32(-r) == Errno.interrupted { continue }
            FileSystem.checkNotABug(Int32(-r), "fstat")
            throw StoreError.syscall("fstat", path: path, errno: Int32(-r))
        }
    }

    /// `flock`; `EINTR` is retried, `EWOULDBLOCK` returned as `false`.
    /// - Returns: whether the lock was taken.
    func flock(_ operation: Int32) throws -> Bool {
        while true {
            let r = sys.flock(fd, operation)
            if r == 0 { return true }
            if -r == Errno.interrupted { continue }
            if -r == Errno.wouldBlock { return false }
            FileSystem.checkNotABug(-r, "flock")
            throw StoreError.syscall("flock", path: path, errno: -r)
        }
    }

    /// `close`. Never retried: on Linux the descriptor is released even when `close` fails.
    func close() throws {
        let r = sys.close(fd)
        if r != 0 && -r != Errno.interrupted {
            throw StoreError.syscall("close", path: path, errno: -r)
        }
    }

    /// `close`, for cleanup paths where an earlier error is already being reported.
    func closeIgnoringErrors() { _ = sys.close(fd) }
}
