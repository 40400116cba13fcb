/// SplitMix64: the engine's only source of randomness (jitter, anti-entropy peer choice), seeded
/// by its owner so a simulation replays exactly.
public struct SyncRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator.
    /// - Parameter seed: any value.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `value` scaled by a random factor in [1 - fraction, 1 + fraction].
    public mutating func jitter(_ value: UInt64, fraction: Double) -> UInt64 {
        let f = 1 - fraction + 2 * fraction * Double(next() >> 11) / Double(1 << 53)
        return UInt64(Double(value) * f)
    }
}
