/// Statistics pooling: [B, T, C] → [B, 2C], the mean and the standard deviation
/// of each channel over time, concatenated (mean first). Turns a variable-length
/// utterance into a fixed-size vector (Snyder et al. 2018, x-vectors).
public final class StatsPooling: Layer {
    public let channels: Int
    /// Added to the variance before the square root, so silence-like constant
    /// channels have a finite gradient. Default 1e-5.
    public let epsilon: Float

    /// Training cache: input, per-item means and standard deviations.
    private var input = Tensor(zeros: [0])
    private var means: [Float] = []
    private var deviations: [Float] = []

    public init(channels: Int, epsilon: Float = 1e-5) {
        self.channels = channels
        self.epsilon = epsilon
    }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, channels], "StatsPooling(\(channels)) input [B, T, C]")
        let (batch, frames) = (input.shape[0], input.shape[1])
        precondition(frames >= 1, "StatsPooling: no frames to pool")
        let pooled = PoolingStep.pool(SequenceBatch(input), epsilon: epsilon)
        let output = Tensor(shape: [batch, 2 * channels], storage: pooled.output)
        if mode == .training {
            self.input = input
            self.means = pooled.means
            self.deviations = pooled.deviations
        }
        return output
    }

    public func inferenceStep() -> any InferenceStep { PoolingStep(epsilon: epsilon) }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (batch, frames) = (input.shape[0], input.shape[1])
        gradOutput.expectShape([batch, 2 * channels], "StatsPooling.backward gradOutput")
        var gradInput = Tensor(zeros: input.shape)
        let n = Float(frames)
        // ∂mean/∂x_t = 1/T; ∂σ/∂x_t = (x_t − mean) / (T·σ).
        gradInput.storage.withUnsafeMutableBufferPointer { d in
            input.storage.withUnsafeBufferPointer { x in
                for b in 0..<batch {
                    for c in 0..<channels {
                        let gMean = gradOutput[b * 2 * channels + c] / n
                        let gStd = gradOutput[b * 2 * channels + channels + c] / (n * deviations[b * channels + c])
                        let mean = means[b * channels + c]
                        for t in 0..<frames {
                            let i = (b * frames + t) * channels + c
                            d[i] = gMean + gStd * (x[i] - mean)
                        }
                    }
                }
            }
        }
        return gradInput
    }
}
