/// Max pooling over (time, frequency), per channel: [B, T, F, C] → [B, T', F', C]
/// with n' = floor((n + 2p − k)/s) + 1 (or the ceiling, see `Window2D.Axis`).
/// Padding counts as −∞, so a window's maximum is always a real cell; PyTorch
/// limits padding to half the kernel, and so does this layer.
///
/// The computation is `Pooling2DStep` (shared with inference); training also
/// records each output's winning input cell, where backward sends its gradient.
public final class MaxPool2D: Layer {
    /// Input frequency bins F: inference rows carry F·C values and must be split.
    public let frequencyBins: Int
    public let window: Window2D

    /// Training cache: each output's winning input index, and the input shape.
    private var argmax: [Int] = []
    private var inputShape: [Int] = []

    public init(frequencyBins: Int, kernel: (time: Int, freq: Int), stride: (time: Int, freq: Int)? = nil,
                padding: (time: Int, freq: Int) = (0, 0), ceilMode: Bool = false) {
        // PyTorch's default stride is the kernel: windows tile without overlap.
        self.window = Window2D(kernel: kernel, stride: stride ?? kernel, padding: padding, ceilMode: ceilMode)
        self.frequencyBins = frequencyBins
        _ = step.outputBins   // a layer that can never produce a bin is a configuration error: fail at init
    }

    private var step: Pooling2DStep { Pooling2DStep(kind: .maximum, window: window, frequencyBins: frequencyBins) }

    /// Output frequency bins F'.
    public var outputBins: Int { step.outputBins }

    public func inferenceStep() -> any InferenceStep { step }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, frequencyBins, nil], "MaxPool2D input [B, T, F, C]")
        let (batch, frames, channels) = (input.shape[0], input.shape[1], input.shape[3])
        let step = self.step
        let pooled = step.pool(SequenceBatch(values: input.storage, lengths: [Int](repeating: frames, count: batch),
                                             channels: frequencyBins * channels),
                               recordingArgmax: mode == .training)
        let outFrames = pooled.lengths.first ?? window.outputFrames(frames, "MaxPool2D")
        if mode == .training {
            argmax = pooled.argmax
            inputShape = input.shape
        }
        return Tensor(shape: [batch, outFrames, step.outputBins, channels], storage: pooled.values)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(!inputShape.isEmpty, "MaxPool2D.backward without a training forward")
        let (batch, frames, channels) = (inputShape[0], inputShape[1], inputShape[3])
        gradOutput.expectShape([batch, window.outputFrames(frames, "MaxPool2D"), outputBins, channels],
                               "MaxPool2D.backward gradOutput [B, T', F', C]")
        // Added, not assigned: with overlapping windows one cell can win several.
        var gradInput = Tensor(zeros: inputShape)
        gradInput.storage.withUnsafeMutableBufferPointer { dx in
            gradOutput.storage.withUnsafeBufferPointer { g in
                for (o, winner) in argmax.enumerated() { dx[winner] += g[o] }
            }
        }
        return gradInput
    }
}
