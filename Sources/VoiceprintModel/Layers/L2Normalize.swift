/// Scales each row of a [B, D] tensor to unit Euclidean length, so that squared
/// distances between embeddings lie in [0, 4] and equal 2 − 2·cosine.
public final class L2Normalize: Layer {
    /// Guards the division for an all-zero row. Default 1e-12.
    public let epsilon: Float

    /// Training cache: output rows and the input norms.
    private var output = Tensor(zeros: [0])
    private var norms: [Float] = []

    public init(epsilon: Float = 1e-12) { self.epsilon = epsilon }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        precondition(input.rank == 2, "L2Normalize input: expected [B, D], got \(input.shape)")
        let dim = input.shape[1]
        var y = input
        let norms = UnitLengthStep.normalize(&y.storage, dimension: dim, epsilon: epsilon)
        if mode == .training {
            output = y
            self.norms = norms
        }
        return y
    }

    public func inferenceStep() -> any InferenceStep { UnitLengthStep(epsilon: epsilon) }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape, "L2Normalize.backward: gradient \(gradOutput.shape) for output \(output.shape)")
        let (batch, dim) = (output.shape[0], output.shape[1])
        var g = gradOutput
        // ∂(x/‖x‖) applied to g: (g − y·(y·g)) / ‖x‖.
        g.storage.withUnsafeMutableBufferPointer { d in
            output.storage.withUnsafeBufferPointer { y in
                for b in 0..<batch {
                    let gRow = d.baseAddress! + b * dim, yRow = y.baseAddress! + b * dim
                    let projection = BLAS.dot(count: dim, x: yRow, y: gRow)
                    for i in 0..<dim { gRow[i] = (gRow[i] - yRow[i] * projection) / norms[b] }
                }
            }
        }
        return g
    }
}
