/// The `se-res2net` family's layers (Architecture+Residual.swift), named after
/// the reference state dict (docs/se-res2net.md §4) so that an import is a
/// renaming only where our head differs: "conv1.0", "conv1.1", … "bn1",
/// "layer{s}.{b}", "stats_pooling", then our common head "embedding.linear",
/// "embedding.bn" (their projection.fc and projection.bn) and "embedding.norm".
extension EmbeddingModel {
    static func residualLayers<G: RandomNumberGenerator>(_ architecture: Architecture,
                                                         using rng: inout G) -> [(String, Layer)] {
        guard let residual = architecture.residual else { preconditionFailure("validated: a residual description") }
        var layers: [(String, Layer)] = [("input", ChannelAxis())]
        var bins = architecture.inputDimension, channels = 1
        // Stem: PyTorch's nn.Sequential indices conv1.{0,3,6} with BN at {1,4} and
        // the last BN outside it as "bn1"; each BN → ReLU.
        for (i, out) in residual.stem.enumerated() {
            let conv = Conv2D(inChannels: channels, outChannels: out, frequencyBins: bins, kernel: (3, 3),
                              padding: (1, 1), bias: false, using: &rng)
            layers.append(("conv1.\(3 * i)", conv))
            let last = i == residual.stem.count - 1
            layers.append((last ? "bn1" : "conv1.\(3 * i + 1)", BatchNorm(channels: out)))
            layers.append((last ? "relu" : "conv1.\(3 * i + 2)", ReLU()))
            channels = out
        }
        let pool = MaxPool2D(frequencyBins: bins, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        layers.append(("maxpool", pool))
        bins = pool.outputBins
        for (s, stage) in residual.stages.enumerated() {
            for b in 0..<stage.blocks {
                let block = Res2NetBlock(inChannels: channels, outChannels: stage.channels, width: stage.width,
                                         scale: residual.scale, stride: b == 0 ? stage.stride : 1,
                                         type: b == 0 ? .stage : .normal, frequencyBins: bins,
                                         seReduction: residual.seReduction, using: &rng)
                layers.append(("layer\(s + 1).\(b)", block))
                bins = block.outputBins
                channels = stage.channels
            }
        }
        layers.append(("stats_pooling", AttentiveStatisticsPooling(channels: channels, attention: residual.attention,
                                                                   using: &rng)))
        layers.append(("embedding.linear", Linear(inFeatures: 2 * channels, outFeatures: architecture.embeddingDimension,
                                                  using: &rng)))
        layers.append(("embedding.bn", BatchNorm(channels: architecture.embeddingDimension)))
        return layers
    }
}
