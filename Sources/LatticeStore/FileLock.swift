import Glibc

/// The one-writer-per-directory lock: `flock(LOCK_EX | LOCK_NB)` on `<dir>/LOCK`, which holds the
/// holder's pid as decimal text.
///
/// `flock` locks belong to the open file description, so a second `open` of the same directory in
/// the same process conflicts too (unlike `fcntl` record locks, which are per process). The kernel
/// releases the lock when the holder exits, even after `kill -9`; the pid text is only for the
/// error message and is never trusted for correctness.
struct FileLock: Sendable {
    let file: FileHandle

    /// Takes the lock or throws `.locked` naming the holder's pid.
    /// - Parameters:
    ///   - path: the lock file, usually `<dir>/LOCK`.
    ///   - fs: the file layer.
    static func acquire(_ path: String, fs: FileSystem) throws -> FileLock {
        let file = try fs.open(path, flags: FileSystem.createReadWrite, mode: 0o644)
        do {
            // A process spawned by another thread shares our descriptors between fork and exec
            // (close-on-exec closes them only at exec), so a just-released lock can look taken
            // for a moment. Retry for up to 200 ms before naming a holder.
            var attempts = 0
            while try !file.flock(LOCK_EX | LOCK_NB) && attempts < 40 {
                attempts += 1
                usleep(5_000)
            }
            guard try file.flock(LOCK_EX | LOCK_NB) else {
                var buffer = [UInt8](repeating: 0, count: 32)
                let n = (try? buffer.withUnsafeMutableBytes { try file.pread(into: $0, at: 0) }) ?? 0
                let text = String(decoding: buffer[..<n], as: UTF8.self)
                    .filter { $0.isNumber }
                let holder = text.isEmpty ? "an unknown process" : "pid \(text)"
                throw StoreError(
                    .locked,
                    "data directory is in use by \(holder) (lock file \(path)); stop that process or use another directory",
                    errno: Errno.wouldBlock,
                    path: path
                )
            }
            let pid = Array("\(getpid())\n".utf8)
            try file.truncate(to: 0)
            try pid.withUnsafeBytes { try file.pwriteAll($0, at: 0) }
            return FileLock(file: file)
        } catch {
            file.closeIgnoringErrors()
            throw error
        }
    }

    /// Releases the lock by closing the descriptor. The file and its pid text stay behind.
    func release() { file.closeIgnoringErrors() }
}
