/// Batch normalisation over the last (channel) axis of a [B, C] or [B, T, C]
/// tensor: statistics over every row (all items and frames) in training, the
/// running averages in inference.
///
/// ref: Ioffe & Szegedy 2015; running variance is the unbiased batch variance
/// and momentum weighs the new batch, as in PyTorch's BatchNorm1d, so imported
/// weights behave identically.
public final class BatchNorm: Layer, @unchecked Sendable {
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
            var variance = [Double](repeating: 0, count: channels)
            var sum = [Double](repeating: 0, count: channels)
            input.storage.withUnsafeBufferPointer { x in
                for r in 0..<rows { for c in 0..<channels { sum[c] += Double(x[r * channels + c]) } }
                for c in 0..<channels { mean[c] = Float(sum[c] / Double(rows)) }
                for r in 0..<rows {
                    for c in 0..<channels {
                        let d = Double(x[r * channels + c] - mean[c])
                        variance[c] += d * d
                    }
                }
            }
            for c in 0..<channels {
                let biased = variance[c] / Double(rows)
                invStd[c] = Float(1 / (biased + Double(epsilon)).squareRoot())
                runningMean.value[c] = (1 - momentum) * runningMean.value[c] + momentum * mean[c]
                let unbiased = Float(variance[c] / Double(rows - 1))
                runningVariance.value[c] = (1 - momentum) * runningVariance.value[c] + momentum * unbiased
            }
        } else {
            for c in 0..<channels {
                mean[c] = runningMean.value[c]
                invStd[c] = 1 / (runningVariance.value[c] + epsilon).squareRoot()
            }
        }
        var xhat = input
        var output = input
        xhat.storage.withUnsafeMutableBufferPointer { h in
            output.storage.withUnsafeMutableBufferPointer { y in
                gamma.value.storage.withUnsafeBufferPointer { g in
                    beta.value.storage.withUnsafeBufferPointer { b in
                        for r in 0..<rows {
                            let base = r * channels
                            for c in 0..<channels {
                                let n = (h[base + c] - mean[c]) * invStd[c]
                                h[base + c] = n
                                y[base + c] = g[c] * n + b[c]
                            }
                        }
                    }
                }
            }
        }
        if mode == .training {
            normalized = xhat
            inverseStd = invStd
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == normalized.shape, "BatchNorm.backward: gradient \(gradOutput.shape) for input \(normalized.shape)")
        let rows = gradOutput.count / channels
        var sumG = [Float](repeating: 0, count: channels)
        var sumGX = [Float](repeating: 0, count: channels)
        gradOutput.storage.withUnsafeBufferPointer { g in
            normalized.storage.withUnsafeBufferPointer { h in
                for r in 0..<rows {
                    for c in 0..<channels {
                        sumG[c] += g[r * channels + c]
                        sumGX[c] += g[r * channels + c] * h[r * channels + c]
                    }
                }
            }
        }
        for c in 0..<channels {
            beta.gradient[c] += sumG[c]
            gamma.gradient[c] += sumGX[c]
        }
        // dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)), the standard batch-statistics gradient.
        var gradInput = gradOutput
        let n = Float(rows)
        gradInput.storage.withUnsafeMutableBufferPointer { d in
            normalized.storage.withUnsafeBufferPointer { h in
                for r in 0..<rows {
                    for c in 0..<channels {
                        let i = r * channels + c
                        let scale = gamma.value[c] * inverseStd[c]
                        d[i] = scale * (d[i] - sumG[c] / n - h[i] * sumGX[c] / n)
                    }
                }
            }
        }
        return gradInput
    }
}
