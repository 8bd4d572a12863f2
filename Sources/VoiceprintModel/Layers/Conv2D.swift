/// 2-D convolution over (time, frequency), the building block of ResNet-style
/// speaker encoders: input [B, T, F, Cin] → output [B, T', F', Cout] with
/// zero padding and n' = floor((n + 2p − k)/s) + 1 on each axis.
///
/// Computed as im2col + one sgemm (`Convolution2DStep`, shared with inference).
/// Weight [Cout, kT·kF·Cin]: tap (i, j) — time offset i, frequency offset j —
/// of input channel c at (i·kF + j)·Cin + c, so one im2col row is the receptive
/// field in the input's own time-major, frequency-then-channel order. (PyTorch
/// stores [Cout, Cin, kH, kW] for [B, C, H, W] input; the SE-Res2Net's input is
/// [B, 1, T, 24], H = time, so an importer maps [Cout, Cin, kT, kF] → [Cout, kT, kF, Cin].
/// Its kernels are square: a wrong permutation would load without a shape error.)
public final class Conv2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    /// Input frequency bins F, fixed per layer: inference rows carry F·Cin
    /// values and must be split.
    public let frequencyBins: Int
    public let window: Window2D
    public let weight: Parameter
    /// nil when the layer has no bias (a BatchNorm usually follows and has one).
    public let bias: Parameter?
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// Training cache: the im2col matrix [B·T'·F', kT·kF·Cin] and the input shape.
    private var columns: [Float] = []
    private var inputShape: [Int] = []

    public init<G: RandomNumberGenerator>(inChannels: Int, outChannels: Int, frequencyBins: Int,
                                          kernel: (time: Int, freq: Int), stride: (time: Int, freq: Int) = (1, 1),
                                          padding: (time: Int, freq: Int) = (0, 0), bias: Bool = true,
                                          using rng: inout G) {
        precondition(inChannels > 0 && outChannels > 0 && frequencyBins > 0,
                     "Conv2D(\(inChannels)→\(outChannels), F \(frequencyBins)): sizes must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.frequencyBins = frequencyBins
        self.window = Window2D(kernel: kernel, stride: stride, padding: padding)
        // Checked here, not at the first forward: a layer that can never produce a bin is a configuration error.
        _ = window.outputBins(frequencyBins, "Conv2D(\(inChannels)→\(outChannels))")
        // He initialisation: the layer feeds a ReLU (through a BatchNorm).
        let fanIn = kernel.time * kernel.freq * inChannels
        weight = Parameter(name: "weight", value: .uniform(shape: [outChannels, fanIn], limit: (6 / Float(fanIn)).squareRoot(),
                                                           using: &rng))
        self.bias = bias ? Parameter(name: "bias", value: Tensor(zeros: [outChannels])) : nil
    }

    /// Output frequency bins F'.
    public var outputBins: Int { step.outputBins }

    private var step: Convolution2DStep {
        Convolution2DStep(weight: weight.value.storage, bias: bias?.value.storage ?? [Float](repeating: 0, count: outChannels),
                          inChannels: inChannels, outChannels: outChannels, frequencyBins: frequencyBins, window: window)
    }

    public func inferenceStep() -> any InferenceStep { step }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, frequencyBins, inChannels], "Conv2D(\(inChannels)→\(outChannels)) input [B, T, F, Cin]")
        let (batch, frames) = (input.shape[0], input.shape[1])
        let step = self.step
        let sequences = SequenceBatch(values: input.storage, lengths: [Int](repeating: frames, count: batch),
                                      channels: frequencyBins * inChannels)
        let (columns, lengths) = step.unroll(sequences)
        let outFrames = lengths.first ?? window.outputFrames(frames, step.name)
        let output = Tensor(shape: [batch, outFrames, step.outputBins, outChannels],
                            storage: DenseStep.affine(columns, rows: batch * outFrames * step.outputBins, weight: step.weight,
                                                      bias: step.bias, inFeatures: step.patchWidth, outFeatures: outChannels))
        if mode == .training {
            self.columns = columns
            self.inputShape = input.shape
        }
        return output
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(!inputShape.isEmpty, "Conv2D.backward without a training forward")
        let step = self.step
        let (batch, frames) = (inputShape[0], inputShape[1])
        let outFrames = window.outputFrames(frames, step.name)
        gradOutput.expectShape([batch, outFrames, step.outputBins, outChannels], "Conv2D.backward gradOutput [B, T', F', Cout]")
        let rows = batch * outFrames * step.outputBins
        let width = step.patchWidth
        var gradColumns = [Float](repeating: 0, count: rows * width)
        gradOutput.storage.withUnsafeBufferPointer { g in
            columns.withUnsafeBufferPointer { col in
                // dW += gᵀ · col   [Cout, rows] × [rows, kT·kF·Cin]
                weight.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    BLAS.gemm(transA: true, m: outChannels, n: width, k: rows, a: g.baseAddress!,
                              b: col.baseAddress!, beta: 1, c: dw.baseAddress!)
                }
            }
            bias?.gradient.storage.withUnsafeMutableBufferPointer { db in
                for r in 0..<rows {
                    for o in 0..<outChannels { db[o] += g[r * outChannels + o] }
                }
            }
            // dcol = g · W   [rows, Cout] × [Cout, kT·kF·Cin]
            weight.value.storage.withUnsafeBufferPointer { w in
                gradColumns.withUnsafeMutableBufferPointer { dc in
                    BLAS.gemm(m: rows, n: width, k: outChannels, a: g.baseAddress!, b: w.baseAddress!, c: dc.baseAddress!)
                }
            }
        }
        if step.isPointwise { return Tensor(shape: inputShape, storage: gradColumns) }
        return Tensor(shape: inputShape, storage: col2im(gradColumns, step: step, lengths: [Int](repeating: frames, count: batch)))
    }

    /// The adjoint of im2col: every tap's gradient adds back into the input
    /// cell it was copied from; taps in the padding had no cell and drop out.
    private func col2im(_ columns: [Float], step: Convolution2DStep, lengths: [Int]) -> [Float] {
        let c = inChannels
        var x = [Float](repeating: 0, count: lengths.reduce(0, +) * frequencyBins * c)
        columns.withUnsafeBufferPointer { src in
            x.withUnsafeMutableBufferPointer { dst in
                step.forEachTap(inputLengths: lengths) { column, cell in
                    for k in 0..<c { dst[cell + k] += src[column + k] }
                }
            }
        }
        return x
    }
}
