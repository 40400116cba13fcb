import LatticeCRDT

/// libFuzzer entry: the bytes drive an op schedule over 3 replicas; after delivering everything
/// all replicas are equal and the join laws hold.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = InvariantChecks.mergeConvergence(bytes) { fatalError("merge invariant: \(violation)") }
    return 0
}
