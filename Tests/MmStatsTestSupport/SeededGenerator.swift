/// A seeded generator (SplitMix64): small, fast, and the same sequence everywhere for a seed,
/// so randomized tests record the same values on every run.
///
/// ```swift
/// var random = SeededGenerator(seed: 42)
/// let value = UInt64.random(in: 1...1_000, using: &random)
/// ```
public struct SeededGenerator: RandomNumberGenerator {
    /// The generator's state.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0 ..< bound.
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
