import VoiceprintFeatures

/// The speaker-embedding network (DESIGN.md §2): frame layers, statistics
/// pooling, a linear projection and L2 normalisation; in the recurrent family,
/// stacked LSTMs read over fixed windows; in the residual family, a 2-D
/// SE-Res2Net with attentive pooling (see `Architecture`).
///
/// This object is the training view (layers with parameters and caches, used
/// from one thread); `inferenceNetwork()` gives the serving view, an immutable
/// value any number of threads share.
public final class EmbeddingModel {
    public let architecture: Architecture
    /// Layers in order, with their names in the model file ("frame.0.conv", …).
    public let layers: [(name: String, layer: Layer)]

    public init<G: RandomNumberGenerator>(architecture: Architecture, using rng: inout G) throws(ModelError) {
        try architecture.validate()
        guard !architecture.isFusion else {
            throw .invalidArchitecture("a fusion has no network of its own: its encoders are built from its members")
        }
        self.architecture = architecture
        var layers = [(String, Layer)]()
        let d = architecture.embeddingDimension
        if architecture.isResidual {
            layers = Self.residualLayers(architecture, using: &rng)
        } else if architecture.isRecurrent {
            var size = architecture.inputDimension
            for (i, hidden) in architecture.recurrentLayers.enumerated() {
                layers.append(("lstm.\(i)", LSTM(inputSize: size, hiddenSize: hidden, using: &rng)))
                size = hidden
            }
            layers.append(("last", LastStep()))
            layers.append(("embedding.linear", Linear(inFeatures: size, outFeatures: d, using: &rng)))
            if architecture.projectionReLU { layers.append(("embedding.relu", ReLU())) }
        } else {
            var channels = architecture.inputDimension
            for (i, frame) in architecture.frameLayers.enumerated() {
                layers.append(("frame.\(i).conv", Conv1D(inChannels: channels, outChannels: frame.channels,
                                                          kernel: frame.kernel, dilation: frame.dilation, using: &rng)))
                layers.append(("frame.\(i).relu", ReLU()))
                layers.append(("frame.\(i).bn", BatchNorm(channels: frame.channels)))
                channels = frame.channels
            }
            layers.append(("pool", StatsPooling(channels: channels)))
            layers.append(("embedding.linear", Linear(inFeatures: 2 * channels, outFeatures: d, using: &rng)))
            layers.append(("embedding.bn", BatchNorm(channels: d)))
        }
        layers.append(("embedding.norm", L2Normalize()))
        self.layers = layers.map { (name: $0.0, layer: $0.1) }
    }

    /// Layers before the projection head ("embedding.*"): what fine-tuning may freeze.
    public var encoderLayerCount: Int {
        layers.firstIndex { $0.name.hasPrefix("embedding.") } ?? layers.count
    }

    /// Every saved tensor by its file name, e.g. "frame.0.conv.weight", in network order.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.flatMap { entry in entry.layer.parameters.map { (name: "\(entry.name).\($0.name)", parameter: $0) } }
    }

    /// Trainable scalars (running statistics excluded).
    public var parameterCount: Int {
        namedParameters.filter(\.parameter.trainable).reduce(0) { $0 + $1.parameter.value.count }
    }

    /// Shortest feature sequence the network accepts. A recurrent encoder pads
    /// short input to a window, so any length works; a tenth of a window keeps
    /// it from embedding a click.
    public var minimumFrames: Int {
        if let window = architecture.window { return max(1, window.frames / 10) }
        // Any length gives an output frame; 16 frames (one after the network's four halvings) avoids embedding a click.
        if architecture.isResidual { return 16 }
        return architecture.receptiveField
    }

    /// [B, T, F] features → [B, D] unit-length embeddings. The first `frozen`
    /// layers run in inference mode (nothing cached, running statistics used):
    /// fine-tuning a head on a fixed encoder.
    public func forward(_ input: Tensor, mode: ForwardMode, frozen: Int = 0) -> Tensor {
        layers.enumerated().reduce(input) { $1.element.layer.forward($0, mode: $1.offset < frozen ? .inference : mode) }
    }

    /// Back-propagates dL/d(embedding) [B, D] through every layer after the
    /// first `frozen`, accumulating parameter gradients; returns dL/d(input of
    /// the first layer not frozen).
    @discardableResult
    public func backward(_ gradient: Tensor, frozen: Int = 0) -> Tensor {
        layers[frozen...].reversed().reduce(gradient) { $1.layer.backward($0) }
    }

    public func zeroGradients() {
        for entry in layers { for p in entry.layer.parameters { p.zeroGradient() } }
    }

    /// The network with its current parameters, frozen for inference: build it
    /// once and share it (it is an immutable value); build a new one after training steps.
    /// `precision` applies to recurrent layers (the others have no reduced-precision path).
    public func inferenceNetwork(precision: InferencePrecision = .float32) -> InferenceNetwork {
        var steps = [any InferenceStep](), stack = [RecurrentStep]()
        for entry in layers {
            if let lstm = entry.layer as? LSTM {
                stack.append(lstm.recurrentStep(precision: precision))
                continue
            }
            if !stack.isEmpty { steps.append(RecurrentStack(stack)); stack = [] }
            steps.append(entry.layer.inferenceStep())
        }
        if !stack.isEmpty { steps.append(RecurrentStack(stack)) }
        steps = Self.foldingNormalizations(steps)
        if precision == .bfloat16 {
            // 2-D convolutions take the same bf16 products as the recurrent layers.
            steps = steps.map { ($0 as? Convolution2DStep)?.reducingPrecision() ?? ($0 as? Res2NetBlockStep)?.reducingPrecision() ?? $0 }
        }
        return InferenceNetwork(architecture: architecture, steps: steps, minimumFrames: minimumFrames, precision: precision)
    }

    /// Each 2-D convolution followed by its BatchNorm becomes one convolution,
    /// which also applies the ReLU that follows, if any (one pass over the output fewer).
    static func foldingNormalizations(_ steps: [any InferenceStep]) -> [any InferenceStep] {
        var result = [any InferenceStep]()
        var i = 0
        while i < steps.count {
            if i + 1 < steps.count, let folded = Convolution2DStep.fold(steps[i], steps[i + 1]) {
                let rectified = i + 2 < steps.count && steps[i + 2] is RectifierStep
                result.append(rectified ? folded.rectifying() : folded)
                i += rectified ? 3 : 2
            } else {
                result.append(steps[i])
                i += 1
            }
        }
        return result
    }

    /// The embedding of one utterance's features [T, F], T ≥ `minimumFrames`
    /// (one-off use, e.g. validation during training; serving keeps an `InferenceNetwork`).
    public func embed(_ features: FeatureMatrix) throws(ModelError) -> [Float] {
        try inferenceNetwork().embed(features)
    }

    /// Embeddings of many utterances in one pass (`InferenceNetwork.embed(batch:)`).
    public func embed(batch: [FeatureMatrix]) throws(ModelError) -> [[Float]] {
        try inferenceNetwork().embed(batch: batch)
    }

    /// The windows a recurrent encoder reads, as one [W, frames, F] batch.
    ///
    /// ref: Resemblyzer VoiceEncoder.compute_partial_slices, counted in frames:
    /// starts 0, step, 2·step, … while start < max(1, T − frames + step + 1);
    /// the last window is dropped when under `minimumCoverage` of it holds
    /// frames and it is not the only one; frames past the end are zeros
    /// (what zero samples give through a power spectrum).
    public static func windows(of features: FeatureMatrix, _ window: Architecture.Window) -> Tensor {
        let (total, f) = (features.frames, features.dimension)
        let starts = windowStarts(frames: total, window)
        var values = [Float](repeating: 0, count: starts.count * window.frames * f)
        for (w, start) in starts.enumerated() {
            let available = max(0, min(window.frames, total - start))
            guard available > 0 else { continue }
            let from = start * f, to = w * window.frames * f
            for i in 0..<(available * f) { values[to + i] = features.values[from + i] }
        }
        return Tensor(shape: [starts.count, window.frames, f], storage: values)
    }

    /// The first frame of each window over `frames` frames (see `windows(of:_:)`).
    public static func windowStarts(frames total: Int, _ window: Architecture.Window) -> [Int] {
        var starts = Array(stride(from: 0, to: max(1, total - window.frames + window.step + 1), by: window.step))
        if starts.count > 1, Double(total - starts.last!) / Double(window.frames) < window.minimumCoverage {
            starts.removeLast()
        }
        return starts
    }
}
