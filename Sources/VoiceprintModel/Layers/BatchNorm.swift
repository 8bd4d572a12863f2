/// Batch normalisation over the last (channel) axis of a [B, C] or [B, T, C]
/// tensor: statistics over every row (all items and frames) in training, the
/// running averages in inference.
///
/// ref: Ioffe & Szegedy 2015; running variance is the unbiased batch variance
/// and momentum weighs the new batch, as in PyTorch's BatchNorm1d, so imported
/// weights behave identically.
///
/// The loops run row by row over contiguous channels so that they vectorise;
/// this layer touches every activation four times per step and was a tenth of
/// training time when written channel by channel.
public final class BatchNorm: Layer {
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    public let gamma: Parameter
    public let beta: Parameter
    public let runningMean: Parameter
    public let runningVariance: Parameter
    public var parameters: [Parameter] { [gamma, beta, runningMean, runningVariance] }

    /// Training cache: normalised input and 1/σ per channel.
    private var normalized = Tensor(zeros: [0])
    private var inverseStd: [Float] = []

    /// - Parameters:
    ///   - momentum: weight of the current batch in the running statistics. Default 0.1.
    ///   - epsilon: added to the variance. Default 1e-5.
    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        precondition(channels > 0, "BatchNorm: channels must be positive, got \(channels)")
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        gamma = Parameter(name: "weight", value: Tensor(repeating: 1, shape: [channels]))
        beta = Parameter(name: "bias", value: Tensor(zeros: [channels]))
        runningMean = Parameter(name: "running_mean", value: Tensor(zeros: [channels]), trainable: false)
        runningVariance = Parameter(name: "running_var", value: Tensor(repeating: 1, shape: [channels]), trainable: false)
    }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        precondition(input.rank >= 2 && input.shape.last == channels,
                     "BatchNorm(\(channels)) input: expected [B, \(channels)] or [B, T, \(channels)], got \(input.shape)")
        let rows = input.count / channels
        var mean = [Float](repeating: 0, count: channels)
        var invStd = [Float](repeating: 0, count: channels)
        if mode == .training {
            precondition(rows > 1, "BatchNorm: batch statistics need more than one row, got \(input.shape)")
            var variance = [Float](repeating: 0, count: channels)
            input.storage.withUnsafeBufferPointer { x in
                mean.withUnsafeMutableBufferPointer { m in
                    for r in 0..<rows { Self.add(x.baseAddress! + r * channels, into: m.baseAddress!, count: channels) }
                    for c in 0..<channels { m[c] /= Float(rows) }
                    // Second pass on centred values: E[x²] − E[x]² loses precision in Float.
                    variance.withUnsafeMutableBufferPointer { v in
                        for r in 0..<rows {
                            let row = x.baseAddress! + r * channels
                            for c in 0..<channels {
                                let d = row[c] - m[c]
                                v[c] += d * d
                            }
                        }
                    }
                }
            }
            for c in 0..<channels {
                let biased = variance[c] / Float(rows)
                invStd[c] = 1 / (biased + epsilon).squareRoot()
                runningMean.value[c] = (1 - momentum) * runningMean.value[c] + momentum * mean[c]
                let unbiased = variance[c] / Float(rows - 1)
                runningVariance.value[c] = (1 - momentum) * runningVariance.value[c] + momentum * unbiased
            }
        } else {
            for c in 0..<channels {
                mean[c] = runningMean.value[c]
                invStd[c] = 1 / (runningVariance.value[c] + epsilon).squareRoot()
            }
        }
        var output = Tensor(zeros: input.shape)
        ChannelAffineStep.normalize(input.storage, into: &output.storage, channels: channels, mean: mean, inverseStd: invStd,
                                    gamma: gamma.value.storage, beta: beta.value.storage)
        if mode == .training {
            // x̂ = (x − μ)·σ⁻¹, what backward needs (γ = 1, β = 0 gives exactly it).
            var xhat = Tensor(zeros: input.shape)
            ChannelAffineStep.normalize(input.storage, into: &xhat.storage, channels: channels, mean: mean, inverseStd: invStd,
                                        gamma: [Float](repeating: 1, count: channels), beta: [Float](repeating: 0, count: channels))
            normalized = xhat
            inverseStd = invStd
        }
        return output
    }

    /// The running statistics turned into a per-channel affine map.
    public func inferenceStep() -> any InferenceStep {
        ChannelAffineStep(mean: runningMean.value.storage,
                          inverseStd: runningVariance.value.storage.map { 1 / ($0 + epsilon).squareRoot() },
                          gamma: gamma.value.storage, beta: beta.value.storage)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == normalized.shape, "BatchNorm.backward: gradient \(gradOutput.shape) for input \(normalized.shape)")
        let rows = gradOutput.count / channels
        var sumG = [Float](repeating: 0, count: channels)
        var sumGX = [Float](repeating: 0, count: channels)
        gradOutput.storage.withUnsafeBufferPointer { g in
            normalized.storage.withUnsafeBufferPointer { h in
                sumG.withUnsafeMutableBufferPointer { sg in
                    sumGX.withUnsafeMutableBufferPointer { sgx in
                        for r in 0..<rows {
                            let base = r * channels
                            for c in 0..<channels {
                                sg[c] += g[base + c]
                                sgx[c] += g[base + c] * h[base + c]
                            }
                        }
                    }
                }
            }
        }
        for c in 0..<channels {
            beta.gradient[c] += sumG[c]
            gamma.gradient[c] += sumGX[c]
        }
        // dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)), the standard batch-statistics gradient.
        let n = Float(rows)
        let scale = (0..<channels).map { gamma.value[$0] * inverseStd[$0] }
        let meanG = sumG.map { $0 / n }
        let meanGX = sumGX.map { $0 / n }
        var gradInput = Tensor(zeros: gradOutput.shape)
        gradOutput.storage.withUnsafeBufferPointer { g in
            gradInput.storage.withUnsafeMutableBufferPointer { d in
                normalized.storage.withUnsafeBufferPointer { h in
                    scale.withUnsafeBufferPointer { k in
                        meanG.withUnsafeBufferPointer { mg in
                            meanGX.withUnsafeBufferPointer { mgx in
                                for r in 0..<rows {
                                    let base = r * channels
                                    for c in 0..<channels {
                                        d[base + c] = k[c] * (g[base + c] - mg[c] - h[base + c] * mgx[c])
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return gradInput
    }

    @inline(__always)
    private static func add(_ x: UnsafePointer<Float>, into sum: UnsafeMutablePointer<Float>, count: Int) {
        for c in 0..<count { sum[c] += x[c] }
    }
}
