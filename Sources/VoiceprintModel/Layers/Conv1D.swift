/// Dilated 1-D convolution over time (a TDNN layer), computed as im2col + one
/// sgemm per batch: input [B, T, Cin] → output [B, T − d·(k−1), Cout], no padding,
/// so every output frame sees real input ("valid" convolution, as in x-vectors).
///
/// Weight [Cout, k·Cin]: tap j of output channel o multiplies input frame t + j·d,
/// laid out so that row t of the im2col matrix is the k input rows side by side.
public final class Conv1D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let dilation: Int
    public let weight: Parameter
    public let bias: Parameter
    public var parameters: [Parameter] { [weight, bias] }

    /// Training cache: the im2col matrix [B·T', k·Cin] and the input shape.
    private var columns: [Float] = []
    private var inputShape: [Int] = []

    public init<G: RandomNumberGenerator>(inChannels: Int, outChannels: Int, kernel: Int, dilation: Int = 1,
                                          using rng: inout G) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && dilation > 0,
                     "Conv1D(\(inChannels)→\(outChannels), k\(kernel), d\(dilation)): sizes must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.dilation = dilation
        // He initialisation: the layer feeds a ReLU.
        let fanIn = Float(kernel * inChannels)
        weight = Parameter(name: "weight",
                           value: .uniform(shape: [outChannels, kernel * inChannels], limit: (6 / fanIn).squareRoot(), using: &rng))
        bias = Parameter(name: "bias", value: Tensor(zeros: [outChannels]))
    }

    /// Input frames consumed beyond the output length: d·(k−1).
    public var context: Int { dilation * (kernel - 1) }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, inChannels], "Conv1D(\(inChannels)→\(outChannels)) input [B, T, Cin]")
        let (batch, frames) = (input.shape[0], input.shape[1])
        precondition(frames - context >= 1, "Conv1D: \(frames) frames is shorter than the receptive field \(context + 1)")
        let step = ConvolutionStep(weight: weight.value.storage, bias: bias.value.storage, inChannels: inChannels,
                                   outChannels: outChannels, kernel: kernel, dilation: dilation)
        let (columns, lengths) = step.unroll(SequenceBatch(input))
        let output = Tensor(shape: [batch, frames - context, outChannels],
                            storage: DenseStep.affine(columns, rows: lengths.reduce(0, +), weight: weight.value.storage,
                                                      bias: bias.value.storage, inFeatures: kernel * inChannels,
                                                      outFeatures: outChannels))
        if mode == .training {
            self.columns = columns
            self.inputShape = input.shape
        }
        return output
    }

    public func inferenceStep() -> any InferenceStep {
        ConvolutionStep(weight: weight.value.storage, bias: bias.value.storage, inChannels: inChannels,
                        outChannels: outChannels, kernel: kernel, dilation: dilation)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(!inputShape.isEmpty, "Conv1D.backward without a training forward")
        let (batch, frames) = (inputShape[0], inputShape[1])
        let outFrames = frames - context
        gradOutput.expectShape([batch, outFrames, outChannels], "Conv1D.backward gradOutput")
        let rows = batch * outFrames
        let width = kernel * inChannels
        var gradColumns = [Float](repeating: 0, count: rows * width)
        gradOutput.storage.withUnsafeBufferPointer { g in
            columns.withUnsafeBufferPointer { col in
                // dW += gᵀ · col   [Cout, rows] × [rows, k·Cin]
                weight.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    BLAS.gemm(transA: true, m: outChannels, n: width, k: rows, a: g.baseAddress!,
                              b: col.baseAddress!, beta: 1, c: dw.baseAddress!)
                }
            }
            bias.gradient.storage.withUnsafeMutableBufferPointer { db in
                for r in 0..<rows {
                    for o in 0..<outChannels { db[o] += g[r * outChannels + o] }
                }
            }
            // dcol = g · W   [rows, Cout] × [Cout, k·Cin]
            weight.value.storage.withUnsafeBufferPointer { w in
                gradColumns.withUnsafeMutableBufferPointer { dc in
                    BLAS.gemm(m: rows, n: width, k: outChannels, a: g.baseAddress!, b: w.baseAddress!,
                              c: dc.baseAddress!)
                }
            }
        }
        if kernel == 1 { return Tensor(shape: inputShape, storage: gradColumns) }
        return Tensor(shape: inputShape, storage: col2im(gradColumns, batch: batch, frames: frames, outFrames: outFrames))
    }

    /// Row (b, t) of the result holds input rows t, t+d, …, t+(k−1)d of item b.
    /// The adjoint of im2col: each column block adds back into the input row it came from.
    private func col2im(_ columns: [Float], batch: Int, frames: Int, outFrames: Int) -> [Float] {
        let width = kernel * inChannels
        var x = [Float](repeating: 0, count: batch * frames * inChannels)
        columns.withUnsafeBufferPointer { src in
            x.withUnsafeMutableBufferPointer { dst in
                for b in 0..<batch {
                    for t in 0..<outFrames {
                        let row = src.baseAddress! + (b * outFrames + t) * width
                        for j in 0..<kernel {
                            let to = dst.baseAddress! + (b * frames + t + j * dilation) * inChannels
                            let from = row + j * inChannels
                            for c in 0..<inChannels { to[c] += from[c] }
                        }
                    }
                }
            }
        }
        return x
    }
}
