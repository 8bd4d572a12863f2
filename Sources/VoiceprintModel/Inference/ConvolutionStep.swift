/// Dilated 1-D "valid" convolution over time (`Conv1D`) on sequences of any
/// lengths: each sequence is unrolled (im2col) on its own, so no output frame
/// sees another sequence's frames, and all of them share one sgemm.
public struct ConvolutionStep: InferenceStep {
    public let weight: [Float]   // [out, kernel·in]
    public let bias: [Float]     // [out]
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let dilation: Int

    /// Input frames consumed beyond each output sequence: d·(k−1).
    public var context: Int { dilation * (kernel - 1) }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels == inChannels, "Conv1D(\(inChannels)→\(outChannels)): input rows have \(input.channels) values")
        let (columns, lengths) = unroll(input)
        let rows = lengths.reduce(0, +)
        return SequenceBatch(values: DenseStep.affine(columns, rows: rows, weight: weight, bias: bias,
                                                      inFeatures: kernel * inChannels, outFeatures: outChannels),
                             lengths: lengths, channels: outChannels)
    }

    /// The im2col matrix [Σ (T − context), kernel·in]: row t of a sequence is its
    /// input rows t, t + d, …, t + (k−1)·d side by side. Also the output lengths.
    public func unroll(_ input: SequenceBatch) -> (columns: [Float], lengths: [Int]) {
        let lengths = input.lengths.map { frames in
            precondition(frames > context, "Conv1D: \(frames) frames is shorter than the receptive field \(context + 1)")
            return frames - context
        }
        if kernel == 1 { return (input.values, lengths) }
        let width = kernel * inChannels
        var columns = [Float](repeating: 0, count: lengths.reduce(0, +) * width)
        input.values.withUnsafeBufferPointer { src in
            columns.withUnsafeMutableBufferPointer { dst in
                var outRow = 0
                for (offset, outFrames) in zip(input.offsets, lengths) {
                    for t in 0..<outFrames {
                        let row = dst.baseAddress! + outRow * width
                        for j in 0..<kernel {
                            (row + j * inChannels).update(from: src.baseAddress! + (offset + t + j * dilation) * inChannels,
                                                          count: inChannels)
                        }
                        outRow += 1
                    }
                }
            }
        }
        return (columns, lengths)
    }
}
