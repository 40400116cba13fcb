import LatticeNode
import LatticeSync
import Testing

/// The HTTP/1.x request parser of the local API: well-formed requests in every framing,
/// pipelining, byte-at-a-time delivery, and every kind of hostile input refused with the right
/// status, within the limits.
@Suite("HTTP request parser")
struct HTTPParserTests {
    static func parseAll(_ text: String, limits: HTTPLimits = HTTPLimits(), split: Int? = nil) throws(HTTPParseError) -> [HTTPRequest] {
        var p = HTTPRequestParser(limits: limits)
        let bytes = Array(text.utf8)
        var out: [HTTPRequest] = []
        var i = 0
        let step = split ?? bytes.count
        while i < bytes.count {
            p.feed(bytes[i..<min(bytes.count, i + max(step, 1))])
            i += max(step, 1)
            while let r = try p.next() { out.append(r) }
        }
        return out
    }

    static func refusal(_ text: String, limits: HTTPLimits = HTTPLimits()) -> Int? {
        do {
            _ = try parseAll(text, limits: limits)
            return nil
        } catch {
            return error.status
        }
    }

    @Test func aSimpleGet() throws {
        let r = try Self.parseAll("GET /v1/status?x=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\r\n\r\n")
        #expect(r.count == 1)
        #expect(r[0].method == "GET" && r[0].target == "/v1/status?x=1" && r[0].path == "/v1/status")
        #expect(r[0].header("authorization") == "Bearer abc" && r[0].header("HOST") == "localhost")
        #expect(r[0].keepAlive && r[0].body.isEmpty && r[0].minorVersion == 1)
    }

    @Test func bodiesByLengthAndChunked() throws {
        let fixed = try Self.parseAll("POST /v1/docs HTTP/1.1\r\nContent-Length: 11\r\n\r\n{\"a\": true}")
        #expect(fixed.first.map { String(decoding: $0.body, as: UTF8.self) } == "{\"a\": true}")
        let chunked = try Self.parseAll(
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
        #expect(chunked.count == 2)
        #expect(chunked.first.map { String(decoding: $0.body, as: UTF8.self) } == "hello world")
        #expect(chunked.last?.target == "/next")
    }

    /// The same bytes give the same requests whether they arrive at once, byte by byte, or in
    /// odd pieces (pipelined requests included).
    @Test func deliveryInPiecesChangesNothing() throws {
        let text = "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzPOST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        let whole = try Self.parseAll(text)
        #expect(whole.map(\.target) == ["/a", "/b", "/c", "/d"])
        for split in [1, 2, 3, 7, 13] { #expect(try Self.parseAll(text, split: split) == whole, "split \(split)") }
        #expect(whole[3].keepAlive && whole[3].minorVersion == 0)
    }

    @Test func keepAliveRules() throws {
        #expect(try Self.parseAll("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")[0].keepAlive == false)
        #expect(try Self.parseAll("GET / HTTP/1.0\r\n\r\n")[0].keepAlive == false)
        #expect(try Self.parseAll("GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n")[0].keepAlive)
    }

    @Test func hostileRequestsAreRefusedWithTheRightStatus() {
        var small = HTTPLimits()
        small.requestLine = 64
        small.headerBytes = 128
        small.headerCount = 3
        small.body = 16
        let cases: [(String, Int, HTTPLimits)] = [
            ("GARBAGE\r\n\r\n", 400, HTTPLimits()),
            ("GET /\r\n\r\n", 400, HTTPLimits()),
            ("GET / HTTP/2.0\r\n\r\n", 505, HTTPLimits()),
            ("GET /a b HTTP/1.1\r\n\r\n", 400, HTTPLimits()),
            ("G(T / HTTP/1.1\r\n\r\n", 400, HTTPLimits()),
            ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, HTTPLimits()),
            ("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n", 400, HTTPLimits()),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, HTTPLimits()),
            ("GET / HTTP/1.1\r\nX: a\u{01}b\r\n\r\n", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, HTTPLimits()),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400, HTTPLimits()),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n", 413, HTTPLimits()),
            // 16 hex digits: would wrap an Int negative (a trap before the per-digit check).
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nab\r\n", 413, HTTPLimits()),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\nab\r\n", 413, HTTPLimits()),
            ("GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n\r\n", 414, small),
            ("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 200) + "\r\n\r\n", 431, small),
            ("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431, small),
            ("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413, small),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nx\r\n", 413, small),
        ]
        for (text, status, limits) in cases {
            #expect(Self.refusal(text, limits: limits) == status, "\(text.prefix(60).debugDescription)")
        }
    }

    /// Without a line end the parser buffers no more than its limits before refusing: a client
    /// that never ends its request line or headers is cut off, not buffered without bound.
    @Test func unendedInputIsRefusedAtTheLimit() {
        var p = HTTPRequestParser()
        p.feed(Array("GET /".utf8))
        var status: Int?
        for _ in 0..<100 {
            p.feed([UInt8](repeating: 0x61, count: 1_024))
            do { _ = try p.next() } catch {
                status = error.status
                break
            }
        }
        #expect(status == 414)
        #expect(p.buffered <= HTTPLimits().requestLine + 2_048)
        // Every later call gives the same answer (the connection must close).
        #expect(throws: HTTPParseError.self) { _ = try p.next() }
    }

    /// Seeded random bytes and random mutations of valid requests never trap, and a refusal is
    /// always one of the statuses the server knows how to send.
    @Test func randomInputNeverTraps() {
        let seeds: [UInt64] = (1...300).map { $0 }
        let valid = Array("POST /v1/x HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n".utf8)
        for seed in seeds {
            var g = SyncRandom(seed: seed)
            var bytes = valid
            for _ in 0..<Int(g.next() % 8) {
                let at = Int(g.next() % UInt64(bytes.count))
                switch g.next() % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: g.next())
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8(truncatingIfNeeded: g.next()), at: at)
                }
            }
            var p = HTTPRequestParser()
            p.feed(bytes)
            do { while try p.next() != nil {} } catch {
                #expect([400, 413, 414, 431, 501, 505].contains(error.status), "LATTICE_SEED=\(seed): \(error)")
            }
        }
    }

    @Test func responsesSerialise() {
        let r = HTTPResponse.error(404, code: "not_found", message: "no document \"x\"\n")
        let text = String(decoding: r.serialized(keepAlive: false), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(text.contains("Content-Type: application/json\r\n") && text.contains("Connection: close\r\n"))
        #expect(text.hasSuffix("\r\n\r\n{\"error\": \"not_found\", \"message\": \"no document \\\"x\\\"\\n\"}\n"))
        let bad = HTTPResponse(status: 200, headers: [("X", "a\r\nInjected: 1")])
        #expect(!String(decoding: bad.serialized(keepAlive: true), as: UTF8.self).contains("\r\nInjected"))
    }
}
