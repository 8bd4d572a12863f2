import ArgumentParser
import Foundation
import VoiceprintEngine
import VoiceprintModel
import VoiceprintScoring

/// Whether reduced precision may serve: every file of a trial list embedded
/// with float32 and with bf16 recurrent products, the cosine between the two
/// embeddings of each file, and the EER of both on the list. The issue's
/// bar: every cosine ≥ 0.999 and the EER within 0.1 point.
struct PrecisionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precision", abstract: "bf16 against float32 on a trial list: per-file cosine and EER.")

    @Option(help: "Trial list (LABEL PATH_A PATH_B).") var trials: String
    @Option(help: "Folder the trial paths are relative to.") var root: String
    @Option(help: "Model file.") var model = "Models/default.safetensors"
    @Option(help: "Write the result as JSON here.") var json: String?

    func run() throws {
        BLAS.setThreads(1)
        let list = try TrialList(path: trials)
        let files = list.files
        func embeddings(_ precision: PrecisionChoice) throws -> [String: [Float]] {
            var options = EngineOptions()
            // Every file of the set, as scripts/eval-real measures it.
            options.minimumSpeechSeconds = 0
            options.precision = precision
            let engine = try VoiceprintEngine(modelPath: model, options: options)
            let vectors = parallelMap(count: files.count, threads: ProcessInfo.processInfo.activeProcessorCount) { i in
                try? engine.embed(path: URL(fileURLWithPath: root).appendingPathComponent(files[i]).path).vector
            }
            var out = [String: [Float]]()
            for (file, vector) in zip(files, vectors) {
                guard let vector else { throw ValidationError("\(file): no embedding") }
                out[file] = vector
            }
            return out
        }
        let reference = try embeddings(.float32), reduced = try embeddings(.bf16)
        let cosines = files.map { Scorer.cosine(reference[$0]!, reduced[$0]!) }.sorted()
        func eer(_ e: [String: [Float]]) -> Double {
            var targets = [Float](), impostors = [Float]()
            for t in list.trials {
                let s = Scorer.cosine(e[t.first]!, e[t.second]!)
                if t.isTarget { targets.append(s) } else { impostors.append(s) }
            }
            return VerificationMetrics(targetScores: targets, impostorScores: impostors).equalErrorRate.rate
        }
        let result: [String: Any] = [
            "model": model, "files": files.count, "trials": list.trials.count,
            "bf16_native": InferencePrecision.bfloat16IsNative,
            "cosine_min": Double(cosines.first!), "cosine_p1": Double(cosines[cosines.count / 100]),
            "cosine_median": Double(cosines[cosines.count / 2]),
            "eer_float32": eer(reference), "eer_bf16": eer(reduced),
        ]
        let text = String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
        print(text)
        if let json { try text.write(toFile: json, atomically: true, encoding: .utf8) }
    }
}
