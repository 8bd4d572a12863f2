/// Squeeze-and-excitation block of an SE-ResNet: [B, T, F, C] → [B, T, F, C],
/// each item's channels rescaled by gates computed from that item's channel
/// means over time and frequency: s = σ(W₂·ReLU(W₁·mean + b₁) + b₂), y = x ⊙ s.
/// W₁ [C/r, C], W₂ [C, C/r]. The computation is `SqueezeExcitationStep`
/// (shared with inference).
public final class SqueezeExcitation: Layer {
    public let channels: Int
    /// C/r: the bottleneck width.
    public let bottleneck: Int
    public let reduceWeight: Parameter
    public let reduceBias: Parameter
    public let expandWeight: Parameter
    public let expandBias: Parameter
    public var parameters: [Parameter] { [reduceWeight, reduceBias, expandWeight, expandBias] }

    /// Training cache: the input, per-item means, hidden activations (after the ReLU) and gates.
    private var input = Tensor(zeros: [0])
    private var means: [Float] = []
    private var hidden: [Float] = []
    private var scales: [Float] = []

    public init<G: RandomNumberGenerator>(channels: Int, reduction: Int, using rng: inout G) {
        precondition(channels > 0 && reduction > 0 && channels % reduction == 0,
                     "SqueezeExcitation(\(channels), reduction \(reduction)): the reduction must divide the channels")
        self.channels = channels
        self.bottleneck = channels / reduction
        // He for the layer feeding the ReLU, Glorot for the one feeding the sigmoid.
        reduceWeight = Parameter(name: "reduce.weight", value: .uniform(shape: [bottleneck, channels],
                                                                        limit: (6 / Float(channels)).squareRoot(), using: &rng))
        reduceBias = Parameter(name: "reduce.bias", value: Tensor(zeros: [bottleneck]))
        expandWeight = Parameter(name: "expand.weight", value: .uniform(shape: [channels, bottleneck],
                                                                        limit: (6 / Float(channels + bottleneck)).squareRoot(),
                                                                        using: &rng))
        expandBias = Parameter(name: "expand.bias", value: Tensor(zeros: [channels]))
    }

    var step: SqueezeExcitationStep {
        SqueezeExcitationStep(reduceWeight: reduceWeight.value.storage, reduceBias: reduceBias.value.storage,
                              expandWeight: expandWeight.value.storage, expandBias: expandBias.value.storage,
                              channels: channels, bottleneck: bottleneck)
    }

    public func inferenceStep() -> any InferenceStep { step }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, nil, channels], "SqueezeExcitation(\(channels)) input [B, T, F, C]")
        let (batch, frames, bins) = (input.shape[0], input.shape[1], input.shape[2])
        precondition(frames * bins > 0, "SqueezeExcitation: input \(input.shape) has nothing to squeeze")
        let step = self.step
        let cells = [Int](repeating: frames * bins, count: batch)
        let means = step.squeeze(input.storage, cells: cells)
        let gates = step.excite(means)
        var output = input
        SqueezeExcitationStep.scale(&output.storage, cells: cells, channels: channels, by: gates.scales)
        if mode == .training {
            self.input = input
            self.means = means
            self.hidden = gates.hidden
            self.scales = gates.scales
        }
        return output
    }

    /// y = x ⊙ s(mean(x)): x reaches y directly (times s) and through the
    /// gates, whose gradient flows back through the sigmoid, W₂, the ReLU, W₁
    /// and the mean, to land evenly (1/(T·F)) on every cell of the item.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(input.rank == 4, "SqueezeExcitation.backward without a training forward")
        gradOutput.expectShape(input.shape, "SqueezeExcitation.backward gradOutput [B, T, F, C]")
        let batch = input.shape[0], cells = input.shape[1] * input.shape[2]
        let (c, h) = (channels, bottleneck)
        // ∂L/∂s[b, c] = Σ over the item's cells of g·x; then through the sigmoid: s(1 − s).
        var gradGate = [Float](repeating: 0, count: batch * c)
        for b in 0..<batch {
            var sum = [Double](repeating: 0, count: c)
            for cell in 0..<cells {
                let base = (b * cells + cell) * c
                for ch in 0..<c { sum[ch] += Double(gradOutput[base + ch]) * Double(input[base + ch]) }
            }
            for ch in 0..<c {
                let s = scales[b * c + ch]
                gradGate[b * c + ch] = Float(sum[ch]) * s * (1 - s)
            }
        }
        // Expand layer: dW₂ += gateᵀ·hidden, db₂ += Σ gate, dhidden = gate·W₂, zeroed where the ReLU was off.
        var gradHidden = [Float](repeating: 0, count: batch * h)
        Linear.affineBackward(gradOutput: gradGate, input: hidden, rows: batch, inFeatures: h, outFeatures: c,
                            weight: expandWeight, bias: expandBias, gradInput: &gradHidden)
        for i in 0..<gradHidden.count where hidden[i] <= 0 { gradHidden[i] = 0 }
        // Reduce layer, then the mean spreads 1/(T·F) of each channel's gradient over the cells.
        var gradMeans = [Float](repeating: 0, count: batch * c)
        Linear.affineBackward(gradOutput: gradHidden, input: means, rows: batch, inFeatures: c, outFeatures: h,
                            weight: reduceWeight, bias: reduceBias, gradInput: &gradMeans)
        var gradInput = gradOutput
        for b in 0..<batch {
            for cell in 0..<cells {
                let base = (b * cells + cell) * c
                for ch in 0..<c {
                    gradInput[base + ch] = gradOutput[base + ch] * scales[b * c + ch] + gradMeans[b * c + ch] / Float(cells)
                }
            }
        }
        return gradInput
    }
}
