// libFuzzer harness: the datagram opener and replay window fed arbitrary bytes (see FuzzEntry.datagram).
import LatticeCrypto

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if !FuzzEntry.datagram(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError("datagram invariant violated: forged, replayed or corrupted datagram accepted")
    }
    return 0
}
