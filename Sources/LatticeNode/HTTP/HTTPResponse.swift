/// An HTTP/1.1 response, serialised with `Content-Length` (or as a stream head for server-sent
/// events).
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// A streamed response (server-sent events): the head and `body` go out without a
    /// `Content-Length`, the connection stays open and serves no further request, and `stream`
    /// is called (on the loop) with the ``HTTPStream`` that writes the rest. The body ends when
    /// either side closes.
    public var stream: (@Sendable (HTTPStream) -> Void)?
    /// An answer that is not ready yet (a write answered once it is durable): the server sends
    /// nothing for this request until ``HTTPDeferredResponse/resolve(_:)``, and answers the
    /// connection's later (pipelined) requests after it, in order. Status, headers and body of
    /// this response are not used.
    public var deferred: HTTPDeferredResponse?

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON error body `{"error": CODE, "message": TEXT}` (the API's error shape).
    public static func error(_ status: Int, code: String, message: String) -> HTTPResponse {
        let body = "{\"error\": \(NodeLog.quote(code)), \"message\": \(NodeLog.quote(message))}\n"
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    /// The bytes to send; `keepAlive` false adds `Connection: close`.
    public func serialized(keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for (name, value) in headers {
            // Header values are ours, but never let one split the head.
            // (scalars, not Characters: "\r\n" is one Character.)
            var clean = String.UnicodeScalarView()
            clean.append(contentsOf: value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })
            head += "\(name): \(String(clean))\r\n"
        }
        if stream == nil { head += "Content-Length: \(body.count)\r\n" }
        if !keepAlive || stream != nil { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body && (a.stream == nil) == (b.stream == nil) && a.deferred === b.deferred
            && a.headers.map(\.name) == b.headers.map(\.name)
            && a.headers.map(\.value) == b.headers.map(\.value)
    }

    /// The reason phrase of a status code.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}

/// The answer to a request, given later (on the server's loop thread): see
/// ``HTTPResponse/deferred``.
public final class HTTPDeferredResponse: @unchecked Sendable {  // confined to the server's loop thread
    /// The answer, once given.
    public private(set) var response: HTTPResponse?
    var onResolve: (() -> Void)?

    public init() {}

    /// Gives the answer (the first call counts; a streamed or deferred answer is not allowed
    /// here and is sent as a 500).
    public func resolve(_ response: HTTPResponse) {
        guard self.response == nil else { return }
        self.response =
            response.stream == nil && response.deferred == nil
            ? response : .error(500, code: "internal", message: "a deferred answer cannot be streamed or deferred again")
        let body = onResolve
        onResolve = nil
        body?()
    }
}
