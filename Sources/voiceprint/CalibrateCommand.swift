import ArgumentParser
import Foundation
import VoiceprintCalibration
import VoiceprintEngine
import VoiceprintModel

/// `voiceprint calibrate`: writes a copy of a model file with security levels
/// (`operating_points`): per level and per enrolled-utterance count K, the
/// threshold that holds the level's false-accept target under the daemon's
/// enrollment protocol on the given corpora.
///
/// The copy is the input container with one metadata field added: every tensor
/// (a fusion's encoders, a cohort) and every other field is kept as it was.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Add security levels (per-K thresholds for target false-accept rates) to a model file.",
        discussion: """
        Each --data corpus (ROOT/SPEAKER/audio, optionally ROOT/manifest.jsonl) is run through the
        enrollment protocol of evaluate-enrollment for K = 1 … --max-utterances. For each level and K the
        threshold is the lowest that keeps the impostor accept rate at or below the target on every corpus;
        thresholds never fall as K grows. Data rules (DESIGN.md §2): the real-speech development set may set
        thresholds; no embedding of any speaker is written to the model file, only thresholds and rates.
        """)

    @Option(help: "Model file to calibrate.")
    var model: String
    @Option(help: "Calibration corpus folder (repeat for several; each is its own impostor population).")
    var data: [String]
    @Option(help: "Where to write the calibrated model file.")
    var out: String
    @Option(help: "Largest enrolled-utterance count with its own threshold; more utterances use its threshold.")
    var maxUtterances = 10
    @Option(help: "Speakers to use: all, or every other one by name (even, odd) for a speaker-disjoint split.")
    var speakers: EnrollmentCorpus.Half = .all
    @Option(help: "Impostor trials the targets must hold on: all, same-language, or both (the higher threshold of the two).")
    var impostors: OperatingPointCalibrator.Impostors = .both
    @Option(help: "Score normalisation the thresholds are for, as voiceprintd's score_normalization: none, as-norm, or as-norm-enrolled (written beside the cosine levels as operating_points_enrolled_cohort).")
    var norm: CalibrationScoring = .none
    @Option(help: "With --norm as-norm-enrolled: cohort scores per side in the statistics.")
    var cohortTop = 10
    @Option(help: "With --norm as-norm-enrolled: the enrolled population the thresholds are calibrated at, and the fewest speakers the daemon uses them with (they hold as more join).")
    var minimumSpeakers = 20
    @Option(help: "Target false-accept rate of level low.")
    var lowFar = OperatingPoints.Level.low.defaultTargetFAR
    @Option(help: "Target false-accept rate of level standard.")
    var standardFar = OperatingPoints.Level.standard.defaultTargetFAR
    @Option(help: "Target false-accept rate of level high.")
    var highFar = OperatingPoints.Level.high.defaultTargetFAR
    @Option(help: "Threads for embedding (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var engineOptions: EngineOptionGroup

    func validate() throws {
        guard (1...100).contains(maxUtterances) else { throw ValidationError("--max-utterances must be 1 to 100, got \(maxUtterances)") }
        for (name, far) in [("--low-far", lowFar), ("--standard-far", standardFar), ("--high-far", highFar)] where !(far > 0 && far < 1) {
            throw ValidationError("\(name) must be between 0 and 1, got \(far)")
        }
        guard lowFar > standardFar, standardFar > highFar else {
            throw ValidationError("targets must fall from low to high: got \(lowFar), \(standardFar), \(highFar)")
        }
        guard (2...1000).contains(cohortTop), minimumSpeakers > cohortTop else {
            throw ValidationError("--cohort-top must be 2 to 1000 and --minimum-speakers above it, got \(cohortTop) and \(minimumSpeakers)")
        }
    }

    func run() throws {
        var file: SafeTensors
        do { file = try SafeTensors(path: model) } catch { EvaluateEnrollmentCommand.fail("\(error)", ExitStatus.usage) }
        let engine = EvaluateEnrollmentCommand.engine(model, norm: norm, options: engineOptions.options)
        var sets = [OperatingPointCalibrator.Set](), described = [String]()
        for root in data {
            let trials = EvaluateEnrollmentCommand.load(root, half: speakers, engine: engine, threads: threads)
            let kmax = min(maxUtterances, trials.largestK)
            guard kmax == maxUtterances else {
                EvaluateEnrollmentCommand.fail("\(root): no speaker has more than \(kmax + 1) usable utterances; lower --max-utterances to \(max(kmax, 1))", ExitStatus.usage)
            }
            let name = URL(fileURLWithPath: root).lastPathComponent
            let scores: [EnrollmentProtocol.Scores]
            if norm == .asNormEnrolled {
                let enrolled = trials.enrolledSpeakers(enrolling: Array(1...maxUtterances))
                guard enrolled >= minimumSpeakers else {
                    EvaluateEnrollmentCommand.fail("\(root): only \(enrolled) speakers have more than \(maxUtterances) usable utterances; --minimum-speakers \(minimumSpeakers) needs that many at every K (lower --max-utterances or --minimum-speakers)", ExitStatus.usage)
                }
                scores = (1...maxUtterances).map { trials.enrolledCohortScores(enrolling: $0, topN: cohortTop, population: minimumSpeakers) }
            } else {
                scores = (1...maxUtterances).map { trials.scores(enrolling: $0, scorer: engine.scorer) }
            }
            sets.append(OperatingPointCalibrator.Set(name: name, scores: scores))
            let speakerCount = trials.corpus.speakers.filter { trials.utterances(of: $0).count >= 2 }.count
            described.append("\(name) (\(speakerCount) speakers\(speakers == .all ? "" : ", \(speakers.rawValue) half by name"), \(trials.embeddings.count) utterances)")
        }
        let calibrator = OperatingPointCalibrator(targets: [.low: lowFar, .standard: standardFar, .high: highFar], impostors: impostors)
        let cohort = norm == .asNormEnrolled
            ? "; AS-norm against the other enrolled speakers' centroids (top \(cohortTop) per side), \(minimumSpeakers) speakers enrolled per claim, impostors outside the population" : ""
        let description = "voiceprint calibrate: enrollment protocol (first K utterances enrolled as voiceprintd does, K = 1–\(maxUtterances), the rest tested; impostors: other speakers, manifest exclusions left out; targets held on \(impostors == .both ? "all and on same-language impostors" : impostors.rawValue + " impostors")\(cohort)) on \(described.joined(separator: "; ")); per K the highest threshold over the sets, non-decreasing in K"
        let table: OperatingPoints
        let settings = norm == .asNormEnrolled ? OperatingPoints.EnrolledCohort(topN: cohortTop, minimumSpeakers: minimumSpeakers) : nil
        do { table = try calibrator.calibrate(sets, scoring: norm.rawValue, description: description, enrolledCohort: settings) } catch {
            EvaluateEnrollmentCommand.fail("\(error)", ExitStatus.usage)
        }
        if norm == .asNormEnrolled {
            // Beside the cosine levels, which the daemon uses below the minimum population.
            file.metadata["operating_points_enrolled_cohort"] = table.encoded()
        } else {
            file.metadata["operating_points"] = table.encoded()
        }
        // Decoding the result checks it is a model file this build (and the daemon) will load.
        do { _ = try ModelFile.decode(file, source: out) } catch { EvaluateEnrollmentCommand.fail("\(error)", ExitStatus.otherError) }
        try file.write(to: out)
        print("wrote \(out): \(description)")
        print("| level | target FAR | K | threshold | FAR | FRR | impostor trials | target trials |")
        print("|---|---|---|---|---|---|---|---|")
        for level in OperatingPoints.Level.allCases {
            let p = table.point(level)
            for k in [1, 3, 5, 10] where k <= maxUtterances {
                print(String(format: "| %@ | %.1f %% | %d | %.4f | %.2f %% | %.2f %% | %d | %d |", level.rawValue, p.targetFAR * 100, k,
                             p.thresholds[k - 1], p.falseAcceptRates[k - 1] * 100, p.falseRejectRates[k - 1] * 100,
                             table.impostorTrials[k - 1], table.targetTrials[k - 1]))
            }
        }
    }
}

extension OperatingPointCalibrator.Impostors: ExpressibleByArgument {}
