import CRecurrentKernels
import Foundation

/// Long short-term memory over time: [B, T, in] → [B, T, H], every step's
/// hidden state, starting from zero state.
///
/// PyTorch's formulation and gate order, so imported weights need no
/// reshuffling: gates = W_ih·x_t + W_hh·h_{t−1} + b split into (i, f, g, o);
/// i, f, o = σ(·), g = tanh(·); c_t = f⊙c_{t−1} + i⊙g; h_t = o⊙tanh(c_t).
/// One bias stands for PyTorch's b_ih + b_hh (only their sum matters).
///
/// The forward recurrence is `RecurrentStep.recurrence`, shared with inference. Backward is
/// back-propagation through time over the cached gate activations, with the
/// weight gradients of all steps gathered into two sgemms after the loop.
public final class LSTM: Layer {
    public let inputSize: Int
    public let hiddenSize: Int
    /// [4H, in]
    public let weightIH: Parameter
    /// [4H, H]
    public let weightHH: Parameter
    /// [4H]
    public let bias: Parameter
    public var parameters: [Parameter] { [weightIH, weightHH, bias] }

    /// Training cache: input, activated gates [B, T, 4H], cells and outputs [B, T, H].
    private var input = Tensor(zeros: [0])
    private var gates = [Float]()
    private var cells = [Float]()
    private var outputs = [Float]()

    public init<G: RandomNumberGenerator>(inputSize: Int, hiddenSize: Int, using rng: inout G) {
        precondition(inputSize > 0 && hiddenSize > 0, "LSTM(\(inputSize)→\(hiddenSize)): sizes must be positive")
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        // PyTorch's initialisation: U(−1/√H, 1/√H) for every weight.
        let limit = 1 / Float(hiddenSize).squareRoot()
        weightIH = Parameter(name: "weight_ih", value: .uniform(shape: [4 * hiddenSize, inputSize], limit: limit, using: &rng))
        weightHH = Parameter(name: "weight_hh", value: .uniform(shape: [4 * hiddenSize, hiddenSize], limit: limit, using: &rng))
        // A forget-gate bias of 1 lets early training carry state across steps.
        var b = Tensor(zeros: [4 * hiddenSize])
        for j in hiddenSize..<(2 * hiddenSize) { b.storage[j] = 1 }
        bias = Parameter(name: "bias", value: b)
    }

    public func forward(_ input: Tensor, mode: ForwardMode) -> Tensor {
        input.expectShape([nil, nil, inputSize], "LSTM(\(inputSize)→\(hiddenSize)) input [B, T, in]")
        let (batch, steps) = (input.shape[0], input.shape[1])
        let run = RecurrentStep.recurrence(input.storage, batch: batch, steps: steps, inputSize: inputSize, hiddenSize: hiddenSize,
                                           weightIH: weightIH.value.storage, weightHH: weightHH.value.storage,
                                           bias: bias.value.storage)
        if mode == .training {
            self.input = input
            self.gates = run.gates
            self.cells = run.cells
            self.outputs = run.output
        }
        return Tensor(shape: [batch, steps, hiddenSize], storage: run.output)
    }

    /// Largest batch for the panel kernel (see `RecurrentStep.panelBatchLimit`).
    public static var panelBatchLimit: Int { RecurrentStep.panelBatchLimit }

    public func inferenceStep() -> any InferenceStep { inferenceStep(precision: .float32) }

    public func inferenceStep(precision: InferencePrecision) -> any InferenceStep { recurrentStep(precision: precision) }

    public func recurrentStep(precision: InferencePrecision) -> RecurrentStep {
        RecurrentStep(inputSize: inputSize, hiddenSize: hiddenSize, weightIH: weightIH.value.storage,
                      weightHH: weightHH.value.storage, bias: bias.value.storage, precision: precision)
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        let (batch, steps, h) = (input.shape[0], input.shape[1], hiddenSize)
        let g4 = 4 * h
        gradOutput.expectShape([batch, steps, h], "LSTM backward gradient [B, T, H]")
        // dL/d(pre-activation gates) for every frame, filled from the last step back.
        var dGates = [Float](repeating: 0, count: batch * steps * g4)
        var dHidden = [Float](repeating: 0, count: batch * h)  // from step t+1 through W_hh
        var dCell = [Float](repeating: 0, count: batch * h)    // from step t+1 through f
        dGates.withUnsafeMutableBufferPointer { dz in
            for t in stride(from: steps - 1, through: 0, by: -1) {
                for b in 0..<batch {
                    let row = b * steps + t
                    for j in 0..<h {
                        let a = row * g4
                        let (i, f, g, o) = (gates[a + j], gates[a + h + j], gates[a + 2 * h + j], gates[a + 3 * h + j])
                        let c = cells[row * h + j]
                        let previous: Float = t > 0 ? cells[(row - 1) * h + j] : 0
                        let tc = tanhf(c)
                        let dh = gradOutput.storage[row * h + j] + dHidden[b * h + j]
                        let dc = dh * o * (1 - tc * tc) + dCell[b * h + j]
                        dz[a + j] = dc * g * i * (1 - i)
                        dz[a + h + j] = dc * previous * f * (1 - f)
                        dz[a + 2 * h + j] = dc * i * (1 - g * g)
                        dz[a + 3 * h + j] = dh * tc * o * (1 - o)
                        dCell[b * h + j] = dc * f
                    }
                }
                // dh_{t−1} = dz_t · W_hh for the whole batch.
                weightHH.value.storage.withUnsafeBufferPointer { w in
                    dHidden.withUnsafeMutableBufferPointer { dh in
                        BLAS.gemm(m: batch, n: h, k: g4, a: dz.baseAddress! + t * g4, lda: steps * g4,
                                  b: w.baseAddress!, c: dh.baseAddress!)
                    }
                }
            }
        }
        accumulateWeightGradients(dGates, batch: batch, steps: steps)
        var gradInput = Tensor(zeros: input.shape)
        dGates.withUnsafeBufferPointer { dz in
            weightIH.value.storage.withUnsafeBufferPointer { w in
                gradInput.storage.withUnsafeMutableBufferPointer { dx in
                    BLAS.gemm(m: batch * steps, n: inputSize, k: g4, a: dz.baseAddress!, b: w.baseAddress!, c: dx.baseAddress!)
                }
            }
        }
        return gradInput
    }

    /// dW_ih += dZᵀ·X, dW_hh += dZᵀ·H_{t−1} (zero at t = 0), db += Σ dZ.
    private func accumulateWeightGradients(_ dGates: [Float], batch: Int, steps: Int) {
        let h = hiddenSize, g4 = 4 * h, rows = batch * steps
        var shifted = [Float](repeating: 0, count: rows * h)
        for b in 0..<batch {
            for t in 1..<max(steps, 1) {
                let to = (b * steps + t) * h, from = (b * steps + t - 1) * h
                for j in 0..<h { shifted[to + j] = outputs[from + j] }
            }
        }
        dGates.withUnsafeBufferPointer { dz in
            input.storage.withUnsafeBufferPointer { x in
                weightIH.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    BLAS.gemm(transA: true, m: g4, n: inputSize, k: rows, a: dz.baseAddress!, b: x.baseAddress!,
                              beta: 1, c: dw.baseAddress!)
                }
            }
            shifted.withUnsafeBufferPointer { hp in
                weightHH.gradient.storage.withUnsafeMutableBufferPointer { dw in
                    BLAS.gemm(transA: true, m: g4, n: h, k: rows, a: dz.baseAddress!, b: hp.baseAddress!,
                              beta: 1, c: dw.baseAddress!)
                }
            }
            bias.gradient.storage.withUnsafeMutableBufferPointer { db in
                for r in 0..<rows { for j in 0..<g4 { db[j] += dz[r * g4 + j] } }
            }
        }
    }
}
