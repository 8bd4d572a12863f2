import Testing
import VoiceprintScoring

@Suite struct ScoreNormalizationTests {
    // Cohort of four 2-D unit vectors at 0°, 90°, 180°, 270°.
    let norm = ScoreNormalization(cohort: [1, 0, 0, 1, -1, 0, 0, -1], dimension: 2, topN: 2)

    @Test func statisticsUseOnlyTheClosestCohortMembers() {
        // e = (1, 0): cohort scores 1, 0, −1, 0 → top 2 = {1, 0}: mean 0.5, σ 0.5.
        let s = norm.statistics(of: [1, 0])
        #expect(abs(s.mean - 0.5) < 1e-6 && abs(s.deviation - 0.5) < 1e-6)
        // t = (0.6, 0.8): scores 0.6, 0.8, −0.6, −0.8 → top 2 = {0.8, 0.6}: mean 0.7, σ 0.1.
        let t = norm.statistics(of: [0.6, 0.8])
        #expect(abs(t.mean - 0.7) < 1e-6 && abs(t.deviation - 0.1) < 1e-6)
    }

    @Test func normalisedScoreIsTheMeanOfBothStandardisations() {
        // s = e·t = 0.6 → ½((0.6 − 0.5)/0.5 + (0.6 − 0.7)/0.1) = ½(0.2 − 1) = −0.4.
        let score = norm.normalize(0.6, first: norm.statistics(of: [1, 0]), second: norm.statistics(of: [0.6, 0.8]))
        #expect(abs(score - -0.4) < 1e-5)
    }

    @Test func topNIsCappedByTheCohort() {
        #expect(ScoreNormalization(cohort: [1, 0, 0, 1], dimension: 2, topN: 200).topN == 2)
        #expect(norm.cohortSize == 4)
    }
}
