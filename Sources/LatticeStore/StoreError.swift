/// An error from the durable store: what kind of failure, what was being done, and the OS cause.
///
/// Modelled on swift-nio's `FileSystemError`: `code` is a struct of static values rather than an
/// enum, so adding a code later does not break a caller's `switch`.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A read, write, sync or other I/O call failed (for example `EIO`).
        public static let io = Code("io")
        /// Stored bytes fail a check (checksum, magic, sequence order); nothing was modified.
        public static let corrupt = Code("corrupt")
        /// Another writer holds the data directory's lock.
        public static let locked = Code("locked")
        /// The disk or quota is full (`ENOSPC`, `EDQUOT`).
        public static let noSpace = Code("noSpace")
        /// A file or directory does not exist.
        public static let notFound = Code("notFound")
        /// The caller passed something the store cannot accept (too large a record, a bad type).
        public static let invalidArgument = Code("invalidArgument")
        /// The store or log was closed, or stopped after an earlier I/O failure and must be reopened.
        public static let closed = Code("closed")
        /// The caller lacks permission (`EACCES`, `EPERM`, `EROFS`).
        public static let permissionDenied = Code("permissionDenied")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// What was being done, including the syscall name and path when there is one.
    public var message: String
    /// The OS error number, when a syscall failed.
    public var errno: Int32?
    /// The file the failure concerns, when known.
    public var path: String?
    /// The byte offset within `path` the failure concerns (for `.corrupt`), when known.
    public var offset: Int64?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what was being done, for example `"fsync /data/log/…seg"`.
    ///   - errno: the OS error number, if a syscall failed.
    ///   - path: the file concerned.
    ///   - offset: the byte offset concerned.
    public init(_ code: Code, _ message: String, errno: Int32? = nil, path: String? = nil, offset: Int64? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
        self.path = path
        self.offset = offset
    }

    /// Maps a syscall failure to an error with the matching code.
    /// - Parameters:
    ///   - syscall: the syscall name, for example `"pwrite"`.
    ///   - path: the file it acted on.
    ///   - errno: the OS error number.
    /// - Returns: the error, with `code` derived from `errno`.
    public static func syscall(_ syscall: String, path: String, errno: Int32) -> StoreError {
        StoreError(Self.code(forErrno: errno), "\(syscall) \(path)", errno: errno, path: path)
    }

    /// The code that matches an OS error number.
    /// - Parameter errno: the OS error number.
    /// - Returns: `.noSpace`, `.notFound`, `.permissionDenied`, `.invalidArgument`, `.locked` or `.io`.
    public static func code(forErrno errno: Int32) -> Code {
        switch errno {
        case Errno.noSpace, Errno.quota: return .noSpace
        case Errno.noEntry: return .notFound
        case Errno.access, Errno.permission, Errno.readOnlyFS: return .permissionDenied
        case Errno.invalid: return .invalidArgument
        case Errno.wouldBlock: return .locked
        default: return .io
        }
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let offset { text += " at byte offset \(offset)" }
        if let errno { text += " (errno \(errno): \(Errno.name(errno)))" }
        return text
    }
}

/// The Linux error numbers the store reacts to, spelled out so no C header leaks into the API.
public enum Errno {
    /// `EPERM`.
    public static let permission: Int32 = 1
    /// `ENOENT`.
    public static let noEntry: Int32 = 2
    /// `EINTR`.
    public static let interrupted: Int32 = 4
    /// `EIO`.
    public static let io: Int32 = 5
    /// `EBADF`.
    public static let badFileDescriptor: Int32 = 9
    /// `EAGAIN` / `EWOULDBLOCK`.
    public static let wouldBlock: Int32 = 11
    /// `EACCES`.
    public static let access: Int32 = 13
    /// `EFAULT`.
    public static let fault: Int32 = 14
    /// `EEXIST`.
    public static let exists: Int32 = 17
    /// `EINVAL`.
    public static let invalid: Int32 = 22
    /// `ENOSPC`.
    public static let noSpace: Int32 = 28
    /// `EROFS`.
    public static let readOnlyFS: Int32 = 30
    /// `EDQUOT`.
    public static let quota: Int32 = 122

    /// A short symbolic name for an error number (`"ENOSPC"`), or the number itself.
    /// - Parameter value: the OS error number.
    /// - Returns: the name.
    public static func name(_ value: Int32) -> String {
        switch value {
        case permission: "EPERM"
        case noEntry: "ENOENT"
        case interrupted: "EINTR"
        case io: "EIO"
        case badFileDescriptor: "EBADF"
        case wouldBlock: "EAGAIN"
        case access: "EACCES"
        case fault: "EFAULT"
        case exists: "EEXIST"
        case invalid: "EINVAL"
        case noSpace: "ENOSPC"
        case readOnlyFS: "EROFS"
        case quota: "EDQUOT"
        default: "errno \(value)"
        }
    }
}
