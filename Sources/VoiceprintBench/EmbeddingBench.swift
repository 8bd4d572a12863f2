import ArgumentParser
import Foundation
import CRecurrentKernels
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

/// Embedding latency on one core: milliseconds per utterance of a given length
/// with OpenBLAS single-threaded, as in the daemon's workers.
struct EmbeddingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embedding", abstract: "Milliseconds per 3 s utterance through an embedding network (one thread).")

    enum Network: String, ExpressibleByArgument, CaseIterable {
        case tdnn, ge2e
        case seRes2Net = "se-res2net"

        var architecture: Architecture {
            switch self {
            case .tdnn: return .standard
            case .ge2e: return .ge2e
            case .seRes2Net: return .seRes2Net50
            }
        }
    }

    @Option(help: "Utterance length in seconds of speech (100 frames per second).")
    var seconds: Double = 3
    @Option(help: "Timed repetitions (after warm-up); the median is reported.")
    var repeats: Int = 50
    @Option(help: "Write the measurements as JSON here.")
    var json: String?
    @Option(help: "Network: tdnn (our Architecture.standard), ge2e (the imported 3 × LSTM 256 encoder) or se-res2net (the imported SE-Res2Net50).")
    var network: Network = .tdnn

    func run() throws {
        BLAS.setThreads(1)
        var rng = SeededGenerator(seed: 1)
        let model = try EmbeddingModel(architecture: network.architecture, using: &rng)
        // What serving uses: the frozen network, built once.
        let inference = model.inferenceNetwork()
        let frames = Int(seconds * 100), dimension = model.architecture.inputDimension
        let features = FeatureMatrix(frames: frames, dimension: dimension,
                                     values: (0..<(frames * dimension)).map { _ in Float(rng.gaussian()) })
        var results = [Measurement]()
        let label = String(format: "%.0f s", seconds) + [Network.tdnn: "", .ge2e: " (GE2E)", .seRes2Net: " (SE-Res2Net50)"][network]!
        let batch = [FeatureMatrix](repeating: features, count: 16)
        // Every kernel level the CPU has, best first (the TDNN has no recurrent kernel: one level).
        let best = network == .ge2e ? Int(vp_recurrent_kernels_best_level()) : 0
        for level in stride(from: best, through: 0, by: -1) {
            vp_recurrent_kernels_set_level(Int32(level))
            defer { vp_recurrent_kernels_set_level(VP_KERNELS_AUTO) }
            let kernels = network == .ge2e ? ", \(String(cString: vp_recurrent_kernels_name(Int32(level)))) kernels" : ""
            results.append(try Measurement.time("embed one \(label) utterance (\(frames) frames), one thread\(kernels)", work: 1,
                                                unit: .milliseconds, repeats: repeats, warmup: 5) { _ = try inference.embed(features) })
            results.append(try Measurement.time("embed 16 × \(label) in one batch, per utterance, one thread\(kernels)", work: 16,
                                                unit: .milliseconds, repeats: max(3, repeats / 8)) { _ = try inference.embed(batch: batch) })
        }
        // What precision = auto serves where the CPU has AVX512_BF16.
        if network != .tdnn, InferencePrecision.bfloat16IsNative {
            let reduced = model.inferenceNetwork(precision: .bfloat16)
            results.append(try Measurement.time("embed one \(label) utterance (\(frames) frames), one thread, avx512 bf16 kernels", work: 1,
                                                unit: .milliseconds, repeats: repeats, warmup: 5) { _ = try reduced.embed(features) })
            results.append(try Measurement.time("embed 16 × \(label) in one batch, per utterance, one thread, avx512 bf16 kernels", work: 16,
                                                unit: .milliseconds, repeats: max(3, repeats / 8)) { _ = try reduced.embed(batch: batch) })
        }
        print("\(network.rawValue) architecture: \(model.parameterCount) parameters")
        for r in results { print(r.line) }
        try Measurement.save(results, to: json)
    }
}
