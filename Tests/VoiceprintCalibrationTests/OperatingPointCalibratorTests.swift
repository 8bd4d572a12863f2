import Foundation
import Testing
import VoiceprintCalibration
import VoiceprintEngine
import VoiceprintModel
import VoiceprintStore
import VoiceprintTestSupport

@Suite struct OperatingPointCalibratorTests {
    @Test func theThresholdAcceptsAtMostTheTargetShareOfImpostors() {
        let impostors: [Float] = (0..<100).map { Float($0) / 100 }
        let t = OperatingPointCalibrator.threshold(impostors: impostors, falseAcceptRate: 0.05)
        #expect(OperatingPointCalibrator.rate(impostors, atOrAbove: t) == 0.05)
        #expect(t > 0.94 && t <= Float(0.95).nextUp)
        // Below one allowed false accept: above the highest impostor.
        let strict = OperatingPointCalibrator.threshold(impostors: impostors, falseAcceptRate: 0.001)
        #expect(strict > 0.99 && OperatingPointCalibrator.rate(impostors, atOrAbove: strict) == 0)
    }

    static func scores(impostorShift: Float) -> EnrollmentProtocol.Scores {
        var s = EnrollmentProtocol.Scores()
        s.impostors = (0..<1000).map { Float($0) / 2000 + impostorShift }
        s.sameLanguageImpostors = Array(s.impostors.suffix(100))
        s.targets = (0..<100).map { 0.5 + Float($0) / 200 }
        return s
    }

    @Test func thresholdsHoldOnEverySetAndNeverFallWithK() throws {
        // Set b's impostors score higher; at K = 2 a's would give a lower threshold than at K = 1.
        let a = OperatingPointCalibrator.Set(name: "a", scores: [Self.scores(impostorShift: 0.1), Self.scores(impostorShift: 0.05)])
        let b = OperatingPointCalibrator.Set(name: "b", scores: [Self.scores(impostorShift: 0.2), Self.scores(impostorShift: 0.0)])
        let table = try OperatingPointCalibrator(impostors: .all).calibrate([a, b], scoring: "cosine", description: "test")
        for level in OperatingPoints.Level.allCases {
            let p = table.point(level)
            #expect(p.thresholds[1] >= p.thresholds[0], "\(level): \(p.thresholds)")
            for set in [a, b] {
                for k in 0..<2 {
                    #expect(OperatingPointCalibrator.rate(set.scores[k].impostors, atOrAbove: p.thresholds[k]) <= p.targetFAR, "\(level) K=\(k + 1) \(set.name)")
                }
            }
        }
        #expect(table.impostorTrials == [2000, 2000] && table.targetTrials == [200, 200])
        #expect(table.point(.high).thresholds[0] >= table.point(.standard).thresholds[0])
        // Same-language calibration holds the target on the harder trials, and so sets higher thresholds.
        let hard = try OperatingPointCalibrator(impostors: .sameLanguage).calibrate([a, b], scoring: "cosine", description: "test")
        #expect(hard.point(.low).thresholds[0] > table.point(.low).thresholds[0])
        // The default holds both: the higher threshold of the two at every level and K.
        let both = try OperatingPointCalibrator().calibrate([a, b], scoring: "cosine", description: "test")
        for level in OperatingPoints.Level.allCases {
            #expect(both.point(level).thresholds == zip(table.point(level).thresholds, hard.point(level).thresholds).map { max($0, $1) }, "\(level)")
        }
    }

    /// ROOT/manifest.jsonl with languages and an excluded pair; four speakers of three utterances.
    static func corpus(in dir: TemporaryDirectory) throws -> EnrollmentCorpus {
        let root = dir.file("corpus")
        var lines = [String]()
        for (name, language, excluded) in [("a", "en", ["b"]), ("b", "en", []), ("c", "en", []), ("d", "fr", [])] {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            // Listed in reverse name order: the manifest's order is the enrollment order.
            let files = (0..<3).reversed().map { "\(name)/\($0).wav" }
            for f in files { _ = FileManager.default.createFile(atPath: root + "/" + f, contents: Data()) }
            let utterances = files.map { #"{"path":"\#($0)"}"# }.joined(separator: ",")
            lines.append(#"{"speaker":"\#(name)","language":"\#(language)","no_impostor_pairs_with":[\#(excluded.map { "\"\($0)\"" }.joined(separator: ","))],"utterances":[\#(utterances)]}"#)
        }
        try lines.joined(separator: "\n").write(toFile: root + "/manifest.jsonl", atomically: true, encoding: .utf8)
        return try EnrollmentCorpus(root: root)
    }

    @Test func theManifestGivesOrderLanguagesAndExclusions() throws {
        let dir = try TemporaryDirectory()
        let corpus = try Self.corpus(in: dir)
        #expect(corpus.speakers.map(\.name) == ["a", "b", "c", "d"])
        #expect(corpus.speakers[0].utterances.map { URL(fileURLWithPath: $0).lastPathComponent } == ["2.wav", "1.wav", "0.wav"])
        #expect(!corpus.areImpostors("b", "a") && corpus.areImpostors("a", "c") && !corpus.areImpostors("c", "c"))
        #expect(corpus.half(.even).speakers.map(\.name) == ["a", "c"] && corpus.half(.odd).speakers.map(\.name) == ["b", "d"])

        // One-hot embeddings per speaker, so every score is 1 (same speaker) or 0.
        var embeddings = [String: [Float]]()
        for (i, s) in corpus.speakers.enumerated() {
            for f in s.utterances { embeddings[f] = (0..<4).map { $0 == i ? 1 : 0 } }
        }
        let trials = EnrollmentProtocol(corpus: corpus, embeddings: embeddings).trials(enrolling: 2, scorer: Scorer(method: .cosine))
        #expect(trials.filter(\.isTarget).count == 4, "one left-out utterance per speaker")
        // 4 × 3 × 3 impostor trials less the a–b pair both ways (2 × 3).
        #expect(trials.filter { !$0.isTarget }.count == 30)
        #expect(trials.filter { !$0.isTarget && $0.sameLanguage }.count == 12, "a–c, c–a, b–c, c–b (English, a–b excluded): 4 × 3")
        #expect(trials.allSatisfy { $0.score == ($0.isTarget ? 1 : 0) })
        // The enrolled centroid is the store's arithmetic: Centroid.adding in order.
        let files = corpus.speakers[0].utterances
        let expected = Centroid(dimension: 4).adding(embeddings[files[0]]!).adding(embeddings[files[1]]!)
        #expect(EnrollmentProtocol(corpus: corpus, embeddings: embeddings).centroid(enrolling: Array(files.prefix(2))) == expected)
    }

    /// The enrolled-cohort variant scores the same trials (same targets, impostors, exclusions).
    @Test func theEnrolledCohortScoresTheSameTrials() throws {
        let dir = try TemporaryDirectory()
        let corpus = try Self.corpus(in: dir)
        var rng = SeededGenerator(seed: 3)
        var embeddings = [String: [Float]]()
        for s in corpus.speakers { for f in s.utterances { embeddings[f] = TestEmbeddings.unit(dimension: 8, using: &rng) } }
        let p = EnrollmentProtocol(corpus: corpus, embeddings: embeddings)
        let plain = p.scores(enrolling: 1, scorer: Scorer(method: .cosine)), cohort = p.enrolledCohortScores(enrolling: 1, topN: 2)
        #expect(cohort.targets.count == plain.targets.count && cohort.impostors.count == plain.impostors.count)
        #expect(cohort.sameLanguageImpostors.count == plain.sameLanguageImpostors.count)
        #expect(cohort.impostors.allSatisfy { $0.isFinite })
    }
}
