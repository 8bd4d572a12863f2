/// The shape of an embedding network, recorded in the model file's metadata
/// (`architecture`) so that a file rebuilds exactly the network that wrote it.
///
/// Network: for each frame layer, Conv1D → ReLU → BatchNorm (x-vector TDNN
/// order); statistics pooling (mean ‖ std); Linear → BatchNorm → L2 normalise.
public struct Architecture: Codable, Sendable, Equatable {
    public struct FrameLayer: Codable, Sendable, Equatable {
        public var channels: Int
        public var kernel: Int
        public var dilation: Int

        public init(channels: Int, kernel: Int, dilation: Int) {
            self.channels = channels
            self.kernel = kernel
            self.dilation = dilation
        }
    }

    /// Name recorded in the file; loading refuses a family it does not know.
    public var family: String = "tdnn-stats"
    /// Feature dimension at the input (80 log-mel bands by default).
    public var inputDimension: Int
    public var frameLayers: [FrameLayer]
    /// Size of the L2-normalised embedding.
    public var embeddingDimension: Int

    public init(inputDimension: Int, frameLayers: [FrameLayer], embeddingDimension: Int) {
        self.inputDimension = inputDimension
        self.frameLayers = frameLayers
        self.embeddingDimension = embeddingDimension
    }

    /// The default: a compact x-vector-style TDNN. Five frame layers with a
    /// 15-frame receptive field, 192 channels (576 before pooling), a 192-d
    /// embedding: about 0.65 M parameters and 0.26 GFLOP for 3 s of speech, so
    /// one core embeds 3 s in about 4 ms. (256/768 channels cost 7.5 ms.)
    public static let standard = Architecture(
        inputDimension: 80,
        frameLayers: [
            FrameLayer(channels: 192, kernel: 5, dilation: 1),
            FrameLayer(channels: 192, kernel: 3, dilation: 2),
            FrameLayer(channels: 192, kernel: 3, dilation: 3),
            FrameLayer(channels: 192, kernel: 1, dilation: 1),
            FrameLayer(channels: 576, kernel: 1, dilation: 1),
        ],
        embeddingDimension: 192)

    /// Frames of input that produce one frame after the last frame layer: the
    /// shortest input the network accepts.
    public var receptiveField: Int {
        1 + frameLayers.reduce(0) { $0 + $1.dilation * ($1.kernel - 1) }
    }

    /// Channels entering statistics pooling.
    public var pooledChannels: Int { frameLayers.last?.channels ?? inputDimension }

    public func validate() throws(ModelError) {
        func fail(_ what: String) -> ModelError { .invalidArchitecture(what) }
        guard family == "tdnn-stats" else { throw fail("unknown family \"\(family)\"; expected \"tdnn-stats\"") }
        guard inputDimension > 0 else { throw fail("inputDimension \(inputDimension) must be positive") }
        guard !frameLayers.isEmpty else { throw fail("at least one frame layer is required") }
        for (i, layer) in frameLayers.enumerated() {
            guard layer.channels > 0, layer.kernel > 0, layer.dilation > 0 else {
                throw fail("frame layer \(i): channels \(layer.channels), kernel \(layer.kernel), dilation \(layer.dilation) must all be positive")
            }
        }
        guard embeddingDimension > 0 else { throw fail("embeddingDimension \(embeddingDimension) must be positive") }
    }
}
