import Glibc

/// The raw system calls the store makes, as replaceable function values: the fault-injection seam.
///
/// Every function returns what the syscall returns on success and `-errno` on failure (the kernel's
/// own convention), so an injected failure needs no thread-local `errno`. The store's wrappers in
/// `FileSystem` retry `EINTR`, finish short writes, and turn failures into ``StoreError``. Tests
/// start from ``system`` and replace one function to inject `ENOSPC`, `EIO`, short writes, `EINTR`
/// or a blocking `fdatasync`.
public struct Syscalls: Sendable {
    /// `open(path, flags, mode)`: a file descriptor or `-errno`.
    public var open: @Sendable (_ path: String, _ flags: Int32, _ mode: UInt32) -> Int32
    /// `close(fd)`: 0 or `-errno`.
    public var close: @Sendable (_ fd: Int32) -> Int32
    /// `pread(fd, buffer, count, offset)`: bytes read (0 at end of file) or `-errno`.
    public var pread: @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Int
    /// `write(fd, buffer, count)` at the file offset: bytes written (possibly fewer) or `-errno`.
    public var write: @Sendable (_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int
    /// `pwrite(fd, buffer, count, offset)`: bytes written (possibly fewer) or `-errno`.
    public var pwrite: @Sendable (_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) -> Int
    /// `fsync(fd)`: 0 or `-errno`.
    public var fsync: @Sendable (_ fd: Int32) -> Int32
    /// `fdatasync(fd)`: 0 or `-errno`.
    public var fdatasync: @Sendable (_ fd: Int32) -> Int32
    /// `ftruncate(fd, length)`: 0 or `-errno`.
    public var ftruncate: @Sendable (_ fd: Int32, _ length: Int64) -> Int32
    /// `fstat(fd).st_size`: the file size or `-errno`.
    public var fileSize: @Sendable (_ fd: Int32) -> Int64
    /// `lseek(fd, offset, SEEK_SET)`: the new offset or `-errno`.
    public var seek: @Sendable (_ fd: Int32, _ offset: Int64) -> Int64
    /// `rename(from, to)`: 0 or `-errno`.
    public var rename: @Sendable (_ from: String, _ to: String) -> Int32
    /// `unlink(path)`: 0 or `-errno`.
    public var unlink: @Sendable (_ path: String) -> Int32
    /// `mkdir(path, mode)`: 0 or `-errno`.
    public var mkdir: @Sendable (_ path: String, _ mode: UInt32) -> Int32
    /// `flock(fd, operation)`: 0 or `-errno`.
    public var flock: @Sendable (_ fd: Int32, _ operation: Int32) -> Int32

    /// The real system calls.
    public static let system = Syscalls(
        open: { path, flags, mode in
            let fd = Glibc.open(path, flags, mode_t(mode))
            return fd >= 0 ? fd : -Glibc.errno
        },
        close: { fd in Glibc.close(fd) == 0 ? 0 : -Glibc.errno },
        pread: { fd, buffer, offset in
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            return n >= 0 ? n : -Int(Glibc.errno)
        },
        write: { fd, buffer in
            let n = Glibc.write(fd, buffer.baseAddress, buffer.count)
            return n >= 0 ? n : -Int(Glibc.errno)
        },
        pwrite: { fd, buffer, offset in
            let n = Glibc.pwrite(fd, buffer.baseAddress, buffer.count, off_t(offset))
            return n >= 0 ? n : -Int(Glibc.errno)
        },
        fsync: { fd in Glibc.fsync(fd) == 0 ? 0 : -Glibc.errno },
        fdatasync: { fd in Glibc.fdatasync(fd) == 0 ? 0 : -Glibc.errno },
        ftruncate: { fd, length in Glibc.ftruncate(fd, off_t(length)) == 0 ? 0 : -Glibc.errno },
        fileSize: { fd in
            var st = stat()
            return Glibc.fstat(fd, &st) == 0 ? Int64(st.st_size) : -Int64(Glibc.errno)
        },
        seek: { fd, offset in
            let r = Glibc.lseek(fd, off_t(offset), SEEK_SET)
            return r >= 0 ? Int64(r) : -Int64(Glibc.errno)
        },
        rename: { from, to in Glibc.rename(from, to) == 0 ? 0 : -Glibc.errno },
        unlink: { path in Glibc.unlink(path) == 0 ? 0 : -Glibc.errno },
        mkdir: { path, mode in Glibc.mkdir(path, mode_t(mode)) == 0 ? 0 : -Glibc.errno },
        flock: { fd, operation in cFlock(fd, operation) == 0 ? 0 : -Glibc.errno }
    )
}

/// The `flock(2)` function (the bare name also denotes `struct flock`).
private let cFlock: @Sendable (Int32, Int32) -> Int32 = flock
