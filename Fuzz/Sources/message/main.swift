import LatticeSync

/// libFuzzer entry: a sync message that decodes is canonical (re-encodes to the same bytes) and
/// decodes back to itself; anything else must be refused, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = Message.canonicalRoundTrip(bytes) { fatalError("message invariant: \(violation)") }
    return 0
}
