import Glibc
import LatticeStore
import Synchronization
import Testing

/// A fresh directory under /tmp, removed by `cleanup()`.
struct TempDir {
    let path: String

    init() {
        var template = Array("/tmp/lattice-store-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    func cleanup() { removeTree(path) }
}

func removeTree(_ path: String) {
    guard let dir = opendir(path) else {
        unlink(path)
        return
    }
    var names: [String] = []
    while let e = readdir(dir) {
        let name = withUnsafePointer(to: &e.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    closedir(dir)
    for n in names {
        let child = path + "/" + n
        var st = stat()
        if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
    }
    rmdir(path)
}

func listNames(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let e = readdir(dir) {
        let name = withUnsafePointer(to: &e.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func readBytes(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
    let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    precondition(n == bytes.count)
    return bytes
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    precondition(n == bytes.count)
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// SplitMix64: small, seeded, reproducible.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// A payload that encodes its index, so a mix-up is visible.
func payload(_ i: Int, size: Int = 100) -> [UInt8] {
    var p = [UInt8](repeating: UInt8(truncatingIfNeeded: i &* 31), count: max(size, 8))
    withUnsafeBytes(of: UInt64(i).littleEndian) { for (k, b) in $0.enumerated() { p[k] = b } }
    return p
}

func options(_ policy: FsyncPolicy = .batch, segmentSize: Int = 64 << 20, syscalls: Syscalls = .system) -> StoreOptions
{
    var o = StoreOptions()
    o.log.fsyncPolicy = policy
    o.log.segmentSize = segmentSize
    o.syscalls = syscalls
    return o
}

/// Fault injection over `Syscalls.system`: each hook, when set, decides the result of the next
/// calls of one syscall (nil = call the real one).
final class Faults: Sendable {
    struct Plan {
        var write: (@Sendable (Int32, UnsafeRawBufferPointer, Int64) -> Int?)? = nil
        var fdatasync: (@Sendable (Int32) -> Int32?)? = nil
        var fsync: (@Sendable (Int32) -> Int32?)? = nil
        var pread: (@Sendable (Int32, UnsafeMutableRawBufferPointer, Int64) -> Int?)? = nil
        var writes = 0
        var syncs = 0
    }
    let plan = Mutex(Plan())

    var syscalls: Syscalls {
        var s = Syscalls.system
        let real = Syscalls.system
        s.pwrite = { [self] fd, buf, off in
            let hook = plan.withLock { p -> (@Sendable (Int32, UnsafeRawBufferPointer, Int64) -> Int?)? in
                p.writes += 1
                return p.write
            }
            if let hook, let r = hook(fd, buf, off) { return r }
            return real.pwrite(fd, buf, off)
        }
        s.fdatasync = { [self] fd in
            let hook = plan.withLock { p -> (@Sendable (Int32) -> Int32?)? in
                p.syncs += 1
                return p.fdatasync
            }
            if let hook, let r = hook(fd) { return r }
            return real.fdatasync(fd)
        }
        s.fsync = { [self] fd in
            let hook = plan.withLock { $0.fsync }
            if let hook, let r = hook(fd) { return r }
            return real.fsync(fd)
        }
        s.pread = { [self] fd, buf, off in
            let hook = plan.withLock { $0.pread }
            if let hook, let r = hook(fd, buf, off) { return r }
            return real.pread(fd, buf, off)
        }
        return s
    }
}
