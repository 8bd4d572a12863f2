/// One layer's inference computation with the layer's parameters captured by
/// value: applying it reads only its own `let` properties and writes only the
/// batch it returns, so one step (and one `InferenceNetwork`) serves any number
/// of threads at once with nothing to agree on. Per-call activations live in
/// the `SequenceBatch` values that flow from step to step (the explicit
/// activation buffers of llm.c, in value form).
///
/// The training layers (`Layer`) call the same static computations for their
/// forward pass, so inference and training cannot drift apart.
public protocol InferenceStep: Sendable {
    func apply(_ input: SequenceBatch) -> SequenceBatch
}

/// y = x·Wᵀ + b on every row (`Linear`).
public struct DenseStep: InferenceStep {
    public let weight: [Float]   // [out, in]
    public let bias: [Float]     // [out]
    public let inFeatures: Int
    public let outFeatures: Int

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels == inFeatures, "Linear(\(inFeatures)→\(outFeatures)): input rows have \(input.channels) values")
        return SequenceBatch(values: Self.affine(input.values, rows: input.rows, weight: weight, bias: bias,
                                                 inFeatures: inFeatures, outFeatures: outFeatures),
                             lengths: input.lengths, channels: outFeatures)
    }

    /// rows × [in] → rows × [out]: the bias broadcast into every row, then one sgemm on top (β = 1).
    public static func affine(_ x: [Float], rows: Int, weight: [Float], bias: [Float], inFeatures: Int, outFeatures: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outFeatures)
        y.withUnsafeMutableBufferPointer { out in
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows { (out.baseAddress! + r * outFeatures).update(from: b.baseAddress!, count: outFeatures) }
            }
            x.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { w in
                    BLAS.gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: xp.baseAddress!,
                              b: w.baseAddress!, beta: 1, c: out.baseAddress!)
                }
            }
        }
        return y
    }
}

/// max(x, 0) elementwise (`ReLU`).
public struct RectifierStep: InferenceStep {
    public init() {}
    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        var output = input
        Self.rectify(&output.values)
        return output
    }

    public static func rectify(_ values: inout [Float]) {
        values.withUnsafeMutableBufferPointer { v in
            for i in 0..<v.count { v[i] = max(v[i], 0) }
        }
    }
}

/// (x − mean)·invStd·γ + β per channel on every row (`BatchNorm` with its running statistics).
/// A row may hold several cells of C channels (a 2-D map's F·C values per frame).
public struct ChannelAffineStep: InferenceStep {
    public let mean: [Float]
    public let inverseStd: [Float]
    public let gamma: [Float]
    public let beta: [Float]

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels % mean.count == 0,
                     "BatchNorm(\(mean.count)): input rows of \(input.channels) values do not split into cells of \(mean.count)")
        var output = input
        Self.normalize(input.values, into: &output.values, channels: mean.count, mean: mean, inverseStd: inverseStd,
                       gamma: gamma, beta: beta)
        return output
    }

    /// Row by row over contiguous channels, so that the loop vectorises.
    public static func normalize(_ x: [Float], into y: inout [Float], channels: Int, mean: [Float], inverseStd: [Float],
                                 gamma: [Float], beta: [Float]) {
        let rows = x.count / channels
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                gamma.withUnsafeBufferPointer { g in
                    beta.withUnsafeBufferPointer { b in
                        mean.withUnsafeBufferPointer { m in
                            inverseStd.withUnsafeBufferPointer { s in
                                for r in 0..<rows {
                                    let base = r * channels
                                    for c in 0..<channels { y[base + c] = g[c] * ((x[base + c] - m[c]) * s[c]) + b[c] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Each sequence's mean and standard deviation per channel, concatenated (`StatsPooling`).
public struct PoolingStep: InferenceStep {
    public let epsilon: Float

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        let pooled = Self.pool(input, epsilon: epsilon)
        return SequenceBatch(values: pooled.output, lengths: [Int](repeating: 1, count: input.count), channels: 2 * input.channels)
    }

    /// [Σ T, C] → [B, 2C] plus the means and deviations [B, C] that backward needs.
    /// Accumulated in Double: E[x²] − E[x]² cancels badly in Float for long inputs.
    public static func pool(_ input: SequenceBatch, epsilon: Float) -> (output: [Float], means: [Float], deviations: [Float]) {
        let channels = input.channels, batch = input.count
        var output = [Float](repeating: 0, count: batch * 2 * channels)
        var means = [Float](repeating: 0, count: batch * channels)
        var deviations = means
        input.values.withUnsafeBufferPointer { x in
            var row = 0
            for (b, frames) in input.lengths.enumerated() {
                precondition(frames >= 1, "StatsPooling: sequence \(b) has no frames to pool")
                var sum = [Double](repeating: 0, count: channels)
                var squares = sum
                for _ in 0..<frames {
                    let base = row * channels
                    for c in 0..<channels {
                        let v = Double(x[base + c])
                        sum[c] += v
                        squares[c] += v * v
                    }
                    row += 1
                }
                for c in 0..<channels {
                    let mean = sum[c] / Double(frames)
                    let variance = max(squares[c] / Double(frames) - mean * mean, 0)
                    means[b * channels + c] = Float(mean)
                    deviations[b * channels + c] = Float((variance + Double(epsilon)).squareRoot())
                    output[b * 2 * channels + c] = Float(mean)
                    output[b * 2 * channels + channels + c] = deviations[b * channels + c]
                }
            }
        }
        return (output, means, deviations)
    }
}

/// Each sequence's last row (`LastStep`): what a recurrent encoder has read by the end.
public struct LastRowStep: InferenceStep {
    public init() {}
    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        let c = input.channels
        var values = [Float]()
        values.reserveCapacity(input.count * c)
        for (offset, length) in zip(input.offsets, input.lengths) {
            precondition(length > 0, "LastStep: a sequence needs at least one step")
            values.append(contentsOf: input.values[((offset + length - 1) * c)..<((offset + length) * c)])
        }
        return SequenceBatch(values: values, lengths: [Int](repeating: 1, count: input.count), channels: c)
    }
}

/// Every row scaled to unit Euclidean length (`L2Normalize`).
public struct UnitLengthStep: InferenceStep {
    public let epsilon: Float

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        var output = input
        _ = Self.normalize(&output.values, dimension: input.channels, epsilon: epsilon)
        return output
    }

    /// Normalises rows in place; returns the norms (floored at `epsilon`).
    @discardableResult
    public static func normalize(_ values: inout [Float], dimension: Int, epsilon: Float) -> [Float] {
        let rows = values.count / dimension
        var norms = [Float](repeating: 0, count: rows)
        values.withUnsafeMutableBufferPointer { v in
            for r in 0..<rows {
                let row = v.baseAddress! + r * dimension
                let norm = max(BLAS.dot(count: dimension, x: row, y: row).squareRoot(), epsilon)
                norms[r] = norm
                for i in 0..<dimension { row[i] /= norm }
            }
        }
        return norms
    }
}
