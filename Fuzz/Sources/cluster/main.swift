import LatticeSimulation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libFuzzer entry: the bytes schedule 3–5 sync engines (writes, deliveries, ticks, partitions,
/// crashes, compactions, connections; see `ClusterFuzz`); after healing, every replica must be
/// equal and hold every committed change, with causal delivery intact.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let violation = ClusterFuzz.run(bytes) {
        print("cluster invariant: \(violation)")
        fflush(nil)  // every stream: the trap does not flush stdout
        fatalError("cluster invariant: \(violation)")
    }
    return 0
}
