import LatticeNode

/// libFuzzer entry for the local API's HTTP/1.x request parser: any bytes, fed at once and fed in
/// two pieces (split where the first byte says), must give the same requests or the same
/// refusal, the refusal must be a status the server sends, and nothing may trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var limits = HTTPLimits()
    limits.requestLine = 256
    limits.headerBytes = 512
    limits.headerCount = 8
    limits.body = 1_024
    func run(_ pieces: [ArraySlice<UInt8>]) -> (requests: [HTTPRequest], status: Int?) {
        var parser = HTTPRequestParser(limits: limits)
        var requests: [HTTPRequest] = []
        for piece in pieces {
            parser.feed(piece)
            do {
                while let r = try parser.next() { requests.append(r) }
            } catch {
                return (requests, error.status)
            }
        }
        return (requests, nil)
    }
    let whole = run([bytes[...]])
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let pieces = run([bytes[..<cut], bytes[cut...]])
    if let status = whole.status, ![400, 413, 414, 431, 501, 505].contains(status) {
        fatalError("http: unexpected status \(status)")
    }
    if whole.requests != pieces.requests || whole.status != pieces.status {
        fatalError("http: split at \(cut) changed the outcome: \(whole.requests.count)/\(String(describing: whole.status)) vs \(pieces.requests.count)/\(String(describing: pieces.status))")
    }
    return 0
}
