/// Adaptive symmetric score normalisation (AS-norm) against a cohort of
/// impostor embeddings.
///
/// ref: Matějka et al., "Analysis of score normalization in multilingual
/// speaker recognition", Interspeech 2017: each side's score is standardised
/// by the mean and deviation of its top-N cohort scores, and the two are averaged:
///   s' = ½ · ((s − μ_e) / σ_e + (s − μ_t) / σ_t).
/// Only the N closest cohort members count, so the statistics describe the
/// impostors that actually resemble this speaker.
public struct ScoreNormalization: Sendable {
    /// Unit-length cohort embeddings [N, D], row-major.
    public let cohort: [Float]
    public let dimension: Int
    /// Cohort members used per side. Default 200 (or the whole cohort if smaller).
    public let topN: Int

    public init(cohort: [Float], dimension: Int, topN: Int = 200) {
        precondition(dimension > 0 && cohort.count % dimension == 0 && !cohort.isEmpty,
                     "AS-norm cohort of \(cohort.count) values is not a non-empty [N, \(dimension)] matrix")
        self.cohort = cohort
        self.dimension = dimension
        self.topN = max(2, min(topN, cohort.count / dimension))
    }

    public var cohortSize: Int { cohort.count / dimension }

    /// Mean and standard deviation of the top-N cosine scores of `embedding` against the cohort.
    public func statistics(of embedding: [Float]) -> (mean: Float, deviation: Float) {
        precondition(embedding.count == dimension, "embedding has \(embedding.count) values, cohort rows \(dimension)")
        var scores = [Float](repeating: 0, count: cohortSize)
        cohort.withUnsafeBufferPointer { c in
            embedding.withUnsafeBufferPointer { e in
                for row in 0..<cohortSize {
                    var dot: Float = 0
                    let base = row * dimension
                    for i in 0..<dimension { dot += c[base + i] * e[i] }
                    scores[row] = dot
                }
            }
        }
        return Self.topStatistics(scores, topN: topN)
    }

    /// The normalised score of a raw cosine `score` between two embeddings
    /// whose cohort statistics are given (computed once per file).
    public func normalize(_ score: Float, first: (mean: Float, deviation: Float),
                          second: (mean: Float, deviation: Float)) -> Float {
        Self.normalize(score, first: first, second: second)
    }

    /// AS-norm's arithmetic, for any cohort (the model's synthetic one here, the
    /// daemon's enrolled speakers in `score_normalization = as-norm-enrolled`):
    /// the mean of the two sides' z-scores.
    public static func normalize(_ score: Float, first: (mean: Float, deviation: Float),
                                 second: (mean: Float, deviation: Float)) -> Float {
        0.5 * ((score - first.mean) / first.deviation + (score - second.mean) / second.deviation)
    }

    /// Mean and standard deviation of the `topN` highest of `scores` (at least 2,
    /// or all when fewer), the deviation floored at 1e-6 so that identical cohort
    /// scores cannot divide by zero. Only the top N matter, so a caller that
    /// already has just the N best (the daemon's index) gets the same answer as
    /// one that passes every cohort score.
    public static func topStatistics(_ scores: [Float], topN: Int) -> (mean: Float, deviation: Float) {
        precondition(!scores.isEmpty, "AS-norm statistics of an empty cohort")
        let top = scores.sorted(by: >).prefix(max(2, topN))
        let mean = top.reduce(0, +) / Float(top.count)
        let variance = top.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(top.count)
        return (mean, max(variance.squareRoot(), 1e-6))
    }
}
