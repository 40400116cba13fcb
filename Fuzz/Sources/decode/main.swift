import LatticeCRDT

/// libFuzzer entry: decode → encode → decode must round-trip to equal bytes, for every kind.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = InvariantChecks.codecRoundTrip(bytes) { fatalError("decode invariant: \(violation)") }
    return 0
}
