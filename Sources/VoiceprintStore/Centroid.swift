import Foundation

/// A speaker's voiceprint for one model: the re-normalised sum of their
/// unit-length utterance embeddings, kept as the unit vector and the sum's length
/// (their product is the sum, so one more utterance can be folded in).
///
/// The store derives it from a speaker's utterances when it is scored, and
/// stores its int8 form (`CentroidCodes`) for the daemon's in-memory scan.
public struct Centroid: Sendable, Equatable {
    /// Unit length (all zeros before the first utterance, or if the embeddings cancel out).
    public private(set) var unit: [Float]
    /// ‖Σ embeddings‖.
    public private(set) var sumNorm: Float

    /// No utterances yet.
    public init(dimension: Int) {
        unit = [Float](repeating: 0, count: dimension)
        sumNorm = 0
    }

    public init(unit: [Float], sumNorm: Float) {
        self.unit = unit
        self.sumNorm = sumNorm
    }

    public var dimension: Int { unit.count }

    /// The centroid with one more utterance embedding folded in.
    ///
    /// This is, operation for operation, the arithmetic of the daemon's
    /// in-memory float index of store v1, so a centroid replayed from the same
    /// utterances in the same order, and every score computed from it, is bit
    /// for bit what that daemon computed. Keep it that way: reordering the sums
    /// changes scores in the last place.
    public func adding(_ embedding: [Float]) -> Centroid {
        precondition(embedding.count == unit.count, "Centroid: \(embedding.count)-d embedding for a \(unit.count)-d centroid")
        var sum = [Float](repeating: 0, count: unit.count)
        var norm: Float = 0
        for i in 0..<unit.count {
            sum[i] = unit[i] * sumNorm + embedding[i]
            norm += sum[i] * sum[i]
        }
        norm = max(norm.squareRoot(), 1e-12)
        for i in 0..<unit.count { sum[i] /= norm }
        return Centroid(unit: sum, sumNorm: norm)
    }
}
