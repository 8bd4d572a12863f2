import CRecurrentKernels
/// 2-D convolution over (time, frequency) with zero padding (`Conv2D`), on
/// sequences of any lengths.
///
/// A row of the batch is one time frame holding F·Cin values, frequency-major
/// (bin f's channels at f·Cin). Each sequence is unrolled (im2col) on its own,
/// so no window reaches into a neighbouring sequence and time padding is zeros
/// at every sequence's own ends; then every window of every sequence goes
/// through one sgemm. The product [Σ T'·F', Cout] is already the output batch
/// [Σ T', F'·Cout], because output bin f' of frame t' is row t'·F' + f'.
public struct Convolution2DStep: InferenceStep {
    public let weight: [Float]   // [Cout, kT·kF·Cin], tap (i, j) of channel c at (i·kF + j)·Cin + c
    public let bias: [Float]     // [Cout]; zeros when the layer has no bias
    public let inChannels: Int
    public let outChannels: Int
    /// Input frequency bins F: a row's F·Cin values cannot be split without it.
    public let frequencyBins: Int
    public let window: Window2D
    /// Serving only: a ReLU on the output, applied while the output is still in
    /// cache (`EmbeddingModel.foldingNormalizations` sets it for conv → BN → ReLU).
    public let rectifies: Bool
    /// Serving only: the weights packed as bfloat16 for `vp_panel_gemm_bf16`, when the
    /// network runs in `InferencePrecision.bfloat16` (`reducingPrecision()`); nil in float32.
    let reducedWeights: [UInt16]?

    public init(weight: [Float], bias: [Float], inChannels: Int, outChannels: Int, frequencyBins: Int, window: Window2D,
                rectifies: Bool = false) {
        self.init(weight: weight, bias: bias, inChannels: inChannels, outChannels: outChannels, frequencyBins: frequencyBins,
                  window: window, rectifies: rectifies, reducedWeights: nil)
    }

    init(weight: [Float], bias: [Float], inChannels: Int, outChannels: Int, frequencyBins: Int, window: Window2D,
         rectifies: Bool, reducedWeights: [UInt16]?) {
        precondition(weight.count == outChannels * window.time.kernel * window.frequency.kernel * inChannels,
                     "Conv2D(\(inChannels)→\(outChannels), \(window.description)): weight has \(weight.count) values")
        precondition(bias.count == outChannels, "Conv2D(\(inChannels)→\(outChannels)): bias has \(bias.count) values")
        self.weight = weight
        self.bias = bias
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.frequencyBins = frequencyBins
        self.window = window
        self.rectifies = rectifies
        self.reducedWeights = reducedWeights
    }

    var name: String { "Conv2D(\(inChannels)→\(outChannels), F \(frequencyBins), \(window.description))" }

    /// Output frequency bins F'.
    public var outputBins: Int { window.outputBins(frequencyBins, name) }

    /// Values in one im2col row: the whole receptive field of one output cell.
    public var patchWidth: Int { window.time.kernel * window.frequency.kernel * inChannels }

    /// A 1×1, stride-1, unpadded convolution reads each cell on its own: the
    /// input already is the im2col matrix.
    var isPointwise: Bool {
        window.time.kernel == 1 && window.frequency.kernel == 1 && window.time.stride == 1
            && window.frequency.stride == 1 && window.time.padding == 0 && window.frequency.padding == 0
    }

    /// The im2col matrix [Σ T'·F', kT·kF·Cin] (cells in the padding stay zero)
    /// and the output lengths T'.
    public func unroll(_ input: SequenceBatch) -> (columns: [Float], lengths: [Int]) {
        precondition(input.channels == frequencyBins * inChannels,
                     "\(name): input rows have \(input.channels) values, expected F·Cin = \(frequencyBins * inChannels)")
        let lengths = input.lengths.map { window.outputFrames($0, name) }
        if isPointwise { return (input.values, lengths) }
        let c = inChannels
        var columns = [Float](repeating: 0, count: lengths.reduce(0, +) * outputBins * patchWidth)
        input.values.withUnsafeBufferPointer { src in
            columns.withUnsafeMutableBufferPointer { dst in
                forEachTap(inputLengths: input.lengths) { column, cell in
                    (dst.baseAddress! + column).update(from: src.baseAddress! + cell, count: c)
                }
            }
        }
        return (columns, lengths)
    }

    /// Calls `body(column, cell)` for every kernel tap that lands on a real
    /// input cell: `column` is where its Cin values sit in the im2col matrix,
    /// `cell` where they sit in the input values. Taps in the padding are
    /// skipped, which is what zero padding means for both im2col and its adjoint
    /// (`Conv2D.backward` adds gradients back through the same visits).
    func forEachTap(inputLengths: [Int], _ body: (_ column: Int, _ cell: Int) -> Void) {
        let (kt, kf, c) = (window.time.kernel, window.frequency.kernel, inChannels)
        let bins = frequencyBins, outBins = outputBins, width = patchWidth
        var outRow = 0, inRow = 0
        for frames in inputLengths {
            let outFrames = window.outputFrames(frames, name)
            for to in 0..<outFrames {
                let t0 = window.time.start(to)
                for fo in 0..<outBins {
                    let f0 = window.frequency.start(fo)
                    let row = (outRow * outBins + fo) * width
                    for i in 0..<kt where t0 + i >= 0 && t0 + i < frames {
                        for j in 0..<kf where f0 + j >= 0 && f0 + j < bins {
                            body(row + (i * kf + j) * c, ((inRow + t0 + i) * bins + f0 + j) * c)
                        }
                    }
                }
                outRow += 1
            }
            inRow += frames
        }
    }
}

extension Convolution2DStep {
    /// This convolution followed by `affine` (an inference BatchNorm on its output
    /// channels) as one convolution: W'[o] = W[o]·s[o], b'[o] = (b[o] − μ[o])·s[o] + β[o]
    /// with s = γ/σ. Serving then skips a pass over every activation; the result
    /// differs from the two steps by float rounding only.
    public func folding(_ affine: ChannelAffineStep) -> Convolution2DStep {
        precondition(affine.mean.count == outChannels, "\(name): cannot fold a BatchNorm of \(affine.mean.count) channels")
        var w = weight, b = bias
        let width = patchWidth
        for o in 0..<outChannels {
            let scale = affine.gamma[o] * affine.inverseStd[o]
            for k in 0..<width { w[o * width + k] *= scale }
            b[o] = (b[o] - affine.mean[o]) * scale + affine.beta[o]
        }
        return Convolution2DStep(weight: w, bias: b, inChannels: inChannels, outChannels: outChannels,
                                 frequencyBins: frequencyBins, window: window, rectifies: rectifies)
    }

    /// This convolution with a ReLU on its output (serving's conv → BN → ReLU).
    public func rectifying() -> Convolution2DStep {
        Convolution2DStep(weight: weight, bias: bias, inChannels: inChannels, outChannels: outChannels,
                          frequencyBins: frequencyBins, window: window, rectifies: true, reducedWeights: reducedWeights)
    }

    /// This convolution with bfloat16 products and float32 sums (the recurrent layers'
    /// bf16 kernel, `vp_panel_gemm_bf16`): weights packed once here, each im2col row
    /// rounded as it is read.
    public func reducingPrecision() -> Convolution2DStep {
        var packed = [UInt16](repeating: 0, count: Int(vp_packed_size_bf16(Int32(outChannels), Int32(patchWidth))))
        weight.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { vp_pack_panels_bf16(w.baseAddress!, Int32(outChannels), Int32(patchWidth), $0.baseAddress!) }
        }
        return Convolution2DStep(weight: weight, bias: bias, inChannels: inChannels, outChannels: outChannels,
                                 frequencyBins: frequencyBins, window: window, rectifies: rectifies, reducedWeights: packed)
    }

    /// `conv` then `norm` as one step when they are a convolution and its BatchNorm; nil otherwise.
    static func fold(_ conv: any InferenceStep, _ norm: any InferenceStep) -> Convolution2DStep? {
        guard let conv = conv as? Convolution2DStep, let norm = norm as? ChannelAffineStep,
              norm.mean.count == conv.outChannels else { return nil }
        return conv.folding(norm)
    }
}
