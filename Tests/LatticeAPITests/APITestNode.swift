import Foundation
import Glibc
import LatticeAPI
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore

/// One real node hosted in this process, as `lattice run` hosts it (`Hosting.host`), with the
/// library's HTTP API on a loopback port, run on a thread of its own. There is one hosted node
/// per process, so suites using this are serialized.
final class APITestNode {
    let directory: String
    let token = String(repeating: "ab", count: 32)
    let node: Node
    let port: UInt16
    private var thread: Thread?

    /// - Parameters:
    ///   - name: a tag for the data directory (`/tmp/lattice-api-NAME-PID`).
    ///   - syscalls: the store's system calls (a test injects failures).
    init(_ name: String, syscalls: Syscalls = .system) throws {
        directory = "/tmp/lattice-api-\(name)-\(getpid())"
        _ = system("rm -rf '\(directory)'")
        _ = mkdir(directory, 0o700)
        let identity = try NodeIdentity.generate()
        var storeOptions = StoreOptions()
        storeOptions.syscalls = syscalls
        let store = try ReplicaStore.open(at: directory, replicaID: ReplicaID(identity.nodeID.replicaRawValue), options: storeOptions)
        var options = NodeOptions()
        options.listen = SocketAddress(host: "127.0.0.1", port: 0)
        options.discovery = false
        let ring = try KeyRing(current: NetworkKey.generate())
        node = try Node(identity: identity, keyRing: ring, trust: TrustPolicy(), store: store, options: options, log: NodeLog(level: .error))
        try Hosting.host(node, config: nil, root: directory)
        let server = try APIServer.start(
            node, options: APIServer.options(token: token, address: SocketAddress(host: "127.0.0.1", port: 0)), dataDirectory: directory)
        node.onStop { server.close() }
        guard let address = server.address else { throw POSIXError(.EADDRNOTAVAIL) }
        port = address.port
        let node = self.node
        let t = Thread { node.run() }
        t.start()
        thread = t
    }

    /// Stops the node, waits for its thread, closes its store and removes the directory.
    func stop() {
        node.stop()
        if let t = thread { while !t.isFinished { usleep(1_000) } }
        try? node.store.close()
        Hosting.node = nil
        Hosting.root = nil
        Hosting.config = nil
        _ = system("rm -rf '\(directory)'")
    }

    /// One answer of the API: status, headers (names lower-cased) and body.
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String

        /// The body as a JSON object (empty when it is not one).
        var object: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    /// Sends one request over loopback (with the token unless `token` says otherwise) and reads
    /// the answer until the server closes the connection.
    func request(_ method: String, _ target: String, body: String? = nil, token: String? = nil) -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return Answer(status: 0, headers: [:], body: "connect failed") }
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        let bearer = token ?? self.token
        if !bearer.isEmpty { text += "Authorization: Bearer \(bearer)\r\n" }
        let payload = Array((body ?? "").utf8)
        if body != nil { text += "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n" }
        let bytes = Array((text + "\r\n").utf8) + payload
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        guard let end = reply.firstRange(of: Array("\r\n\r\n".utf8)) else { return Answer(status: 0, headers: [:], body: "no answer") }
        let head = String(decoding: reply[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let status = head.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) } ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: status, headers: headers, body: String(decoding: reply[end.upperBound...], as: UTF8.self))
    }

    /// Runs a command as the CLI's control socket does (`Hosting.run`, on the node's loop).
    func command(_ argv: [String]) -> (code: Int32, stdout: String, stderr: String) {
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        node.loop.post {
            box.value = Hosting.run(argv)
            done.signal()
        }
        done.wait()
        return box.value ?? (-1, "", "")
    }

    /// A result handed from the node's loop thread to the test thread (after a semaphore).
    private final class Box: @unchecked Sendable {
        var value: (code: Int32, stdout: String, stderr: String)?
    }
}
