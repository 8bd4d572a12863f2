import Foundation
import VoiceprintEngine
import VoiceprintScoring

/// The enrolled population as AS-norm cohort (issue 17, item 3; the daemon's
/// `score_normalization = as-norm-enrolled`), offline: a claim of speaker s is
/// normalised against the centroids of the other enrolled speakers instead of
/// the model's synthetic cohort, both sides over the same speakers, with
/// `ScoreNormalization`'s arithmetic (the daemon's `EnrolledCohort` calls the same).
///
/// Two choices make the figures a bound the daemon keeps:
/// - **Outsiders.** By default the test speaker's own centroid is left out of
///   the cohort (and the population filled with the next speaker instead): an
///   impostor who is also enrolled finds themselves among the closest cohort
///   members, which raises their side's mean and pushes their score down. The
///   daemon cannot leave them out (it does not know who is speaking), so for
///   enrolled impostors it is stricter than these trials; `includingTestSpeaker`
///   gives the daemon's exact scores instead (tests compare the two).
/// - **Population size.** `population` enrolls only that many speakers per claim
///   (the claimed speaker and the next ones by corpus order): thresholds
///   calibrated at the smallest population the daemon will use it with hold as
///   speakers join, because a larger cohort's top N are closer to everyone,
///   which lowers impostor scores.
extension EnrollmentProtocol {
    /// Scores of K, AS-normalised (top `topN` per side) against the enrolled
    /// centroids of K: every speaker with more than K usable utterances, or
    /// `population` of them per claim.
    public func enrolledCohortScores(enrolling k: Int, topN: Int, population: Int? = nil,
                                     includingTestSpeaker: Bool = false) -> Scores {
        Self.grouped(enrolledCohortTrials(enrolling: k, topN: topN, population: population, includingTestSpeaker: includingTestSpeaker))
    }

    /// The trials behind `enrolledCohortScores`, each with its claimed speaker and test file.
    public func enrolledCohortTrials(enrolling k: Int, topN: Int, population: Int? = nil,
                                     includingTestSpeaker: Bool = false) -> [Trial] {
        let usable = corpus.speakers.map { ($0, utterances(of: $0)) }
        let enrolled = usable.filter { $0.1.count > k }
        let n = enrolled.count
        let size = min(population ?? n, n)
        precondition(size > topN, "enrolled cohort of \(size) speakers cannot fill top \(topN) plus the claimed speaker")
        let centroids = enrolled.map { centroid(enrolling: Array($0.1.prefix(k))).unit }
        let row = Dictionary(uniqueKeysWithValues: enrolled.enumerated().map { ($0.element.0.name, $0.offset) })
        let between = centroids.map { a in centroids.map { Scorer.cosine(a, $0) } }
        var out = [Trial]()
        for (speaker, files) in usable {
            let own = row[speaker.name]
            for (position, test) in files.enumerated() {
                let e = embeddings[test]!
                let cosines = centroids.map { Scorer.cosine(e, $0) }
                for (c, (claimed, _)) in enrolled.enumerated() {
                    let isTarget = claimed.name == speaker.name
                    if isTarget {
                        // Enrollment utterances are not tests of their own speaker.
                        guard position >= k else { continue }
                    } else if !corpus.areImpostors(claimed.name, speaker.name) { continue }
                    let cohort = Self.cohortRows(claimed: c, leavingOut: includingTestSpeaker || isTarget ? nil : own,
                                                 size: size, of: n)
                    let score = ScoreNormalization.normalize(
                        cosines[c],
                        first: ScoreNormalization.topStatistics(cohort.map { between[c][$0] }, topN: topN),
                        second: ScoreNormalization.topStatistics(cohort.map { cosines[$0] }, topN: topN))
                    out.append(Trial(enrolled: claimed.name, utterances: k, test: test, isTarget: isTarget,
                                     sameLanguage: isTarget || (claimed.language != nil && claimed.language == speaker.language),
                                     score: score))
                }
            }
        }
        return out
    }

    /// The other enrolled speakers a claim of row `claimed` is normalised against,
    /// in a population of `size` out of `n`: the next `size − 1` rows after it,
    /// wrapping, skipping `leavingOut` (an outsider's own row).
    static func cohortRows(claimed: Int, leavingOut: Int?, size: Int, of n: Int) -> [Int] {
        var rows = [Int]()
        rows.reserveCapacity(size - 1)
        var r = claimed
        for _ in 1..<n where rows.count < size - 1 {
            r = (r + 1) % n
            if r != leavingOut { rows.append(r) }
        }
        return rows
    }

    /// The fewest speakers with more than K usable utterances over `ks`: the
    /// largest enrolled population every K can be calibrated at.
    public func enrolledSpeakers(enrolling ks: [Int]) -> Int {
        ks.map { k in corpus.speakers.count { utterances(of: $0).count > k } }.min() ?? 0
    }
}
