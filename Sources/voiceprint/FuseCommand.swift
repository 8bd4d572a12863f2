import ArgumentParser
import Foundation
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring

/// `voiceprint fuse`: several encoder files → one fusion model file
/// (`ScoreFusion`): per-encoder score statistics from calibration trials, the
/// weights (equal, or fitted on those trials), and the threshold of the fused
/// score at the trials' equal error rate.
struct FuseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuse",
        abstract: "Combine encoder model files into one fusion model, calibrated on a trial list.",
        discussion: """
        Each encoder's cosine is z-normalised by the mean and deviation of its different-speaker scores on \
        the calibration trials, and the normalised scores are summed with weights: equal, or (two encoders) \
        the weight on a 0.05 grid that minimises the trials' EER. The threshold is the fused score's EER \
        point on the same trials. Calibration data may be synthetic validation speakers or the real-speech \
        development set: it sets these few numbers, never network weights (DESIGN.md §2).
        """)

    enum Weighting: String, ExpressibleByArgument, CaseIterable { case equal, fitted }

    @Option(name: .customLong("encoder"), help: "An encoder model file (give two or more, in order).")
    var encoders: [String] = []
    @Option(help: "Calibration trial list: one 'LABEL PATH_A PATH_B' per line.")
    var trials: String
    @Option(help: "Folder the trial paths are relative to.")
    var root: String
    @Option(help: "Weights: equal, or fitted on the calibration trials (two encoders).")
    var weights: Weighting = .equal
    @Option(help: "What the calibration trials are, in words, for the model file and card.")
    var calibrationData: String
    @Option(help: "Fusion model file to write (.safetensors).")
    var out: String
    @Option(help: "Creation time to record (ISO 8601); default now.")
    var created: String?
    @Option(help: "Folder of SPEAKER/*.wav (synthetic training speakers): each speaker's mean fused embedding joins an AS-norm cohort.")
    var cohortData: String?
    @Option(help: "Cohort speakers (the first ones by name).")
    var cohortSpeakers = 400
    @Option(help: "Utterances per cohort speaker.")
    var cohortUtterances = 5
    @Option(help: "Threads for embedding (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var engineOptions: EngineOptionGroup

    func validate() throws {
        guard encoders.count >= 2 else { throw ValidationError("--encoder: give at least two encoder files, got \(encoders.count)") }
        guard weights == .equal || encoders.count == 2 else {
            throw ValidationError("--weights fitted searches one weight: it takes exactly two encoders, got \(encoders.count)")
        }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out \(out): the model file name must end in .safetensors") }
    }

    func run() throws {
        let list: TrialList
        do { list = try TrialList(path: trials) } catch { TrialEmbeddings.exit("\(error)", ExitStatus.usage) }
        TrialEmbeddings.checkFiles(list, trials: trials, root: root)
        var loaded = [LoadedModel](), scores = [[Float]]()
        for path in encoders {
            let model: LoadedModel, engine: VoiceprintEngine
            do {
                model = try ModelFile.load(path: path)
                guard model.metadata.fusion == nil else { TrialEmbeddings.exit("\(path) is already a fusion", ExitStatus.usage) }
                engine = try VoiceprintEngine(model: model, modelID: path, options: engineOptions.options)
            } catch { TrialEmbeddings.exit("\(error)", ExitStatus.usage) }
            let embeddings = TrialEmbeddings.compute(engine, files: list.files, root: root, threads: threads,
                                                     label: "embedding (\(engine.name))")
            scores.append(list.trials.map { Scorer.cosine(embeddings[$0.first]!, embeddings[$0.second]!) })
            loaded.append(model)
        }
        let isTarget = list.trials.map(\.isTarget)
        var members = zip(encoders, zip(loaded, scores)).map { path, pair in
            let impostor = zip(pair.1, isTarget).filter { !$0.1 }.map { Double($0.0) }
            let mean = impostor.reduce(0, +) / Double(max(impostor.count, 1))
            let variance = impostor.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(impostor.count - 1, 1))
            return ScoreFusion.Member(
                name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                architecture: pair.0.metadata.architecture, features: pair.0.metadata.features,
                scoreMean: mean, scoreStd: max(variance.squareRoot(), 1e-6), weight: 1,
                provenance: pair.0.metadata.extra.filter { ["licence", "origin", "attribution"].contains($0.key) }
                    .merging(["trained_on": pair.0.metadata.trainedOn]) { $1 })
        }
        func fused(_ members: [ScoreFusion.Member]) -> (scores: [Float], metrics: VerificationMetrics) {
            let shares = ScoreFusion(members: members, calibration: "").shares
            let s = (0..<list.trials.count).map { t in Float(zip(shares, scores).reduce(0) { $0 + $1.0 * Double($1.1[t]) }) }
            return (s, Self.metrics(s, isTarget))
        }
        if weights == .fitted {
            // One weight on a coarse grid: a handful of numbers chosen on the trials, nothing trained.
            let best = stride(from: 0.0, through: 1.0, by: 0.05).min { a, b in
                var ma = members, mb = members
                (ma[0].weight, ma[1].weight, mb[0].weight, mb[1].weight) = (a, 1 - a, b, 1 - b)
                return fused(ma).metrics.equalErrorRate.rate < fused(mb).metrics.equalErrorRate.rate
            }!
            (members[0].weight, members[1].weight) = (best, 1 - best)
        }
        let calibration = "score statistics (different-speaker cosines) and \(weights == .equal ? "equal weights" : "weights fitted for the lowest EER") "
            + "on \(list.trials.count) trials of \(calibrationData)"
        let fusion = ScoreFusion(members: members, calibration: calibration)
        let result = fused(members)
        let eer = result.metrics.equalErrorRate
        for (member, s) in zip(members, scores) {
            print(String(format: "%@: EER %.2f %% (different-speaker cosine %.4f ± %.4f), weight %.2f", member.name,
                         Self.metrics(s, isTarget).equalErrorRate.rate * 100, member.scoreMean, member.scoreStd, member.weight))
        }
        print(String(format: "fusion: EER %.2f %% at fused cosine %.4f on the calibration trials", eer.rate * 100, eer.threshold))
        var metadata = ModelMetadata(
            architecture: .fusion(fusion), features: members[0].features, threshold: eer.threshold,
            thresholdFalseAcceptRate: eer.rate, equalErrorRate: eer.rate,
            trainedOn: "Score fusion of " + members.map { "\($0.name) (\($0.provenance["trained_on"] ?? "?"))" }.joined(separator: " and "),
            created: created ?? ISO8601DateFormatter().string(from: Date()),
            extra: [
                "licence": Set(members.compactMap { $0.provenance["licence"] }).sorted().joined(separator: " AND "),
                "origin": members.map { "\($0.name): \($0.provenance["origin"] ?? "?")" }.joined(separator: "; "),
                "attribution": members.compactMap { $0.provenance["attribution"] }.joined(separator: "; "),
                "threshold_source": "EER point of the fused score on the calibration trials (\(calibrationData))",
                "made_by": "voiceprint fuse",
            ])
        metadata.fusion = fusion
        var cohort: Tensor?
        if let cohortData {
            let container = ModelFile.container(encoders: loaded.map(\.model), metadata: metadata)
            let engine = try VoiceprintEngine(model: try ModelFile.decode(container, source: out), modelID: "fusion",
                                              options: engineOptions.options)
            cohort = try Self.cohort(engine, root: cohortData, speakers: cohortSpeakers, utterances: cohortUtterances, threads: threads)
            print("cohort: \(cohort!.shape[0]) speaker means from \(cohortData)")
        }
        try ModelFile.container(encoders: loaded.map(\.model), metadata: metadata, cohort: cohort).write(to: out)
        _ = try ModelFile.load(path: out)   // what we wrote must load
        print("\(out): \(members.count) encoders, \(fusion.embeddingDimension)-d, shares \(fusion.shares.map { String(format: "%.3f", $0) }.joined(separator: "/"))")
    }

    /// The unit mean of each speaker's first utterances' fused embeddings, [N, D]: the
    /// same kind of cohort training writes (impostor speakers for AS-norm).
    static func cohort(_ engine: VoiceprintEngine, root: String, speakers: Int, utterances: Int, threads: Int) throws -> Tensor {
        let fm = FileManager.default
        let names = try fm.contentsOfDirectory(atPath: root).filter { name in
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted().prefix(speakers)
        var files = [String](), owner = [Int]()
        for (i, name) in names.enumerated() {
            let clips = try fm.contentsOfDirectory(atPath: root + "/" + name).filter { $0.hasSuffix(".wav") }.sorted().prefix(utterances)
            files += clips.map { name + "/" + $0 }
            owner += [Int](repeating: i, count: clips.count)
        }
        guard !files.isEmpty else { throw ValidationError("--cohort-data \(root): no SPEAKER/*.wav files") }
        let embeddings = TrialEmbeddings.compute(engine, files: files, root: root, threads: threads, label: "cohort")
        var means = [[Float]](repeating: [Float](repeating: 0, count: engine.dimension), count: names.count)
        for (file, i) in zip(files, owner) { for (d, v) in embeddings[file]!.enumerated() { means[i][d] += v } }
        let rows = means.filter { $0.contains { $0 != 0 } }.map { mean -> [Float] in
            let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return mean.map { $0 / norm }
        }
        return Tensor(shape: [rows.count, engine.dimension], storage: rows.flatMap { $0 })
    }

    static func metrics(_ scores: [Float], _ isTarget: [Bool]) -> VerificationMetrics {
        VerificationMetrics(targetScores: zip(scores, isTarget).filter(\.1).map(\.0),
                            impostorScores: zip(scores, isTarget).filter { !$0.1 }.map(\.0))
    }
}
