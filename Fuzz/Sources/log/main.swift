import LatticeStore

/// libFuzzer entry: arbitrary and structure-aware log segments (see `LogFuzzTarget`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let violation = LogFuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError("log invariant: \(violation)")
    }
    return 0
}
