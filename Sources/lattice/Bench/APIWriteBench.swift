import Foundation
import LatticeAPI
import LatticeCRDT
import LatticeCrypto
import LatticeNode
import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes through the local HTTP API of a node hosted in this process, as an assistant makes
/// them: `PUT /v1/docs/memories/ID {"importance": …, "user": …}` on one keep-alive connection,
/// `window` requests pipelined, each answered once it is durable (group commit). Used by
/// `QueryBench` to measure what the query indexes add to a write as a client sees it.
struct APIWriteBench {
    let directory: String
    let documents: Int
    let users: Int

    /// One round: opens the store, hosts a node with its API, optionally builds the four query
    /// indexes (queries through the API, as the first `ls --where` does), writes `writes`
    /// updates of random documents, stops the node and closes the store.
    /// - Returns: seconds per write (wall clock), process CPU seconds per write (the node's
    ///   loop and log threads, the kernel's fsyncs and this client) and the node's loop thread's
    ///   CPU seconds per write (parsing, the command, the commit, index upkeep, the answer:
    ///   what bounds a node's write rate), or nil when the node could not start.
    func round(writes: Int, window: Int, indexed: Bool, seed: UInt64) -> (wall: Double, cpu: Double, loop: Double, upkeep: Double)? {
        guard let identity = try? NodeIdentity.generate(),
            let store = try? ReplicaStore.open(at: directory, replicaID: ReplicaID(0x0B_E4C4)),
            let key = try? NetworkKey.generate()
        else { return nil }
        var options = NodeOptions()
        options.listen = SocketAddress(host: "127.0.0.1", port: 0)
        options.discovery = false
        let token = String(repeating: "be", count: 32)
        guard
            let node = try? Node(
                identity: identity, keyRing: KeyRing(current: key), trust: TrustPolicy(), store: store, options: options,
                log: NodeLog(level: .error))
        else {
            try? store.close()
            return nil
        }
        defer {
            try? store.close()
            Hosting.node = nil
            Hosting.root = nil
            Hosting.config = nil
        }
        guard (try? Hosting.host(node, config: nil, root: directory)) != nil,
            let server = try? APIServer.start(
                node, options: APIServer.options(token: token, address: SocketAddress(host: "127.0.0.1", port: 0)),
                dataDirectory: directory),
            let port = server.address?.port
        else { return nil }
        node.onStop { server.close() }
        let thread = Thread { node.run() }
        thread.stackSize = 8 << 20
        thread.start()
        defer {
            node.stop()
            while !thread.isFinished { usleep(1_000) }
        }
        guard let client = HTTPBenchClient(port: port, token: token) else { return nil }
        defer { client.close() }
        if indexed {
            // The first query on each field builds its index; the first listing the ID list.
            for target in [
                "/v1/docs/memories?where=user%3Dnone", "/v1/docs/memories?where=importance%3C0",
                "/v1/docs/memories?where=topic%3Dnone", "/v1/docs/memories?where=tags~none", "/v1/docs/memories?limit=1",
            ] {
                guard client.exchange([("GET", target, "")]) == 1 else { return nil }
            }
        }
        var g = BenchRandom(seed: seed)
        let loop0 = Self.loopCPU(node)
        let upkeep0 = Self.upkeepSeconds(node)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu0 = Self.seconds(usage)
        let start = benchNow()
        var done = 0
        while done < writes {
            var batch: [(String, String, String)] = []
            for _ in 0..<min(window, writes - done) {
                let doc = Int(g.next() % UInt64(documents))
                let importance = Double(g.next() % 1_000_000) / 1_000_000
                let user = "u\(Int(g.next() % UInt64(users)))"
                batch.append(("PUT", "/v1/docs/memories/\(QueryBench.id(doc))", "{\"importance\": \(importance), \"user\": \"\(user)\"}"))
            }
            guard client.exchange(batch) == batch.count else { return nil }
            done += batch.count
        }
        // A query at the end: it merges what the indexes still hold pending, which counts.
        if indexed, client.exchange([("GET", "/v1/docs/memories?where=user%3Du1", "")]) != 1 { return nil }
        let wall = benchSeconds(since: start)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let loopSeconds = Self.loopCPU(node) - loop0
        let upkeep = Self.upkeepSeconds(node) - upkeep0
        return (wall / Double(writes), (Self.seconds(usage) - cpu0) / Double(writes), loopSeconds / Double(writes), upkeep / Double(writes))
    }

    /// The node's index upkeep time so far (`lattice_index_upkeep_seconds_total`, read on the loop).
    static func upkeepSeconds(_ node: Node) -> Double {
        let box = CPUBox()
        let done = DispatchSemaphore(value: 0)
        node.loop.post {
            box.seconds = node.store.indexes.upkeepSeconds
            done.signal()
        }
        done.wait()
        return box.seconds
    }

    /// The CPU time of `node`'s loop thread so far (read on the loop).
    static func loopCPU(_ node: Node) -> Double {
        let box = CPUBox()
        let done = DispatchSemaphore(value: 0)
        node.loop.post {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            box.seconds = Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
            done.signal()
        }
        done.wait()
        return box.seconds
    }

    /// A reading handed from the loop thread (written before the semaphore's signal).
    final class CPUBox: @unchecked Sendable { var seconds = 0.0 }

    static func seconds(_ u: rusage) -> Double {
        Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
}

/// A blocking HTTP/1.1 client on one keep-alive connection: sends a batch of requests at once
/// (pipelined) and reads as many answers.
final class HTTPBenchClient {
    private let fd: Int32
    private let token: String
    private var buffer: [UInt8] = []

    init?(port: UInt16, token: String) {
        self.token = token
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            Glibc.close(fd)
            return nil
        }
    }

    func close() { Glibc.close(fd) }

    /// Sends every request, then reads one answer per request.
    /// - Returns: how many answers had a 2xx status (fewer on any error).
    func exchange(_ requests: [(method: String, target: String, body: String)]) -> Int {
        var out: [UInt8] = []
        for r in requests {
            out += Array(
                "\(r.method) \(r.target) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: \(r.body.utf8.count)\r\n\r\n\(r.body)"
                    .utf8)
        }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return 0 }
            sent += n
        }
        var ok = 0
        for _ in requests {
            guard let status = readAnswer() else { return ok }
            if (200..<300).contains(status) { ok += 1 }
        }
        return ok
    }

    /// Reads one answer (status line, headers with Content-Length, body); nil on a closed or
    /// malformed connection.
    private func readAnswer() -> Int? {
        while true {
            if let end = headerEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                var length = 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                let total = end + 4 + length
                if buffer.count >= total {
                    let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                    buffer.removeFirst(total)
                    return status
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            buffer += chunk[..<n]
        }
    }

    private func headerEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}
