/// Unsupervised domain adaptation of cosine scoring: subtract the mean of a
/// set of embeddings (no labels needed: the enrolled population, or every
/// file of a trial list) and renormalise. It removes the direction that all
/// speakers of a domain share, which otherwise inflates every cosine; the
/// issue 9 prototypes saw it cut a real-speech model's errors by a fifth.
public struct MeanSubtraction: Sendable {
    public let mean: [Float]

    /// The mean of `embeddings`, which must be non-empty and of one dimension.
    public init(embeddings: [[Float]]) {
        precondition(!embeddings.isEmpty, "MeanSubtraction needs at least one embedding")
        let d = embeddings[0].count
        var sum = [Double](repeating: 0, count: d)
        for e in embeddings {
            precondition(e.count == d, "MeanSubtraction: embedding of \(e.count) values among \(d)-d ones")
            for i in 0..<d { sum[i] += Double(e[i]) }
        }
        mean = sum.map { Float($0 / Double(embeddings.count)) }
    }

    /// `embedding` − mean, scaled to unit length (left centred if it was the mean itself).
    public func apply(_ embedding: [Float]) -> [Float] {
        let centred = zip(embedding, mean).map { $0 - $1 }
        let norm = centred.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? centred.map { $0 / norm } : centred
    }
}
