/// One parsed HTTP/1.x request.
public struct HTTPRequest: Equatable, Sendable {
    /// The method token, as sent (`GET`, `POST`, …; methods are case-sensitive).
    public var method: String
    /// The request target (origin form: path and query), as sent.
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in order; names as sent (compare case-insensitively, see ``header(_:)``).
    public var headers: [(name: String, value: String)]
    /// The body (after de-chunking).
    public var body: [UInt8]

    /// Whether the connection stays open after the response (HTTP/1.1 unless `Connection:
    /// close`; HTTP/1.0 only with `Connection: keep-alive`).
    public var keepAlive: Bool {
        let tokens = (header("connection") ?? "").lowercased().split(separator: ",").map { $0.trimmingSpaces() }
        if minorVersion >= 1 { return !tokens.contains("close") }
        return tokens.contains("keep-alive")
    }

    /// The path part of the target (before `?`).
    public var path: Substring { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion && a.body == b.body
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }
}

/// Why a request was refused: the status to answer with, and a message for the error body.
/// After any of these the connection must be closed (the stream position is lost).
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The response status (400, 413, 414, 431, 501 or 505).
    public var status: Int
    /// What was wrong.
    public var message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }
}

/// Limits on what one request may hold.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (method, target, version), bytes.
    public var requestLine = 8 << 10
    /// Most bytes of all header lines together.
    public var headerBytes = 16 << 10
    /// Most header fields.
    public var headerCount = 100
    /// Largest body, bytes (after de-chunking).
    public var body = 8 << 20

    public init() {}
}

/// An incremental, sans-I/O HTTP/1.x request parser (RFC 9112): feed it whatever bytes arrived,
/// take complete requests out; several pipelined requests may sit in the buffer. Every limit is
/// checked before the bytes are kept, so a hostile client cannot make it buffer more than the
/// limits allow. It never traps on input.
///
/// Accepted: `METHOD SP target SP HTTP/1.x CRLF`, header fields `name: value CRLF` (bare LF line
/// ends are tolerated), an empty line, then a body of `Content-Length` bytes or a chunked body
/// (`Transfer-Encoding: chunked`; chunk extensions ignored, trailers read and dropped).
/// Refused: obsolete line folding, whitespace before a header's colon, invalid token characters,
/// conflicting `Content-Length`s, `Transfer-Encoding` other than `chunked` (501), both
/// `Transfer-Encoding` and `Content-Length`, and other versions than 1.0/1.1 (505).
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPLimits
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: HTTPParseError?
    /// Where the current request stands. The head (request line + fields, at most a few tens of
    /// KiB) is re-scanned as bytes arrive; a body is never re-scanned: a fixed-length body waits
    /// for its last byte, a chunked one is decoded chunk by chunk from where it stopped.
    private var stage = Stage.head

    private enum Stage: Sendable {
        case head
        case fixed(HTTPRequest, bodyStart: Int, length: Int)
        case chunked(HTTPRequest, position: Int, body: [UInt8])
    }

    /// Creates a parser.
    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Bytes received and not yet consumed by a complete request.
    public var buffered: Int { buffer.count - start }

    /// Appends received bytes.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request, nil if more bytes are needed.
    /// - Throws: ``HTTPParseError`` for a request that must be refused (then every later call
    ///   throws it again: answer it and close the connection).
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        if let failure { throw failure }
        do {
            guard let (request, end) = try advance() else { return nil }
            stage = .head
            start = end
            if start > 64 << 10 && start * 2 > buffer.count {
                buffer.removeFirst(start)
                start = 0
            }
            return request
        } catch {
            failure = error
            throw error
        }
    }

    /// Moves the current request on with the bytes buffered: the request and the index just past
    /// it when complete.
    private mutating func advance() throws(HTTPParseError) -> (HTTPRequest, Int)? {
        if case .head = stage {
            guard let next = try head(buffer[start...]) else { return nil }
            stage = next
        }
        switch stage {
        case .head:
            return nil
        case .fixed(var request, let bodyStart, let length):
            guard buffer.count - bodyStart >= length else { return nil }
            request.body = Array(buffer[bodyStart..<(bodyStart + length)])
            return (request, bodyStart + length)
        case .chunked(var request, let position, var body):
            stage = .head  // release the body's storage while decoding (no copy on append)
            let outcome = try chunks(buffer[...], from: position, into: &body)
            guard let end = outcome.end else {
                stage = .chunked(request, position: outcome.position, body: body)
                return nil
            }
            request.body = body
            return (request, end)
        }
    }

    // MARK: Parsing

    /// The request line and header fields, then how the body is framed; nil until the head is complete.
    private func head(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> Stage? {
        var i = bytes.startIndex
        // Robustness (RFC 9112 §2.2): empty lines before a request line are ignored.
        while i < bytes.endIndex, bytes[i] == 0x0D || bytes[i] == 0x0A {
            i += 1
            if i - bytes.startIndex > 8 { throw HTTPParseError(400, "empty lines before the request") }
        }
        guard let lineEnd = Self.lineEnd(bytes, from: i, limit: limits.requestLine) else {
            if bytes.endIndex - i >= limits.requestLine + 2 { throw HTTPParseError(414, "request line longer than \(limits.requestLine) bytes") }
            return nil
        }
        var request = try Self.requestLine(bytes[i..<lineEnd.content])
        i = lineEnd.next
        // Header fields.
        let headerStart = i
        while true {
            guard let end = Self.lineEnd(bytes, from: i, limit: limits.headerBytes - (i - headerStart)) else {
                if bytes.endIndex - headerStart >= limits.headerBytes + 2 { throw HTTPParseError(431, "header fields longer than \(limits.headerBytes) bytes") }
                return nil
            }
            let line = bytes[i..<end.content]
            i = end.next
            if line.isEmpty { break }
            guard request.headers.count < limits.headerCount else { throw HTTPParseError(431, "more than \(limits.headerCount) header fields") }
            request.headers.append(try Self.headerField(line))
        }
        // Body framing (RFC 9112 §6).
        let encodings = request.headers.filter { $0.name.lowercased() == "transfer-encoding" }.map { $0.value.lowercased() }
        let lengths = request.headers.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw HTTPParseError(400, "both Transfer-Encoding and Content-Length") }
            let codings = encodings.flatMap { $0.split(separator: ",").map { $0.trimmingSpaces() } }
            guard codings == ["chunked"] else { throw HTTPParseError(501, "unsupported transfer coding '\(encodings.joined(separator: ", "))'; send Content-Length or chunked") }
            return .chunked(request, position: i, body: [])
        }
        var length = 0
        if !lengths.isEmpty {
            let values = Set(lengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() } })
            guard values.count == 1, let text = values.first, !text.isEmpty, text.count <= 19, text.allSatisfy(\.isASCIIDigit),
                let n = Int(text)
            else { throw HTTPParseError(400, "invalid Content-Length '\(lengths.joined(separator: ", "))'") }
            guard n <= limits.body else { throw HTTPParseError(413, "body of \(n) bytes; the limit is \(limits.body)") }
            length = n
        }
        return .fixed(request, bodyStart: i, length: length)
    }

    /// The end of the line starting at `from`: where its content ends (before CR LF or LF) and
    /// where the next line starts; nil if no line end is within `limit` bytes of content yet.
    /// Callers refuse a line once `limit + 2` bytes are buffered without one (so that a line of
    /// exactly `limit` bytes whose LF has not arrived yet is not refused: the outcome never
    /// depends on how the bytes were split).
    private static func lineEnd(_ bytes: ArraySlice<UInt8>, from: Int, limit: Int) -> (content: Int, next: Int)? {
        let stop = min(bytes.endIndex, from + max(limit, 0) + 2)
        var j = from
        while j < stop {
            if bytes[j] == 0x0A {
                let content = j > from && bytes[j - 1] == 0x0D ? j - 1 : j
                return content - from > limit ? nil : (content, j + 1)
            }
            j += 1
        }
        return nil
    }

    private static func requestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequest {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw HTTPParseError(400, "malformed request line (expected 'METHOD TARGET HTTP/1.1')")
        }
        guard parts[0].allSatisfy(isTokenByte) else { throw HTTPParseError(400, "invalid method") }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw HTTPParseError(400, "invalid characters in the request target") }
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            if version.hasPrefix("HTTP/") { throw HTTPParseError(505, "HTTP version '\(version)' not supported; use HTTP/1.1") }
            throw HTTPParseError(400, "malformed request line (no HTTP version)")
        }
        return HTTPRequest(
            method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self),
            minorVersion: minor, headers: [], body: [])
    }

    private static func headerField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (name: String, value: String) {
        guard let first = line.first, first != 0x20, first != 0x09 else {
            throw HTTPParseError(400, "obsolete line folding in header fields")
        }
        guard let colon = line.firstIndex(of: 0x3A) else { throw HTTPParseError(400, "header field without ':'") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw HTTPParseError(400, "invalid header field name") }
        var value = line[(colon + 1)...]
        while let b = value.first, b == 0x20 || b == 0x09 { value = value.dropFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(400, "control characters in a header field value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Decodes whole chunks from `from` into `body`: where decoding stopped (the start of the
    /// first incomplete chunk), and the index just past the request once the last chunk and the
    /// trailer section are in.
    private func chunks(_ bytes: ArraySlice<UInt8>, from: Int, into body: inout [UInt8]) throws(HTTPParseError) -> (position: Int, end: Int?) {
        var i = from
        while true {
            let chunkStart = i
            guard let end = Self.lineEnd(bytes, from: i, limit: 1024) else {
                if bytes.endIndex - i >= 1024 + 2 { throw HTTPParseError(400, "chunk size line too long") }
                return (chunkStart, nil)
            }
            let sizeText = bytes[i..<end.content].prefix { $0 != 0x3B }  // ';' starts extensions
            var size = 0
            var digits = 0
            for b in sizeText where b != 0x20 && b != 0x09 {
                guard let d = Self.hexValue(b) else { throw HTTPParseError(400, "invalid chunk size") }
                digits += 1
                // Checked per digit: the size can never overflow (16 hex digits would wrap an Int
                // negative and a later slice would trap).
                let (scaled, overflow) = size.multipliedReportingOverflow(by: 16)
                guard !overflow, scaled <= limits.body - body.count - d else {
                    throw HTTPParseError(413, "body larger than \(limits.body) bytes")
                }
                size = scaled + d
            }
            guard digits > 0 else { throw HTTPParseError(400, "invalid chunk size") }
            guard size <= limits.body - body.count else { throw HTTPParseError(413, "body larger than \(limits.body) bytes") }
            i = end.next
            if size == 0 {
                // Trailer fields, then an empty line.
                var trailers = 0
                while true {
                    guard let t = Self.lineEnd(bytes, from: i, limit: limits.headerBytes) else {
                        if bytes.endIndex - i >= limits.headerBytes + 2 { throw HTTPParseError(431, "trailer fields too long") }
                        return (chunkStart, nil)
                    }
                    let empty = t.content == i
                    i = t.next
                    if empty { return (i, i) }
                    trailers += 1
                    guard trailers <= limits.headerCount else { throw HTTPParseError(431, "too many trailer fields") }
                }
            }
            guard bytes.endIndex - i >= size + 1 else { return (chunkStart, nil) }
            if bytes[i + size] == 0x0D {
                guard bytes.endIndex - i >= size + 2 else { return (chunkStart, nil) }
            }
            body.append(contentsOf: bytes[i..<(i + size)])
            i += size
            if bytes[i] == 0x0D {
                guard bytes[i + 1] == 0x0A else { throw HTTPParseError(400, "chunk not followed by CRLF") }
                i += 2
            } else {
                guard bytes[i] == 0x0A else { throw HTTPParseError(400, "chunk not followed by CRLF") }
                i += 1
            }
        }
    }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}

extension Character {
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
}
