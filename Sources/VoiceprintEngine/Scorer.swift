import Synchronization
import VoiceprintScoring

/// How two embeddings compare: cosine, or AS-norm of it against the model's
/// cohort. One scorer per engine, so the daemon, `evaluate` and the bench give
/// the same number for the same pair.
///
/// AS-norm needs each side's top-N cohort statistics (a product with every
/// cohort row and a partial sort): a `Query` computes the request's side once,
/// however many speakers it is then scored against, and a centroid's side is
/// cached per speaker until that centroid changes.
public final class Scorer: Sendable {
    public enum Method: Sendable {
        case cosine
        case asNorm(ScoreNormalization)
    }

    public typealias Statistics = (mean: Float, deviation: Float)

    /// An embedding ready to be scored, with its normalisation statistics.
    public struct Query: Sendable {
        public let embedding: [Float]
        let statistics: Statistics?
    }

    public let method: Method
    private let centroidStatistics = Mutex<[String: (centroid: [Float], statistics: Statistics)]>([:])

    public init(method: Method) { self.method = method }

    /// Describes the method for reports: "cosine", "AS-norm (top 200 of 1000)".
    public var label: String {
        switch method {
        case .cosine: return "cosine"
        case .asNorm(let n): return "AS-norm (top \(n.topN) of \(n.cohortSize))"
        }
    }

    public func query(_ embedding: [Float]) -> Query {
        switch method {
        case .cosine: return Query(embedding: embedding, statistics: nil)
        case .asNorm(let n): return Query(embedding: embedding, statistics: n.statistics(of: embedding))
        }
    }

    /// The score of a request against an enrolled speaker's centroid.
    public func score(_ query: Query, speaker: String, centroid: [Float]) -> Float {
        let cosine = Self.cosine(query.embedding, centroid)
        guard case .asNorm(let n) = method, let mine = query.statistics else { return cosine }
        return n.normalize(cosine, first: statistics(speaker: speaker, centroid: centroid, n), second: mine)
    }

    /// The score between two queries (trial lists: both sides computed once per file).
    public func score(_ a: Query, _ b: Query) -> Float {
        let cosine = Self.cosine(a.embedding, b.embedding)
        guard case .asNorm(let n) = method, let first = a.statistics, let second = b.statistics else { return cosine }
        return n.normalize(cosine, first: first, second: second)
    }

    /// The work `score` does for a known speaker whose statistics are cached, for a
    /// name that has no voiceprint (verify must not be faster for unknown names);
    /// the result means nothing.
    public func decoyScore(_ query: Query) -> Float {
        Self.cosine(query.embedding, query.embedding) + (query.statistics?.mean ?? 0)
    }

    /// Forgets a speaker's cached statistics (deleted, or re-enrolled).
    public func forget(speaker: String) {
        _ = centroidStatistics.withLock { $0.removeValue(forKey: speaker) }
    }

    private func statistics(speaker: String, centroid: [Float], _ n: ScoreNormalization) -> Statistics {
        if let entry = centroidStatistics.withLock({ $0[speaker] }), entry.centroid == centroid { return entry.statistics }
        let computed = n.statistics(of: centroid)
        centroidStatistics.withLock { $0[speaker] = (centroid, computed) }
        return computed
    }

    /// Dot product of two unit vectors.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "cosine of \(a.count)- and \(b.count)-dimensional vectors")
        var sum: Float = 0
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in for i in 0..<a.count { sum += a[i] * b[i] } } }
        return sum
    }
}
