import VoiceprintFeatures

/// The speaker-embedding network (DESIGN.md §2): frame layers, statistics
/// pooling, a linear projection and L2 normalisation.
///
/// Inference (`embed`) only reads parameters and may run on many threads at
/// once; training (`forward(_:mode: .training)` then `backward`) is
/// single-threaded. See the `Layer` contract.
public final class EmbeddingModel: @unchecked Sendable {
    public let architecture: Architecture
    /// Layers in order, with their names in the model file ("frame.0.conv", …).
    public let layers: [(name: String, layer: Layer)]

    public init<G: RandomNumberGenerator>(architecture: Architecture, using rng: inout G) throws(ModelError) {
        try architecture.validate()
        self.architecture = architecture
        var layers = [(String, Layer)]()
        var channels = architecture.inputDimension
        for (i, frame) in architecture.frameLayers.enumerated() {
            layers.append(("frame.\(i).conv", Conv1D(inChannels: channels, outChannels: frame.channels,
                                                      kernel: frame.kernel, dilation: frame.dilation, using: &rng)))
            layers.append(("frame.\(i).relu", ReLU()))
            layers.append(("frame.\(i).bn", BatchNorm(channels: frame.channels)))
            channels = frame.channels
        }
        layers.append(("pool", StatsPooling(channels: channels)))
        layers.append(("embedding.linear", Linear(inFeatures: 2 * channels, outFeatures: architecture.embeddingDimension, using: &rng)))
        layers.append(("embedding.bn", BatchNorm(channels: architecture.embeddingDimension)))
        layers.append(("embedding.norm", L2Normalize()))
        self.layers = layers.map { (name: $0.0, layer: $0.1) }
    }

    /// Every saved tensor by its file name, e.g. "frame.0.conv.weight", in network order.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.flatMap { entry in entry.layer.parameters.map { (name: "\(entry.name).\($0.name)", parameter: $0) } }
    }

    /// Trainable scalars (running statistics excluded).
    public var parameterCount: Int {
        namedParameters.filter(\.parameter.trainable).reduce(0) { $0 + $1.parameter.value.count }
    }

    /// Shortest feature sequence the network accepts.
    public var minimumFrames: Int { architecture.receptiveField }

    /// [B, T, F] features → [B, D] unit-length embeddings.
    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        layers.reduce(input) { $1.layer.forward($0, mode: mode) }
    }

    /// Back-propagates dL/d(embedding) [B, D] through every layer, accumulating
    /// parameter gradients; returns dL/d(input).
    @discardableResult
    public func backward(_ gradient: Tensor) -> Tensor {
        layers.reversed().reduce(gradient) { $1.layer.backward($0) }
    }

    public func zeroGradients() {
        for entry in layers { for p in entry.layer.parameters { p.zeroGradient() } }
    }

    /// The embedding of one utterance's features [T, F], T ≥ `minimumFrames`.
    public func embed(_ features: FeatureMatrix) throws(ModelError) -> [Float] {
        guard features.dimension == architecture.inputDimension else {
            throw .featureDimension(got: features.dimension, expected: architecture.inputDimension)
        }
        guard features.frames >= minimumFrames else {
            throw .tooFewFrames(got: features.frames, minimum: minimumFrames)
        }
        let input = Tensor(shape: [1, features.frames, features.dimension], storage: features.values)
        return forward(input, mode: .inference).storage
    }

    /// Embeddings of many utterances. Utterances of equal length share one
    /// forward pass (larger matrix products); the others run one by one, since
    /// statistics pooling needs no padding and padding would change the statistics.
    public func embed(batch: [FeatureMatrix]) throws(ModelError) -> [[Float]] {
        var results = [[Float]?](repeating: nil, count: batch.count)
        var byLength = [Int: [Int]]()
        for (i, features) in batch.enumerated() { byLength[features.frames, default: []].append(i) }
        for (frames, indices) in byLength {
            if indices.count == 1 {
                results[indices[0]] = try embed(batch[indices[0]])
                continue
            }
            for i in indices {
                guard batch[i].dimension == architecture.inputDimension else {
                    throw .featureDimension(got: batch[i].dimension, expected: architecture.inputDimension)
                }
            }
            guard frames >= minimumFrames else { throw .tooFewFrames(got: frames, minimum: minimumFrames) }
            let input = Tensor(shape: [indices.count, frames, architecture.inputDimension],
                               storage: indices.flatMap { batch[$0].values })
            let output = forward(input, mode: .inference)
            let d = architecture.embeddingDimension
            for (row, i) in indices.enumerated() { results[i] = Array(output.storage[(row * d)..<((row + 1) * d)]) }
        }
        return results.map { $0! }
    }
}
