import Foundation
import LatticeAPI

#if canImport(Glibc)
    import Glibc
#endif

/// The client's half of hosting: a command sent to the node that serves its data directory.
extension Hosting {
    /// Runs `command` in the node serving this data directory, if one does. Returns the exit
    /// code, or nil when no node answers (run the command directly).
    static func forward(_ command: String, _ rest: [String]) throws(CLIError) -> Int32? {
        let dir = dataDirectory(rest)
        let path = socketPath(dir)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        if exclusive.contains(command) {
            throw CLIError(message: "\(command) needs the data directory to itself; stop the node running on \(dir) first", code: .unavailable)
        }
        guard routed.contains(command) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else { return nil }  // a stale socket: nobody listens
        var argv = [command] + rest
        var input: String?
        if command == "import", let i = argv.lastIndex(where: { !$0.hasPrefix("-") || $0 == "-" }), i > 0 {
            if argv[i] == "-" {
                input = FileHandle.standardInput.readDataToEndOfFile().base64EncodedString()
            } else if !argv[i].hasPrefix("/") {
                argv[i] = FileManager.default.currentDirectoryPath + "/" + argv[i]
            }
        }
        var request: [String: Any] = ["argv": argv]
        if let input { request["stdin"] = input }
        guard let body = try? JSONSerialization.data(withJSONObject: request) else { return nil }
        var sent = 0
        let all = [UInt8](body)
        while sent < all.count {
            let n = all.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw CLIError(message: "the node on \(dir) closed the control connection", code: .unavailable) }
            sent += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(reply))) as? [String: Any], let code = object["code"] as? Int else {
            throw CLIError(message: "the node on \(dir) gave no answer; see its log", code: .unavailable)
        }
        if let out = object["stdout"] as? String, !out.isEmpty { FileHandle.standardOutput.write(Data(out.utf8)) }
        if let err = object["stderr"] as? String, !err.isEmpty { FileHandle.standardError.write(Data(err.utf8)) }
        return Int32(code)
    }
}
