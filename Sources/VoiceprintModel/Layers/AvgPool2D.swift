/// Average pooling over (time, frequency), per channel: [B, T, F, C] → [B, T', F', C],
/// with PyTorch's `ceil_mode` and `count_include_pad` semantics:
///
/// - ceil mode rounds the window count up, keeping the extra window only if it
///   starts inside the input (or the near padding): see `Window2D.Axis`;
/// - count_include_pad true divides by the window size counting padding cells
///   but not the ceil-mode overhang past the padding; false divides by the
///   number of real input cells in the window.
///
/// The computation is `Pooling2DStep` (shared with inference).
public final class AvgPool2D: Layer {
    /// Input frequency bins F: inference rows carry F·C values and must be split.
    public let frequencyBins: Int
    public let window: Window2D
    public let countIncludePad: Bool

    /// Training cache: the input shape (the windows are recomputed from it).
    private var inputShape: [Int] = []

    /// Defaults as PyTorch's AvgPool2d: stride = kernel, no padding, floor mode,
    /// padding counted in the divisor.
    public init(frequencyBins: Int, kernel: (time: Int, freq: Int), stride: (time: Int, freq: Int)? = nil,
                padding: (time: Int, freq: Int) = (0, 0), ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.window = Window2D(kernel: kernel, stride: stride ?? kernel, padding: padding, ceilMode: ceilMode)
        self.frequencyBins = frequencyBins
        self.countIncludePad = countIncludePad
        _ = step.outputBins   // a layer that can never produce a bin is a configuration error: fail at init
    }

    var step: Pooling2DStep {
        Pooling2DStep(kind: .average(countIncludePad: countIncludePad), window: window, frequencyBins: frequencyBins)
    }

    /// Output frequency bins F'.
    public var outputBins: Int { step.outputBins }

    public func inferenceStep() -> any InferenceStep { step }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, frequencyBins, nil], "AvgPool2D input [B, T, F, C]")
        let (batch, frames, channels) = (input.shape[0], input.shape[1], input.shape[3])
        let step = self.step
        let pooled = step.pool(SequenceBatch(values: input.storage, lengths: [Int](repeating: frames, count: batch),
                                             channels: frequencyBins * channels),
                               recordingArgmax: false)
        let outFrames = pooled.lengths.first ?? window.outputFrames(frames, "AvgPool2D")
        if mode == .training { inputShape = input.shape }
        return Tensor(shape: [batch, outFrames, step.outputBins, channels], storage: pooled.values)
    }

    /// Each output's gradient spread evenly, 1/divisor, over the real cells of its
    /// window: the windows and divisors come from the same `Window2D.Axis.cells`
    /// and `Pooling2DStep.divisor` as the forward pass.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(!inputShape.isEmpty, "AvgPool2D.backward without a training forward")
        let (batch, frames, channels) = (inputShape[0], inputShape[1], inputShape[3])
        let bins = frequencyBins, outBins = outputBins
        let outFrames = window.outputFrames(frames, "AvgPool2D")
        gradOutput.expectShape([batch, outFrames, outBins, channels], "AvgPool2D.backward gradOutput [B, T', F', C]")
        var gradInput = Tensor(zeros: inputShape)
        gradInput.storage.withUnsafeMutableBufferPointer { dx in
            gradOutput.storage.withUnsafeBufferPointer { g in
                for b in 0..<batch {
                    for to in 0..<outFrames {
                        let (times, paddedTimes) = window.time.cells(to, of: frames)
                        for fo in 0..<outBins {
                            let (freqs, paddedFreqs) = window.frequency.cells(fo, of: bins)
                            let divisor = Pooling2DStep.divisor(times, paddedTimes, freqs, paddedFreqs,
                                                                countIncludePad: countIncludePad)
                            let out = ((b * outFrames + to) * outBins + fo) * channels
                            for t in times {
                                for f in freqs {
                                    let cell = ((b * frames + t) * bins + f) * channels
                                    for ch in 0..<channels { dx[cell + ch] += g[out + ch] / Float(divisor) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return gradInput
    }
}
