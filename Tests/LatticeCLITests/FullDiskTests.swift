import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A running node whose disk fills up: writes fail with a clear error and change nothing,
/// nothing acknowledged is lost, and the node takes writes again once space returns, without a
/// restart. Needs root (it mounts a 4 MiB tmpfs); without it, it says so and checks nothing.
@Suite("A full disk", .serialized)
struct FullDiskTests {
    @Test func writesFailClearlyAndResumeWhenSpaceReturns() throws {
        let mount = "/tmp/lattice-full-\(getpid())"
        _ = mkdir(mount, 0o700)
        defer { _ = rmdir(mount) }
        guard getuid() == 0, system("mount -t tmpfs -o size=4m tmpfs '\(mount)' 2>/dev/null") == 0 else {
            print("full-disk test skipped: mounting a tmpfs needs root")
            return
        }
        defer { _ = system("umount -l '\(mount)'") }
        let data = mount + "/n"
        #expect(try CLI.run(["init"], data: data).code == 0)
        let node = try NodeProcessTests.Daemon(data: data)
        defer { node.stop() }
        _ = try node.port()
        #expect(try CLI.run(["put", "memories", "before", "note=written with room to spare"], data: data).code == 0)

        // Fill the file system.
        let filler = mount + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        let chunk = [UInt8](repeating: 0, count: 64 << 10)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)

        // Writes fail (after the slack of the current page), each with a clear error.
        let big = String(repeating: "y", count: 3_000)
        var acknowledged = ["before"]
        var refused = 0
        for i in 0..<20 {
            let r = try CLI.run(["put", "memories", "full\(i)", "note=\(big)"], data: data)
            if r.code == 0 {
                acknowledged.append("full\(i)")
            } else {
                #expect(r.stderr.contains("free disk space") && r.stderr.contains("not saved"), "\(r.stderr)")
                refused += 1
            }
        }
        #expect(refused > 0, "the disk never filled up")

        // Space returns: the running node takes writes again.
        _ = unlink(filler)
        let after = try CLI.run(["put", "memories", "after", "note=space came back"], data: data)
        #expect(after.code == 0, "\(after.stderr)")
        acknowledged.append("after")
        let listed = Set((CLI.json(try CLI.run(["ls", "memories", "--json"], data: data)) as? [String]) ?? [])
        #expect(Set(acknowledged).isSubset(of: listed), "lost: \(Set(acknowledged).subtracting(listed))")

        // And after a restart everything acknowledged is there and the store is clean.
        node.stop()
        let verify = try CLI.run(["verify", "--json"], data: data)
        #expect((CLI.json(verify) as? [String: Any])?["clean"] as? Bool == true, "\(verify.stdout)")
        let reopened = Set((CLI.json(try CLI.run(["ls", "memories", "--json"], data: data)) as? [String]) ?? [])
        #expect(Set(acknowledged).isSubset(of: reopened), "lost after restart: \(Set(acknowledged).subtracting(reopened))")
        print("full-disk test: \(acknowledged.count) acknowledged writes kept, \(refused) refused while full, writes resumed without a restart")
    }
}
