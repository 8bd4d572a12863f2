import Foundation
import Testing
import VoiceprintAudio
@testable import VoiceprintCalibration
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring
import VoiceprintTestSupport

/// The enrolled population as AS-norm cohort, offline (`enrolledCohortScores`,
/// what `calibrate --norm as-norm-enrolled` runs): its arithmetic against a
/// hand computation, and the property the daemon relies on: thresholds
/// calibrated at the minimum population keep the false-accept target as more
/// speakers enroll.
@Suite struct EnrolledCohortScoresTests {
    /// A corpus of `speakers` × `utterances` empty files, and for each a unit
    /// embedding: the speaker's random direction plus per-utterance noise.
    static func corpus(speakers: Int, utterances: Int, dimension: Int = 24, noise: Float = 0.9, seed: UInt64,
                       in directory: TemporaryDirectory) throws -> EnrollmentProtocol {
        var random = SeededGenerator(seed: seed)
        func gaussian() -> Float {
            let u = Float.random(in: Float.ulpOfOne..<1, using: &random), v = Float.random(in: 0..<1, using: &random)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        func unit(_ v: [Float]) -> [Float] {
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        let root = directory.file("corpus-\(seed)")
        var embeddings = [String: [Float]]()
        for s in 0..<speakers {
            let folder = root + String(format: "/s%03d", s)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let centre = unit((0..<dimension).map { _ in gaussian() })
            for u in 0..<utterances {
                let path = folder + "/u\(u).wav"
                #expect(FileManager.default.createFile(atPath: path, contents: Data()))
                embeddings[path] = unit(centre.map { $0 + noise * gaussian() / Float(dimension).squareRoot() })
            }
        }
        return EnrollmentProtocol(corpus: try EnrollmentCorpus(root: root), embeddings: embeddings)
    }

    @Test func aScoreIsASNormAgainstTheOtherEnrolledCentroids() throws {
        let directory = try TemporaryDirectory("enrolled-cohort")
        let trials = try Self.corpus(speakers: 5, utterances: 3, seed: 1, in: directory)
        let k = 2, topN = 2
        let s = trials.corpus.speakers
        let centroids = s.map { trials.centroid(enrolling: Array($0.utterances.prefix(k))).unit }
        // Speaker 1's last utterance claiming speaker 3; every other speaker is enrolled too.
        let test = trials.embeddings[s[1].utterances[2]]!
        func top(_ v: [Float]) -> (Float, Float) { ScoreNormalization.topStatistics(v, topN: topN) }
        let others = [0, 1, 2, 4]
        let byHand = ScoreNormalization.normalize(Scorer.cosine(test, centroids[3]),
                                                  first: top(others.map { Scorer.cosine(centroids[3], centroids[$0]) }),
                                                  second: top(others.map { Scorer.cosine(test, centroids[$0]) }))
        // As the daemon scores it: the test speaker's own centroid is in the cohort.
        let daemonScores = trials.enrolledCohortScores(enrolling: k, topN: topN, includingTestSpeaker: true)
        #expect(daemonScores.impostors.contains { abs($0 - byHand) < 1e-5 }, "\(byHand) among \(daemonScores.impostors)")
        // As calibrated: an outsider, so speaker 1 is left out of both sides.
        let outsider = [0, 2, 4]
        let asOutsider = ScoreNormalization.normalize(Scorer.cosine(test, centroids[3]),
                                                      first: top(outsider.map { Scorer.cosine(centroids[3], centroids[$0]) }),
                                                      second: top(outsider.map { Scorer.cosine(test, centroids[$0]) }))
        #expect(trials.enrolledCohortScores(enrolling: k, topN: topN).impostors.contains { abs($0 - asOutsider) < 1e-5 })
        // 5 speakers × 1 target, 5 × 4 × 3 impostor trials.
        #expect(daemonScores.targets.count == 5 && daemonScores.impostors.count == 60)
    }

    @Test func aPopulationIsTheClaimedSpeakerAndTheNextOnesLeavingOutTheOutsider() {
        #expect(EnrollmentProtocol.cohortRows(claimed: 3, leavingOut: nil, size: 3, of: 5) == [4, 0])
        #expect(EnrollmentProtocol.cohortRows(claimed: 3, leavingOut: 4, size: 3, of: 5) == [0, 1])
        #expect(EnrollmentProtocol.cohortRows(claimed: 0, leavingOut: 2, size: 5, of: 5) == [1, 3, 4])
    }

    /// Calibrated at the minimum population (20 enrolled per claim) on one
    /// corpus, the thresholds hold the target on another corpus's outsiders at
    /// 20, 40 and 80 enrolled speakers: a larger cohort's top N are closer to
    /// everyone, which lowers impostor scores.
    @Test func thresholdsCalibratedAtTheMinimumPopulationHoldAsSpeakersJoin() throws {
        let directory = try TemporaryDirectory("enrolled-cohort")
        let k = 2, topN = 5, minimum = 20
        let calibration = try Self.corpus(speakers: 40, utterances: 5, seed: 11, in: directory)
        let scores = calibration.enrolledCohortScores(enrolling: k, topN: topN, population: minimum)
        let calibrator = OperatingPointCalibrator(targets: [.low: 0.2, .standard: 0.05, .high: 0.01], impostors: .all)
        let table = try calibrator.calibrate([.init(name: "calibration", scores: [scores])], scoring: "as-norm-enrolled",
                                             description: "test", enrolledCohort: .init(topN: topN, minimumSpeakers: minimum))
        let fresh = try Self.corpus(speakers: 80, utterances: 5, seed: 12, in: directory)
        var previous = [OperatingPoints.Level: Double]()
        for population in [20, 40, 80] {
            let s = fresh.enrolledCohortScores(enrolling: k, topN: topN, population: population)
            #expect(s.impostors.count == 80 * 79 * 5)
            for level in [OperatingPoints.Level.low, .standard] {
                let target = table.point(level).targetFAR
                let far = OperatingPointCalibrator.rate(s.impostors, atOrAbove: table.threshold(level, utterances: k))
                // Unseen speakers: within 1.5 × the target (31 600 trials: sampling error is a few percent of it).
                #expect(far <= 1.5 * target, "\(level) at \(population) enrolled: FAR \(far), target \(target)")
                // And it does not grow as speakers join.
                if let before = previous[level] { #expect(far <= before * 1.1, "\(level): \(before) → \(far) at \(population)") }
                previous[level] = far
            }
        }
    }
}
