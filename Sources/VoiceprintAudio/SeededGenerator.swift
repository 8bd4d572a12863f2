import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast, seedable generator.
///
/// Voiceprint passes randomness in explicitly (DESIGN.md §9 rule 10): the same
/// seed must make the same noise, crops and model. It lives in the lowest
/// module because audio synthesis and augmentation need it as much as training.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal deviate (Box–Muller).
    public mutating func gaussian() -> Double {
        let u1 = max(unit(), 1e-300), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// An independent generator for a sub-task (a worker, a file), so results do
    /// not depend on the order in which sub-tasks draw numbers.
    public mutating func split() -> SeededGenerator { SeededGenerator(seed: next()) }
}

