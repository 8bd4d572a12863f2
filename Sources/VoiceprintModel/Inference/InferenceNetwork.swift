import CRecurrentKernels
import VoiceprintFeatures

/// The arithmetic of a serving network's recurrent products.
public enum InferencePrecision: String, Sendable, Equatable, CaseIterable {
    /// Float32 everywhere: the reference.
    case float32
    /// Recurrent layers' and 2-D convolutions' products with bfloat16 weights and
    /// inputs and float32 sums (AVX512_BF16). Only where it keeps embeddings within
    /// 0.999 cosine of float32 and the EER within 0.1 point on the real-speech set
    /// (`make check-precision`); everything else stays float32.
    case bfloat16 = "bf16"

    /// Whether this machine runs `bfloat16` in hardware now (else a slow portable loop).
    public static var bfloat16IsNative: Bool { vp_recurrent_kernels_bf16_native() != 0 }
}

/// The embedding network frozen for serving: every layer's inference step with
/// its parameters copied out of the training objects, so a network is an
/// immutable value that any number of threads use at once (DESIGN.md §9:
/// nothing shared is mutated; there is no thread-safety convention to keep).
///
/// Built once per model by `EmbeddingModel.inferenceNetwork()`. Batches of
/// utterances go through in one pass: a recurrent encoder's windows of every
/// utterance are stacked into one [ΣW, frames, F] batch; a TDNN's utterances
/// keep their own lengths (`SequenceBatch`) and share each layer's sgemm; a
/// residual network's utterances go through one after another.
public struct InferenceNetwork: Sendable {
    public let architecture: Architecture
    public let steps: [any InferenceStep]
    /// Shortest feature sequence accepted (see `EmbeddingModel.minimumFrames`).
    public let minimumFrames: Int

    public let precision: InferencePrecision

    public init(architecture: Architecture, steps: [any InferenceStep], minimumFrames: Int, precision: InferencePrecision = .float32) {
        self.precision = precision
        self.architecture = architecture
        self.steps = steps
        self.minimumFrames = minimumFrames
    }

    public var embeddingDimension: Int { architecture.embeddingDimension }

    /// Input frames a pass holds for this utterance: its windows' frames (padding
    /// included) for a recurrent encoder, its own frames otherwise. What a pass's
    /// memory and time grow with.
    public func inputFrames(of features: FeatureMatrix) -> Int {
        guard let window = architecture.window else { return features.frames }
        return EmbeddingModel.windowStarts(frames: features.frames, window).count * window.frames
    }

    /// Runs the steps from `first` on.
    public func forward(_ input: SequenceBatch, from first: Int = 0) -> SequenceBatch {
        steps[first...].reduce(input) { $1.apply($0) }
    }

    /// The embedding of one utterance's features [T, F], T ≥ `minimumFrames`.
    public func embed(_ features: FeatureMatrix) throws(ModelError) -> [Float] {
        try embed(batch: [features])[0]
    }

    /// Unit-length embeddings of several utterances in one pass; each is the one
    /// `embed` gives for it alone, up to float rounding in the matrix products.
    public func embed(batch: [FeatureMatrix]) throws(ModelError) -> [[Float]] {
        for features in batch {
            guard features.dimension == architecture.inputDimension else {
                throw .featureDimension(got: features.dimension, expected: architecture.inputDimension)
            }
            guard features.frames >= minimumFrames else { throw .tooFewFrames(got: features.frames, minimum: minimumFrames) }
        }
        guard !batch.isEmpty else { return [] }
        let d = embeddingDimension
        if architecture.isResidual {
            // One utterance at a time: a 2-D map's activations are F times a TDNN's,
            // and a whole batch's no longer fit in cache (16 at once cost more per
            // utterance than one alone); there is no small matrix product to share.
            return batch.map { features in
                forward(SequenceBatch(values: features.values, lengths: [features.frames],
                                      channels: architecture.inputDimension)).row(0)
            }
        }
        guard let window = architecture.window else {
            let input = SequenceBatch(values: batch.flatMap(\.values), lengths: batch.map(\.frames),
                                      channels: architecture.inputDimension)
            let output = forward(input)
            return (0..<batch.count).map { output.row($0) }
        }
        // Recurrent: every window of every utterance in one batch; each utterance's
        // embedding is the renormalised mean of its windows' (Resemblyzer's embed_utterance).
        let windows = batch.map { EmbeddingModel.windows(of: $0, window) }
        let stacked = SequenceBatch(values: windows.flatMap(\.storage),
                                    lengths: windows.flatMap { [Int](repeating: window.frames, count: $0.shape[0]) },
                                    channels: architecture.inputDimension)
        let output = forward(stacked)
        var row = 0
        return windows.map { w in
            var mean = [Float](repeating: 0, count: d)
            for _ in 0..<w.shape[0] {
                for i in 0..<d { mean[i] += output.values[row * d + i] }
                row += 1
            }
            UnitLengthStep.normalize(&mean, dimension: d, epsilon: 1e-12)
            return mean
        }
    }
}
