import Glibc

/// Small POSIX file helpers for key material: atomic 0600 writes and permission-checked reads.
enum SecureFile {
    /// Writes `bytes` to `path` atomically: a temporary file in the same directory created 0600,
    /// written fully, `fsync`ed, renamed over `path`, then the directory is `fsync`ed.
    static func writeAtomically(path: String, bytes: UnsafeRawBufferPointer, mode: mode_t = 0o600) throws {
        let temporary = "\(path).tmp-\(getpid())-\(Sodium.randomUInt32())"
        let fd = retryingEINTR { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw posixError("open", temporary) }
        var cleanup = true
        defer {
            if cleanup { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw posixError("fchmod", temporary) }
            var offset = 0
            while offset < bytes.count {
                let written = retryingEINTR { write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset) }
                guard written > 0 else { throw posixError("write", temporary) }
                offset += written
            }
            guard retryingEINTR({ fsync(fd) }) == 0 else { throw posixError("fsync", temporary) }
        }
        guard rename(temporary, path) == 0 else { throw posixError("rename", "\(temporary) -> \(path)") }
        cleanup = false
        let directory = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) : "."
        let dirFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            defer { close(dirFD) }
            guard retryingEINTR({ fsync(dirFD) }) == 0 else { throw posixError("fsync", directory) }
        }
    }

    /// Reads a whole file of at most `maxSize` bytes into guarded memory, refusing a file that group
    /// or others can access when `requirePrivate` is set.
    static func read(path: String, maxSize: Int, requirePrivate: Bool) throws -> SecretKey {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw posixError("open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw posixError("fstat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw CryptoError(.keyFile, "\(path) is not a regular file") }
        if requirePrivate && info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw CryptoError(
                .insecurePermissions,
                "key file \(path) has mode 0\(mode) and is readable by group or others; refusing to use it. Fix: chmod 600 \(path)"
            )
        }
        let size = Int(info.st_size)
        guard size > 0, size <= maxSize else {
            throw CryptoError(.keyFile, "\(path) has \(size) bytes; expected 1...\(maxSize)")
        }
        let buffer = try SecretKey(zeroedCount: size)
        try buffer.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < size {
                let n = retryingEINTR { Glibc.read(fd, raw.baseAddress.map { $0 + offset }, size - offset) }
                guard n >= 0 else { throw posixError("read", path) }
                guard n > 0 else { throw CryptoError(.keyFile, "\(path) shrank while being read") }
                offset += n
            }
        }
        return buffer
    }

    private static func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result < 0 && errno == EINTR { continue }
            return result
        }
    }

    private static func posixError(_ call: String, _ path: String) -> CryptoError {
        let code = errno
        return CryptoError(.keyFile, "\(call) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }
}
