import Foundation
import Glibc
import LatticeAPI
import Synchronization
import LatticeCRDT
import LatticeNode
import LatticeStore
import Testing

/// Writes through the HTTP API are group-committed: the loop never waits for an fsync, many
/// pipelined writes share one, and each is answered only once it is durable (in the
/// serialized API suite).
extension APIRouteTests {
    @Test func pipelinedWritesShareFsyncsAndAreAnsweredOnceDurable() throws {
        let api = try APITestNode("groupcommit")
        defer { api.stop() }
        let syncsBefore = onLoopValue(api) { api.node.syncs }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = api.port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(connected == 0)
        // 300 writes in one go, then a read of the last one, pipelined on one connection.
        let writes = 300
        var text = ""
        for i in 0..<writes {
            let body = "{\"n\": \(i)}"
            text += "PUT /v1/docs/notes/d\(i) HTTP/1.1\r\nAuthorization: Bearer \(api.token)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        text += "GET /v1/docs/notes/d\(writes - 1) HTTP/1.1\r\nAuthorization: Bearer \(api.token)\r\nConnection: close\r\n\r\n"
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            try #require(n > 0)
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        let answers = String(decoding: received, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(answers.count == writes + 1)
        #expect(answers.dropLast().allSatisfy { $0.hasPrefix("200 ") }, "\(answers.first { !$0.hasPrefix("200 ") } ?? "")")
        // In request order: each write's answer names its own sequence, ascending.
        let sequences = answers.dropLast().compactMap { a -> Int? in
            guard let r = a.range(of: "\"sequence\": ") else { return nil }
            return Int(a[r.upperBound...].prefix { $0.isNumber })
        }
        #expect(sequences.count == writes && sequences == sequences.sorted())
        #expect(answers.last?.contains("\"n\"") == true)
        // Every answered write is durable, and they took far fewer fsyncs than writes.
        let (durable, syncs) = onLoopValue(api) { (api.node.store.durableSequence, api.node.syncs) }
        #expect(UInt64(sequences.last ?? 0) <= durable)
        #expect(syncs - syncsBefore < writes / 3, "\(syncs - syncsBefore) fsyncs for \(writes) pipelined writes")
        #expect(ids(api.request("GET", "/v1/docs/notes").body).count == writes)
    }

    @Test func aWriteThatCannotBeMadeDurableIsAnsweredWithItsErrorNeverOK() throws {
        // fdatasync fails with EIO once `failing` is set: the group commit reports it.
        let failing = Mutex(false)
        var sys = Syscalls.system
        let real = Syscalls.system
        sys.fdatasync = { fd in failing.withLock { $0 } ? -EIO : real.fdatasync(fd) }
        let api = try APITestNode("durablefail", syscalls: sys)
        defer { api.stop() }
        #expect(api.request("PUT", "/v1/docs/notes/kept", body: #"{"v": 1}"#).status == 200)
        failing.withLock { $0 = true }
        let lost = api.request("PUT", "/v1/docs/notes/lost", body: #"{"v": 2}"#)
        #expect(lost.status >= 500, "\(lost.status) \(lost.body)")
        #expect((lost.object["message"] as? String)?.contains("not durable") == true, "\(lost.body)")
        #expect(!lost.body.contains("\"ok\": true"))
        // The node refuses writes from then on (an fsync failure is not retried), and says so.
        let after = api.request("PUT", "/v1/docs/notes/after", body: #"{"v": 3}"#)
        #expect(after.status >= 500, "\(after.body)")
    }

    /// `body`'s value, computed on the node's loop.
    func onLoopValue<T>(_ api: APITestNode, _ body: @escaping () -> T) -> T {
        let box = LoopBox<T>()
        nonisolated(unsafe) let run = body
        onLoop(api) { box.value = run() }
        return box.value!
    }
}

/// A value handed from the node's loop to the test thread (written on the loop, read after
/// `onLoop`'s semaphore).
final class LoopBox<T>: @unchecked Sendable {
    var value: T?
}
