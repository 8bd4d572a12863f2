import Testing
import VoiceprintScoring
import VoiceprintTestSupport
import VoiceprintAudio
@testable import VoiceprintEngine

@Suite struct ScorerTests {
    static func cohort(_ rng: inout SeededGenerator) -> ScoreNormalization {
        ScoreNormalization(cohort: (0..<30).flatMap { _ in TestEmbeddings.unit(dimension: 8, using: &rng) }, dimension: 8, topN: 10)
    }

    @Test func cosineIsTheDotProductOfUnitVectors() {
        let scorer = Scorer(method: .cosine)
        let a: [Float] = [0.6, 0.8, 0], b: [Float] = [0, 0.6, 0.8]
        #expect(abs(scorer.score(scorer.query(a), speaker: "x", centroid: b) - 0.48) < 1e-6)
        #expect(scorer.score(scorer.query(a), scorer.query(b)) == scorer.score(scorer.query(a), speaker: "x", centroid: b))
        #expect(scorer.label == "cosine")
    }

    /// AS-norm: ½((s − μ_e)/σ_e + (s − μ_t)/σ_t) with each side's top-N cohort statistics.
    @Test func asNormMatchesTheFormulaWithEachSidesStatistics() {
        var rng = SeededGenerator(seed: 5)
        let norm = Self.cohort(&rng)
        let scorer = Scorer(method: .asNorm(norm))
        let e = TestEmbeddings.unit(dimension: 8, using: &rng), c = TestEmbeddings.unit(dimension: 8, using: &rng)
        let s = Scorer.cosine(e, c)
        let expected = norm.normalize(s, first: norm.statistics(of: c), second: norm.statistics(of: e))
        let query = scorer.query(e)
        #expect(abs(scorer.score(query, speaker: "alice", centroid: c) - expected) < 1e-6)
        #expect(abs(scorer.score(scorer.query(c), query) - expected) < 1e-6)
        #expect(scorer.label == "AS-norm (top 10 of 30)")
    }

    /// A speaker's cached statistics follow their centroid: a re-enrollment is scored against the new one.
    @Test func aChangedCentroidIsNotScoredWithStaleStatistics() {
        var rng = SeededGenerator(seed: 6)
        let norm = Self.cohort(&rng)
        let scorer = Scorer(method: .asNorm(norm))
        let query = scorer.query(TestEmbeddings.unit(dimension: 8, using: &rng))
        let first = TestEmbeddings.unit(dimension: 8, using: &rng), second = TestEmbeddings.unit(dimension: 8, using: &rng)
        _ = scorer.score(query, speaker: "bob", centroid: first)
        let fresh = Scorer(method: .asNorm(norm)).score(query, speaker: "bob", centroid: second)
        #expect(scorer.score(query, speaker: "bob", centroid: second) == fresh)
        scorer.forget(speaker: "bob")
        #expect(scorer.score(query, speaker: "bob", centroid: second) == fresh)
    }
}
