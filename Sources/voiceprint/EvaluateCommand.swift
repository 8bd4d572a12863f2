import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring

/// `voiceprint evaluate`: error rates of a model (or the training-free
/// baseline) on a VoxCeleb-format trial list.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure EER and minDCF on a trial list (LABEL PATH_A PATH_B, label 1 = same speaker).",
        discussion: """
        Each distinct file is embedded once, on all cores. Scores are cosine similarities, optionally
        AS-normalised against the cohort stored in the model file. Prints EER, minDCF at p_target 0.01
        and 0.05, the thresholds at the EER and at 1 % false accepts, and the trial counts.
        """)

    @Option(help: "Trial list: one 'LABEL PATH_A PATH_B' per line.")
    var trials: String
    @Option(help: "Folder the trial paths are relative to.")
    var root: String
    @Option(help: "Model file (default: the shipped model).")
    var model: String = ModelFile.defaultPath
    @Option(help: "System to score: model (the embedding network) or mfcc-stats (training-free baseline).")
    var system: System = .model
    @Option(help: "Score normalisation: none, as-norm (needs a cohort in the model file) or mean (subtract the mean embedding of the list's files: unsupervised, no labels).")
    var norm: Normalization = .none
    @Option(help: "Cohort members per side for AS-norm.")
    var topN = 200
    @Option(help: "Write per-trial scores here: LABEL PATH_A PATH_B SCORE.")
    var scores: String?
    @Option(help: "Write the DET curve and score histograms here (SVG).")
    var detPlot: String?
    @Option(help: "Threads for embedding (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @OptionGroup var engineOptions: EngineOptionGroup

    enum System: String, ExpressibleByArgument, CaseIterable { case model, mfccStats = "mfcc-stats" }

    enum Normalization: String, ExpressibleByArgument, CaseIterable { case none, asNorm = "as-norm", mean }

    func run() throws {
        let list: TrialList
        do { list = try TrialList(path: trials) } catch { fail("\(error)", ExitStatus.usage) }
        let files = list.files
        TrialEmbeddings.checkFiles(list, trials: trials, root: root)
        var options = engineOptions.options
        if norm == .asNorm { options.normalization = .asNorm(topN: topN) }
        let engine: VoiceprintEngine
        do {
            switch system {
            case .model: engine = try VoiceprintEngine(modelPath: model, options: options)
            case .mfccStats:
                if norm == .asNorm { fail("--norm as-norm needs a model's cohort; not available for mfcc-stats", ExitStatus.usage) }
                engine = try VoiceprintEngine(baselineWith: options)
            }
        } catch {
            fail("\(error)", ExitStatus.usage)
        }

        let started = Date()
        var embeddings = TrialEmbeddings.compute(engine, files: files, root: root, threads: threads)
        let embedSeconds = Date().timeIntervalSince(started)
        if norm == .mean {
            let centring = MeanSubtraction(embeddings: files.map { embeddings[$0]! })
            embeddings = embeddings.mapValues(centring.apply)
        }

        // Each file's side of the score (AS-norm's cohort statistics) once, not once per trial.
        let queries = embeddings.mapValues(engine.scorer.query)
        var targetScores = [Float](), impostorScores = [Float](), lines = [String]()
        for trial in list.trials {
            let score = engine.scorer.score(queries[trial.first]!, queries[trial.second]!)
            if trial.isTarget { targetScores.append(score) } else { impostorScores.append(score) }
            lines.append("\(trial.isTarget ? 1 : 0) \(trial.first) \(trial.second) \(String(format: "%.6f", score))")
        }
        if let scores { try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: scores) }

        let metrics = VerificationMetrics(targetScores: targetScores, impostorScores: impostorScores)
        let eer = metrics.equalErrorRate
        let dcf1 = metrics.minimumDetectionCost(targetPrior: 0.01)
        let dcf5 = metrics.minimumDetectionCost(targetPrior: 0.05)
        let far1 = metrics.operatingPoint(atFalseAcceptRate: 0.01)
        var label = system == .model ? "model \(engine.name)" : engine.name
        if case .asNorm = engine.scorer.method { label += " + \(engine.scorer.label)" }
        if norm == .mean { label += " + mean subtraction" }
        if engineOptions.noVad { label += " (no VAD)" }
        if let detPlot {
            let svg = DETPlot.svg(metrics: metrics, targetScores: targetScores, impostorScores: impostorScores,
                                  title: "\(label) on \(URL(fileURLWithPath: trials).lastPathComponent)")
            try AtomicFile.write(svg, to: detPlot)
        }
        if json {
            let object: [String: Any] = [
                "system": label, "trials": list.trials.count, "targets": metrics.targetCount,
                "impostors": metrics.impostorCount, "files": files.count, "eer": eer.rate,
                "eer_threshold": Double(eer.threshold), "min_dcf_0.01": dcf1.cost, "min_dcf_0.05": dcf5.cost,
                "threshold_far_1pct": Double(far1.threshold), "frr_at_far_1pct": far1.falseRejectRate,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("system:     \(label)")
        print("trials:     \(list.trials.count) (\(metrics.targetCount) same-speaker, \(metrics.impostorCount) different-speaker) over \(files.count) files, embedded in \(String(format: "%.1f", embedSeconds)) s")
        print(String(format: "EER:        %.2f %% at threshold %.4f", eer.rate * 100, eer.threshold))
        print(String(format: "minDCF:     %.4f (p_target 0.01), %.4f (p_target 0.05)", dcf1.cost, dcf5.cost))
        print(String(format: "1 %% FAR:    threshold %.4f, false-reject rate %.2f %%", far1.threshold, far1.falseRejectRate * 100))
    }

    private func fail(_ message: String, _ code: Int32) -> Never {
        FileHandle.standardError.write(Data("voiceprint: \(message)\n".utf8))
        Foundation.exit(code)
    }
}
