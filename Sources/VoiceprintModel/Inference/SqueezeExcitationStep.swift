import Foundation

/// Squeeze-and-excitation (`SqueezeExcitation`, Hu et al. 2018) on sequences of
/// any lengths: per sequence, the mean of each channel over all its time
/// frames and frequency bins → Linear(C → C/r) → ReLU → Linear(C/r → C) →
/// sigmoid, and every cell of that sequence scaled by the resulting gate.
///
/// Rows hold F·C values, frequency-major; only C is fixed, so any F works:
/// the batch is read as sequences of T·F cells of C values, and the squeeze is
/// a mean over a sequence's cells. Each sequence gets its own gates, so a
/// ragged batch gives what each sequence would alone.
// ref: J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018, fig. 3
public struct SqueezeExcitationStep: InferenceStep {
    public let reduceWeight: [Float]   // [C/r, C]
    public let reduceBias: [Float]     // [C/r]
    public let expandWeight: [Float]   // [C, C/r]
    public let expandBias: [Float]     // [C]
    public let channels: Int
    public let bottleneck: Int

    public init(reduceWeight: [Float], reduceBias: [Float], expandWeight: [Float], expandBias: [Float],
                channels: Int, bottleneck: Int) {
        precondition(reduceWeight.count == bottleneck * channels && reduceBias.count == bottleneck
                        && expandWeight.count == channels * bottleneck && expandBias.count == channels,
                     "SqueezeExcitation(\(channels)→\(bottleneck)): parameter sizes \(reduceWeight.count), \(reduceBias.count), "
                        + "\(expandWeight.count), \(expandBias.count)")
        self.reduceWeight = reduceWeight
        self.reduceBias = reduceBias
        self.expandWeight = expandWeight
        self.expandBias = expandBias
        self.channels = channels
        self.bottleneck = bottleneck
    }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        let cells = cellsPerSequence(input)
        let gates = excite(squeeze(input.values, cells: cells))
        var output = input
        Self.scale(&output.values, cells: cells, channels: channels, by: gates.scales)
        return output
    }

    /// Cells (time frames × frequency bins) of each sequence of a batch whose rows hold F·C values.
    public func cellsPerSequence(_ input: SequenceBatch) -> [Int] {
        precondition(input.channels % channels == 0,
                     "SqueezeExcitation(\(channels)): rows of \(input.channels) values do not split into cells of \(channels)")
        let bins = input.channels / channels
        return input.lengths.map { frames in
            precondition(frames > 0, "SqueezeExcitation: a sequence without frames has nothing to squeeze")
            return frames * bins
        }
    }

    /// [Σ cells, C] → each sequence's channel means [B, C], summed in Double
    /// so a long utterance's mean does not drift.
    public func squeeze(_ values: [Float], cells: [Int]) -> [Float] {
        var means = [Float](repeating: 0, count: cells.count * channels)
        values.withUnsafeBufferPointer { x in
            var cell = 0
            for (b, count) in cells.enumerated() {
                var sum = [Double](repeating: 0, count: channels)
                for _ in 0..<count {
                    for c in 0..<channels { sum[c] += Double(x[cell * channels + c]) }
                    cell += 1
                }
                for c in 0..<channels { means[b * channels + c] = Float(sum[c] / Double(count)) }
            }
        }
        return means
    }

    /// Means [B, C] → the hidden activations after the ReLU [B, C/r] (backward
    /// needs them) and the gates [B, C] in (0, 1).
    public func excite(_ means: [Float]) -> (hidden: [Float], scales: [Float]) {
        let batch = means.count / channels
        var hidden = DenseStep.affine(means, rows: batch, weight: reduceWeight, bias: reduceBias,
                                      inFeatures: channels, outFeatures: bottleneck)
        RectifierStep.rectify(&hidden)
        var scales = DenseStep.affine(hidden, rows: batch, weight: expandWeight, bias: expandBias,
                                      inFeatures: bottleneck, outFeatures: channels)
        for i in 0..<scales.count { scales[i] = 1 / (1 + exp(-scales[i])) }
        return (hidden, scales)
    }

    /// Every cell of sequence b times that sequence's gates [C].
    public static func scale(_ values: inout [Float], cells: [Int], channels: Int, by scales: [Float]) {
        values.withUnsafeMutableBufferPointer { y in
            scales.withUnsafeBufferPointer { s in
                var cell = 0
                for (b, count) in cells.enumerated() {
                    let gate = s.baseAddress! + b * channels
                    for _ in 0..<count {
                        for c in 0..<channels { y[cell * channels + c] *= gate[c] }
                        cell += 1
                    }
                }
            }
        }
    }
}
