import Foundation
import VoiceprintEngine
import VoiceprintScoring

/// The enrolled population as AS-norm cohort (issue 17, item 3), measured
/// offline: a claim of speaker s is normalised against the centroids of the
/// other enrolled speakers instead of the model's synthetic cohort.
///
/// The test speaker's own centroid is left out of the test side's cohort: an
/// impostor who is also enrolled would find themselves in it and be pushed
/// down, which flatters the method; the figures here are for outsiders.
extension EnrollmentProtocol {
    /// Scores of K, AS-normalised (top `topN` per side) against the enrolled
    /// centroids of K: every speaker with more than K usable utterances.
    public func enrolledCohortScores(enrolling k: Int, topN: Int) -> Scores {
        let usable = corpus.speakers.map { ($0, utterances(of: $0)) }
        let enrolled = usable.filter { $0.1.count > k }
        let centroids = enrolled.map { centroid(enrolling: Array($0.1.prefix(k))).unit }
        let row = Dictionary(uniqueKeysWithValues: enrolled.enumerated().map { ($0.element.0.name, $0.offset) })
        // Centroid-side statistics: each centroid against every other enrolled centroid.
        let centroidStatistics = centroids.indices.map { i in
            Self.statistics(centroids.indices.filter { $0 != i }.map { Scorer.cosine(centroids[i], centroids[$0]) }, topN)
        }
        var out = Scores()
        for (speaker, files) in usable {
            // Each file's cosines with every enrolled centroid, once.
            for test in files {
                let e = embeddings[test]!
                let cosines = centroids.map { Scorer.cosine(e, $0) }
                let own = row[speaker.name]
                for (claimed, _) in enrolled {
                    let c = row[claimed.name]!
                    let isTarget = claimed.name == speaker.name
                    if isTarget {
                        // Enrollment utterances are not tests of their own speaker.
                        guard let position = files.firstIndex(of: test), position >= k else { continue }
                    } else if !corpus.areImpostors(claimed.name, speaker.name) { continue }
                    let cohort = cosines.indices.filter { $0 != c && $0 != own }.map { cosines[$0] }
                    let t = Self.statistics(cohort, topN), m = centroidStatistics[c]
                    let x = cosines[c]
                    let score = 0.5 * ((x - m.mean) / m.deviation + (x - t.mean) / t.deviation)
                    if isTarget { out.targets.append(score) } else {
                        out.impostors.append(score)
                        if claimed.language != nil && claimed.language == speaker.language { out.sameLanguageImpostors.append(score) }
                    }
                }
            }
        }
        return out
    }

    /// Mean and deviation of the `topN` highest of `scores` (deviation floored, as ScoreNormalization does).
    static func statistics(_ scores: [Float], _ topN: Int) -> (mean: Float, deviation: Float) {
        let top = scores.sorted(by: >).prefix(max(2, topN))
        let mean = top.reduce(0, +) / Float(top.count)
        let variance = top.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(top.count)
        return (mean, max(variance.squareRoot(), 1e-6))
    }
}
