import Foundation
import Testing
import VoiceprintCalibration
import VoiceprintDaemon
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring
import VoiceprintTestSupport

/// `score_normalization = as-norm-enrolled` end to end: below the model's
/// minimum of enrolled speakers the daemon decides with cosine and the cosine
/// levels; from the minimum on, with AS-norm against the other enrolled
/// speakers and the enrolled-cohort levels, giving the scores the offline
/// protocol (`enrolledCohortTrials`, what `calibrate` runs) gives for the same files.
@Suite(.serialized) struct EnrolledCohortDaemonTests {
    typealias Base = OperatingPointsDaemonTests
    static let settings = OperatingPoints.EnrolledCohort(topN: 2, minimumSpeakers: 3)

    /// The fixture model with cosine levels and enrolled-cohort levels for K = 1 … 2, calibrated on `root`.
    static func model(corpus root: String, directory: TemporaryDirectory) throws -> (String, OperatingPoints, OperatingPoints, EnrollmentProtocol) {
        let path = directory.file("enrolled.safetensors")
        let (cosine, trials) = try Base.calibratedModel(corpus: root, at: path, directory: directory)
        let scores = (1...Base.enrolled).map {
            trials.enrolledCohortScores(enrolling: $0, topN: settings.topN, population: Base.speakers)
        }
        let calibrator = OperatingPointCalibrator(targets: [.low: 0.5, .standard: 0.2, .high: 0.001])
        let table = try calibrator.calibrate([.init(name: "synthetic", scores: scores)], scoring: "as-norm-enrolled",
                                             description: "test corpus", enrolledCohort: settings)
        var file = try SafeTensors(path: path)
        file.metadata["operating_points_enrolled_cohort"] = table.encoded()
        try file.write(to: path)
        return (path, cosine, table, trials)
    }

    static func enroll(_ client: LineClient, _ speaker: EnrollmentCorpus.Speaker) throws {
        for file in speaker.utterances.prefix(Base.enrolled) {
            let audio = try Data(contentsOf: URL(fileURLWithPath: file)).base64EncodedString()
            let r = try client.request(#"{"op":"enroll","speaker":"\#(speaker.name)","audio":{"data":"\#(audio)"}}"#)
            #expect(r["ok"] as? Bool == true, "\(r)")
        }
    }

    static func modelStatus(_ client: LineClient) throws -> [String: Any] {
        try client.request(#"{"op":"status"}"#)["model"] as! [String: Any]
    }

    @Test func belowTheMinimumItIsCosineFromTheMinimumOnTheOfflineCohortScores() async throws {
        let directory = try TemporaryDirectory("enrolled-cohort")
        let root = try Base.corpus(in: directory)
        let (model, cosine, enrolled, trials) = try Self.model(corpus: root, directory: directory)
        let loaded = try ModelFile.load(path: model).metadata
        #expect(loaded.enrolledCohortOperatingPoints == enrolled && loaded.operatingPoints == cosine, "both tables load from the model file")
        let fixture = try await Base.fixture(model: model) { $0.scoreNormalization = "as-norm-enrolled" }
        let client = try fixture.client()
        let speakers = trials.corpus.speakers
        let k = Base.enrolled

        // Two speakers enrolled, minimum three: cosine, with the cosine levels.
        for speaker in speakers.prefix(2) { try Self.enroll(client, speaker) }
        var status = try Self.modelStatus(client)
        let inactive = status["enrolled_cohort"] as? [String: Any]
        #expect(inactive?["active"] as? Bool == false && inactive?["minimum_speakers"] as? Int == 3 && inactive?["top_n"] as? Int == 2, "\(status)")
        #expect(Float(status["threshold"] as? Double ?? 9) == cosine.threshold(.standard, utterances: 3))
        let engine = try VoiceprintEngine(modelPath: model)
        let cosineTrial = try #require(trials.trials(enrolling: k, scorer: engine.scorer).first { $0.enrolled == speakers[0].name && $0.isTarget })
        let before = try Base.verify(client, cosineTrial.enrolled, cosineTrial.test)
        #expect(abs((before["score"] as? Double ?? 9) - Double(cosineTrial.score)) < 1e-4, "\(before)")
        // Verify answers carry four decimals.
        #expect(abs((before["threshold"] as? Double ?? 9) - Double(cosine.threshold(.standard, utterances: k))) < 1e-4, "\(before)")

        // All four enrolled: the enrolled cohort and its levels.
        for speaker in speakers.dropFirst(2) { try Self.enroll(client, speaker) }
        status = try Self.modelStatus(client)
        #expect((status["enrolled_cohort"] as? [String: Any])?["active"] as? Bool == true, "\(status)")
        #expect(Float(status["threshold"] as? Double ?? 9) == enrolled.threshold(.standard, utterances: 3))
        #expect((status["thresholds_by_utterances"] as? [Double])?.map { Float($0) } == enrolled.point(.standard).thresholds)
        // The daemon cannot tell an enrolled impostor from an outsider: its cohort holds every other speaker.
        let offline = trials.enrolledCohortTrials(enrolling: k, topN: Self.settings.topN, includingTestSpeaker: true)
        #expect(offline.count == Base.speakers * (Base.utterancesEach - k) + Base.speakers * (Base.speakers - 1) * Base.utterancesEach)
        var compared = 0
        for level in OperatingPoints.Level.allCases {
            let threshold = enrolled.threshold(level, utterances: k)
            for trial in offline {
                let r = try Base.verify(client, trial.enrolled, trial.test, level: level == .standard ? nil : level.rawValue)
                let score = r["score"] as? Double ?? .nan
                // z-scores divide by a top-2 deviation: allow for float32 sums in another order.
                #expect(abs(score - Double(trial.score)) < 1e-3 * max(1, abs(Double(trial.score))), "\(trial.enrolled) ← \(trial.test): offline \(trial.score), daemon \(r)")
                #expect(abs((r["threshold"] as? Double ?? 9) - Double(threshold)) < 1e-4, "\(r)")
                guard abs(trial.score - threshold) > 1e-2 else { continue }
                #expect(r["accepted"] as? Bool == (trial.score >= threshold), "\(level) \(trial.enrolled) ← \(trial.test): offline \(trial.score) vs \(threshold); daemon \(r)")
                compared += 1
            }
        }
        #expect(compared > offline.count, "most decisions are away from the threshold and were compared (\(compared))")

        // An admin's number would be a cosine one moment and a z-score the next: refused.
        let audio = try Data(contentsOf: URL(fileURLWithPath: speakers[0].utterances[k])).base64EncodedString()
        let fixed = try client.request(#"{"op":"verify","speaker":"\#(speakers[0].name)","audio":{"data":"\#(audio)"},"threshold":0.5}"#)
        #expect(code(fixed) == "bad_request" && "\(fixed)".contains("security_level"), "\(fixed)")

        // A deletion changes the population, and the next score follows it: speaker 0 claimed by
        // speaker 1's test file, normalised against speakers 1 and 2 only (top 2 of 2).
        func delete(_ speaker: EnrollmentCorpus.Speaker, active: Bool) throws {
            let deleted = try client.request(#"{"op":"delete","speaker":"\#(speaker.name)"}"#)
            #expect(deleted["ok"] as? Bool == true, "\(deleted)")
            #expect((try Self.modelStatus(client)["enrolled_cohort"] as? [String: Any])?["active"] as? Bool == active)
        }
        try delete(speakers[3], active: true)
        let centroids = speakers.map { trials.centroid(enrolling: Array(trials.utterances(of: $0).prefix(k))).unit }
        let test = trials.utterances(of: speakers[1])[k]
        let e = try #require(trials.embeddings[test])
        let expected = ScoreNormalization.normalize(
            Scorer.cosine(e, centroids[0]),
            first: ScoreNormalization.topStatistics([1, 2].map { Scorer.cosine(centroids[0], centroids[$0]) }, topN: 2),
            second: ScoreNormalization.topStatistics([1, 2].map { Scorer.cosine(e, centroids[$0]) }, topN: 2))
        let after = try Base.verify(client, speakers[0].name, test)
        #expect(abs((after["score"] as? Double ?? .nan) - Double(expected)) < 1e-3 * max(1, abs(Double(expected))), "expected \(expected): \(after)")
        // Below the minimum it is off again.
        try delete(speakers[2], active: false)
        await fixture.stop()
    }

    @Test func itIsRefusedWithoutItsLevelsOrBesideAFixedThreshold() async throws {
        let directory = try TemporaryDirectory("enrolled-cohort")
        let root = try Base.corpus(in: directory)
        let cosineOnly = directory.file("cosine.safetensors")
        _ = try Base.calibratedModel(corpus: root, at: cosineOnly, directory: directory)
        await #expect {
            _ = try await Base.fixture(model: cosineOnly) { $0.scoreNormalization = "as-norm-enrolled" }
        } throws: { "\($0)".contains("operating_points_enrolled_cohort") && "\($0)".contains("no enrolled-cohort levels") }
        let (model, _, _, _) = try Self.model(corpus: root, directory: directory)
        await #expect {
            _ = try await Base.fixture(model: model) { $0.scoreNormalization = "as-norm-enrolled"; $0.threshold = 0.6 }
        } throws: { "\($0)".contains("remove threshold = 0.6") }
    }
}
