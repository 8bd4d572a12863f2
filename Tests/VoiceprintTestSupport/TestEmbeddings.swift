import Foundation
import VoiceprintAudio

/// Seeded random embeddings for store and index tests: unit vectors, and
/// clusters of near-identical ones (the hard case for any approximate search).
public enum TestEmbeddings {
    /// A random unit vector (uniform on the sphere).
    public static func unit(dimension: Int, using rng: inout SeededGenerator) -> [Float] {
        normalized((0..<dimension).map { _ in Float(rng.gaussian()) })
    }

    /// `center` moved by Gaussian noise of standard deviation `spread` per component, re-normalised.
    public static func near(_ center: [Float], spread: Double, using rng: inout SeededGenerator) -> [Float] {
        normalized(center.map { $0 + Float(spread * rng.gaussian()) })
    }

    public static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }
}
