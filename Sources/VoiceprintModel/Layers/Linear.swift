/// Fully connected layer: [B, in] → [B, out], y = x·Wᵀ + b with W [out, in].
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter
    public var parameters: [Parameter] { [weight, bias] }

    /// Training cache: the input.
    private var input = Tensor(zeros: [0])

    public init<G: RandomNumberGenerator>(inFeatures: Int, outFeatures: Int, using rng: inout G) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear(\(inFeatures)→\(outFeatures)): sizes must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        // Glorot initialisation: the output is not followed by a ReLU.
        let limit = (6 / Float(inFeatures + outFeatures)).squareRoot()
        weight = Parameter(name: "weight", value: .uniform(shape: [outFeatures, inFeatures], limit: limit, using: &rng))
        bias = Parameter(name: "bias", value: Tensor(zeros: [outFeatures]))
    }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, inFeatures], "Linear(\(inFeatures)→\(outFeatures)) input [B, in]")
        let batch = input.shape[0]
        let output = Tensor(shape: [batch, outFeatures],
                            storage: DenseStep.affine(input.storage, rows: batch, weight: weight.value.storage, bias: bias.value.storage,
                                                      inFeatures: inFeatures, outFeatures: outFeatures))
        if mode == .training { self.input = input }
        return output
    }

    public func inferenceStep() -> any InferenceStep {
        DenseStep(weight: weight.value.storage, bias: bias.value.storage, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let batch = input.shape[0]
        gradOutput.expectShape([batch, outFeatures], "Linear.backward gradOutput")
        var gradInput = Tensor(zeros: input.shape)
        Self.affineBackward(gradOutput: gradOutput.storage, input: input.storage, rows: batch, inFeatures: inFeatures,
                            outFeatures: outFeatures, weight: weight, bias: bias, gradInput: &gradInput.storage)
        return gradInput
    }

    /// Backward of y = x·Wᵀ + b on `rows` rows: accumulates dW and db, writes dx. Shared
    /// with the layers that hold linear maps of their own (squeeze-excitation, attention).
    static func affineBackward(gradOutput g: [Float], input x: [Float], rows: Int, inFeatures: Int, outFeatures: Int,
                               weight: Parameter, bias: Parameter, gradInput: inout [Float]) {
        g.withUnsafeBufferPointer { g in
            x.withUnsafeBufferPointer { x in
                weight.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    BLAS.gemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: g.baseAddress!, b: x.baseAddress!,
                              beta: 1, c: dw.baseAddress!)
                }
            }
            bias.gradient.storage.withUnsafeMutableBufferPointer { db in
                for r in 0..<rows { for o in 0..<outFeatures { db[o] += g[r * outFeatures + o] } }
            }
            weight.value.storage.withUnsafeBufferPointer { w in
                gradInput.withUnsafeMutableBufferPointer { dx in
                    BLAS.gemm(m: rows, n: inFeatures, k: outFeatures, a: g.baseAddress!, b: w.baseAddress!, c: dx.baseAddress!)
                }
            }
        }
    }
}
