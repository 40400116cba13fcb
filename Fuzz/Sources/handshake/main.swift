// libFuzzer harness: Lattice's XXpsk0 handshake fed arbitrary bytes (see FuzzEntry.handshake).
import LatticeCrypto

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if !FuzzEntry.handshake(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError("handshake invariant violated: a session was established from fuzzer-chosen bytes")
    }
    return 0
}
