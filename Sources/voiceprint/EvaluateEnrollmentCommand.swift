import ArgumentParser
import Foundation
import VoiceprintCalibration
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring

/// `voiceprint evaluate-enrollment`: error rates under the daemon's own
/// protocol (enroll the first K utterances into a centroid, verify the rest),
/// the rates a deployment actually sees, unlike single-utterance trial lists.
struct EvaluateEnrollmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-enrollment",
        abstract: "Measure EER and FAR/FRR under the daemon's enrollment protocol (ROOT/SPEAKER/*.wav).",
        discussion: """
        For each speaker with more than K usable utterances, the first K (in name order, or the order
        ROOT/manifest.jsonl lists) are enrolled exactly as voiceprintd enrolls them, and each remaining
        utterance is a target trial; every utterance of every other speaker is an impostor trial, except
        pairs the manifest's no_impostor_pairs_with rules out. Speakers with a known language also give
        same-language impostor figures. Reports the model's threshold and, for a calibrated model, each
        security level's threshold for that K.
        """)

    @Option(help: "Model file (default: the shipped model).")
    var model: String = ModelFile.defaultPath
    @Option(help: "Corpus folder: ROOT/SPEAKER/audio files, optionally ROOT/manifest.jsonl.")
    var data: String
    @Option(help: "Enrolled utterance counts, comma-separated.")
    var k = "1,3,5,10"
    @Option(help: "Speakers to use: all, or every other one by name (even, odd) for a speaker-disjoint split.")
    var speakers: EnrollmentCorpus.Half = .all
    @Option(help: "Score normalisation, as voiceprintd's score_normalization: none, as-norm or as-norm-enrolled (the enrolled speakers as cohort, with the model's calibrated top N).")
    var norm: CalibrationScoring = .none
    @Option(help: "With --norm as-norm-enrolled: enrolled speakers per claim (default: every speaker with enough utterances), to see the rates as a population grows.")
    var population: Int?
    @Option(help: "Also score with AS-norm against the other enrolled speakers' centroids, top N per side (issue 17, item 3), and compare.")
    var enrolledCohort: Int?
    @Option(help: "Threads for embedding (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var engineOptions: EngineOptionGroup

    func run() throws {
        let counts = k.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else { Self.fail("--k \"\(k)\" is not a list of counts ≥ 1", ExitStatus.usage) }
        let engine = Self.engine(model, norm: norm, options: engineOptions.options)
        let trials = Self.load(data, half: speakers, engine: engine, threads: threads)
        let metadata = engine.metadata!
        let report = EnrollmentReport(scores: counts.map { ($0, Self.scores(trials, enrolling: $0, norm: norm, metadata: metadata,
                                                                             scorer: engine.scorer, population: population)) },
                                      metadata: metadata, modelThreshold: Self.modelThreshold(metadata, norm: norm),
                                      scoring: norm.rawValue)
        if json {
            let object: [String: Any] = ["model": engine.name, "data": data, "speakers": trials.corpus.speakers.count,
                                         "files": trials.embeddings.count, "unusable_files": trials.failures.count,
                                         "scoring": norm.rawValue, "results": report.jsonObject]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        let levels = norm == .asNormEnrolled ? metadata.enrolledCohortOperatingPoints : metadata.operatingPoints
        let label = norm == .asNormEnrolled
            ? "AS-norm against the enrolled speakers (top \(levels!.enrolledCohort!.topN)), \(population.map { "\($0)" } ?? "all") enrolled per claim"
            : engine.scorer.label
        print("model:    \(engine.name) (\(label))\(levels.map { " calibrated on: \($0.calibration)" } ?? ", no security levels")")
        print("data:     \(data): \(trials.corpus.speakers.count) speakers (\(speakers.rawValue)), \(trials.embeddings.count) files, \(trials.failures.count) unusable, \(trials.corpus.excludedPairCount) excluded impostor pairs")
        print(report.markdown)
        if let topN = enrolledCohort { printCohortComparison(trials, counts: counts, topN: topN, scorer: engine.scorer) }
    }

    /// Threshold-free comparison of the engine's scoring with enrolled-cohort AS-norm:
    /// EER and the false rejections at 1 % false accepts, all and same-language impostors.
    private func printCohortComparison(_ trials: EnrollmentProtocol, counts: [Int], topN: Int, scorer: Scorer) {
        print("\n| K | enrolled speakers | scoring | EER | EER same language | FRR at 1 % FAR | FRR at 1 % same-language FAR |")
        print("|---|---|---|---|---|---|---|")
        func cell(_ targets: [Float], _ impostors: [Float]) -> (String, String) {
            guard !targets.isEmpty, !impostors.isEmpty else { return ("–", "–") }
            let m = VerificationMetrics(targetScores: targets, impostorScores: impostors)
            return (String(format: "%.2f %%", m.equalErrorRate.rate * 100), String(format: "%.2f %%", m.operatingPoint(atFalseAcceptRate: 0.01).falseRejectRate * 100))
        }
        for k in counts {
            let speakers = trials.corpus.speakers.filter { trials.utterances(of: $0).count > k }.count
            guard speakers > topN + 1 else {
                print("| \(k) | \(speakers) | AS-norm, enrolled cohort (top \(topN)) | – | – | – | – |")
                FileHandle.standardError.write(Data("voiceprint: K = \(k): \(speakers) speakers have more than \(k) utterances; the enrolled cohort needs more than \(topN + 1)\n".utf8))
                continue
            }
            for (name, s) in [(scorer.label, trials.scores(enrolling: k, scorer: scorer)),
                              ("AS-norm, enrolled cohort (top \(topN))", trials.enrolledCohortScores(enrolling: k, topN: topN))] {
                let all = cell(s.targets, s.impostors), same = cell(s.targets, s.sameLanguageImpostors)
                print("| \(k) | \(speakers) | \(name) | \(all.0) | \(same.0) | \(all.1) | \(same.1) |")
            }
        }
    }

    /// The trials of K under `norm`: the engine's scorer, or for as-norm-enrolled the
    /// enrolled cohort with the model's top N, outsiders as impostors (as calibrated).
    static func scores(_ trials: EnrollmentProtocol, enrolling k: Int, norm: CalibrationScoring, metadata: ModelMetadata,
                       scorer: Scorer, population: Int?) -> EnrollmentProtocol.Scores {
        guard norm == .asNormEnrolled else { return trials.scores(enrolling: k, scorer: scorer) }
        guard let cohort = metadata.enrolledCohortOperatingPoints?.enrolledCohort else {
            fail("the model has no operating_points_enrolled_cohort (voiceprint calibrate --norm as-norm-enrolled)", ExitStatus.usage)
        }
        let available = trials.enrolledSpeakers(enrolling: [k])
        let size = population ?? available
        guard size > cohort.topN, size <= available else {
            fail("K = \(k): a population of \(size) enrolled speakers is not possible here (\(available) have more than \(k) utterances; top N is \(cohort.topN))", ExitStatus.usage)
        }
        return trials.enrolledCohortScores(enrolling: k, topN: cohort.topN, population: size)
    }

    /// The engine the daemon would build for `score_normalization = norm`; exits 2 on a bad model.
    static func engine(_ path: String, norm: CalibrationScoring, options base: EngineOptions) -> VoiceprintEngine {
        var options = base
        if norm == .asNorm { options.normalization = .asNorm(topN: 200) }
        do { return try VoiceprintEngine(modelPath: path, options: options) } catch { fail("\(error)", ExitStatus.usage) }
    }

    /// The daemon's threshold for this scoring when no level applies (`ModelRuntime`).
    static func modelThreshold(_ metadata: ModelMetadata, norm: CalibrationScoring) -> Float? {
        switch norm {
        case .none: return metadata.threshold
        case .asNorm: return metadata.extra["threshold_as_norm"].flatMap(Float.init)
        case .asNormEnrolled: return nil
        }
    }

    /// The corpus at `root`, embedded; exits 2 on a bad folder. Unusable files are reported, not fatal:
    /// the daemon would refuse them too (too short, say), and the protocol leaves them out.
    static func load(_ root: String, half: EnrollmentCorpus.Half, engine: VoiceprintEngine, threads: Int) -> EnrollmentProtocol {
        let corpus: EnrollmentCorpus
        do { corpus = try EnrollmentCorpus(root: root).half(half) } catch { fail("\(error)", ExitStatus.usage) }
        let console = Console()
        let label = "embedding " + URL(fileURLWithPath: root).lastPathComponent
        let trials = EnrollmentProtocol.embed(corpus, engine: engine, threads: threads) { console.progress(label, $0, $1) }
        console.endProgress()
        for failure in trials.failures.prefix(5) { console.warn("left out \(failure.path): \(failure.reason)") }
        if trials.failures.count > 5 { console.warn("left out \(trials.failures.count - 5) more unusable files") }
        return trials
    }

    static func fail(_ message: String, _ code: Int32) -> Never {
        FileHandle.standardError.write(Data("voiceprint: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// The daemon's score_normalization values.
enum CalibrationScoring: String, ExpressibleByArgument, CaseIterable {
    case none = "cosine", asNorm = "as-norm", asNormEnrolled = "as-norm-enrolled"

    init?(argument: String) {
        switch argument {
        case "none", "cosine": self = .none
        case "as-norm": self = .asNorm
        case "as-norm-enrolled": self = .asNormEnrolled
        default: return nil
        }
    }
}

extension EnrollmentCorpus.Half: ExpressibleByArgument {}
