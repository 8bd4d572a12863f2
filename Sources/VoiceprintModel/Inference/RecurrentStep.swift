import CRecurrentKernels

/// Long short-term memory over equal-length sequences (`LSTM`), from zero
/// state; every step's hidden state comes out.
///
/// The recurrent weights are packed for the panel kernel once, when the step
/// is made, instead of once per call: a step built for serving is reused for
/// every request.
public struct RecurrentStep: InferenceStep {
    public let inputSize: Int
    public let hiddenSize: Int
    public let weightIH: [Float]   // [4H, in]
    public let weightHH: [Float]   // [4H, H]
    public let bias: [Float]       // [4H]
    /// W_hh in CRecurrentKernels' panel layout.
    let packedHH: [Float]

    /// Largest batch (rows per time step) for the panel kernel; above it, single-thread
    /// sgemm is as fast. Measured on Zen 4 (rows 1024, k 256; docs/benchmarks.md): the
    /// AVX-512 kernel beats sgemm up to 128 rows and ties at 160, the AVX2 one wins at 96
    /// and loses at 128, the portable loop loses from 16 rows on.
    public static var panelBatchLimit: Int {
        switch vp_recurrent_kernels_level() {
        case VP_KERNELS_AVX512: return 128
        case VP_KERNELS_AVX2: return 64
        default: return 8
        }
    }

    public init(inputSize: Int, hiddenSize: Int, weightIH: [Float], weightHH: [Float], bias: [Float]) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.weightIH = weightIH
        self.weightHH = weightHH
        self.bias = bias
        packedHH = Self.pack(weightHH, hiddenSize: hiddenSize)
    }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels == inputSize, "LSTM(\(inputSize)→\(hiddenSize)): input rows have \(input.channels) values")
        guard let steps = input.uniformLength else {
            preconditionFailure("LSTM: sequences of one batch must have one length (windows), got \(input.lengths)")
        }
        let run = Self.recurrence(input.values, batch: input.count, steps: steps, inputSize: inputSize, hiddenSize: hiddenSize,
                                  weightIH: weightIH, weightHH: weightHH, packedHH: packedHH, bias: bias, keepActivations: false)
        return SequenceBatch(values: run.output, lengths: input.lengths, channels: hiddenSize)
    }

    static func pack(_ weightHH: [Float], hiddenSize h: Int) -> [Float] {
        var packed = [Float](repeating: 0, count: vp_packed_size(Int32(4 * h), Int32(h)))
        weightHH.withUnsafeBufferPointer { vp_pack_panels($0.baseAddress!, Int32(4 * h), Int32(h), &packed) }
        return packed
    }

    /// Time steps whose gates an inference pass holds at once: enough for the input
    /// projection to be a few large sgemms, little enough that a pass over 100 windows
    /// holds 13 MB of gates instead of the 65 MB of all 160 steps.
    static let inferenceChunkSteps = 32

    /// The forward recurrence over x [B, T, in]: every step's output [B, T, H], and with
    /// `keepActivations` (training, for back-propagation through time) the activated
    /// gates [B, T, 4H] and cells [B, T, H] of every step; without, only those of the
    /// current chunk of `inferenceChunkSteps` steps exist.
    ///
    /// Each chunk's input projection is one sgemm per sequence (one for the whole batch
    /// when the chunk is all of T) before its time loop; each step adds W_hh·h_{t−1} for
    /// the whole batch: with the panel kernel up to `panelBatchLimit` rows (sgemm
    /// repacks all of W_hh on every step), with sgemm above. `packedHH` empty: packed
    /// here when the panel kernel is used.
    public static func recurrence(_ x: [Float], batch: Int, steps: Int, inputSize: Int, hiddenSize h: Int,
                                  weightIH: [Float], weightHH: [Float], packedHH: [Float] = [], bias: [Float],
                                  keepActivations: Bool = true) -> (gates: [Float], cells: [Float], output: [Float]) {
        let g4 = 4 * h
        let span = keepActivations ? steps : min(steps, inferenceChunkSteps)
        var gates = [Float](repeating: 0, count: batch * span * g4)
        var cells = [Float](repeating: 0, count: batch * span * h)
        var output = [Float](repeating: 0, count: batch * steps * h)
        // The last cell of the previous chunk, per sequence.
        var carry = [Float](repeating: 0, count: span < steps ? batch * h : 0)
        let packed = batch > panelBatchLimit ? [] : (packedHH.isEmpty ? pack(weightHH, hiddenSize: h) : packedHH)
        gates.withUnsafeMutableBufferPointer { gBuf in
            let gp = gBuf.baseAddress!
            for first in stride(from: 0, to: steps, by: max(span, 1)) {
                let count = min(span, steps - first)
                bias.withUnsafeBufferPointer { b in
                    for r in 0..<(batch * span) { (gp + r * g4).update(from: b.baseAddress!, count: g4) }
                }
                x.withUnsafeBufferPointer { x in
                    weightIH.withUnsafeBufferPointer { w in
                        if count == steps {
                            BLAS.gemm(transB: true, m: batch * steps, n: g4, k: inputSize, a: x.baseAddress!,
                                      b: w.baseAddress!, beta: 1, c: gp)
                        } else {
                            for b in 0..<batch {
                                BLAS.gemm(transB: true, m: count, n: g4, k: inputSize, a: x.baseAddress! + (b * steps + first) * inputSize,
                                          b: w.baseAddress!, beta: 1, c: gp + b * span * g4)
                            }
                        }
                    }
                }
                cells.withUnsafeMutableBufferPointer { cBuf in
                    output.withUnsafeMutableBufferPointer { hBuf in
                        weightHH.withUnsafeBufferPointer { whh in
                            carry.withUnsafeMutableBufferPointer { carried in
                                for s in 0..<count {
                                    let t = first + s
                                    if t > 0 {
                                        // Rows of one step lie span·4H apart in the gates; h_{t−1} rows T·H apart.
                                        let previous = hBuf.baseAddress! + (t - 1) * h
                                        if packed.isEmpty {
                                            BLAS.gemm(transB: true, m: batch, n: g4, k: h, a: previous, lda: steps * h,
                                                      b: whh.baseAddress!, beta: 1, c: gp + s * g4, ldc: span * g4)
                                        } else {
                                            vp_panel_gemm(Int32(batch), Int32(g4), Int32(h), previous, Int32(steps * h), packed,
                                                          gp + s * g4, Int32(span * g4))
                                        }
                                    }
                                    for b in 0..<batch {
                                        let row = b * span + s
                                        let previous: UnsafePointer<Float>? = s > 0 ? UnsafePointer(cBuf.baseAddress! + (row - 1) * h)
                                            : t > 0 ? UnsafePointer(carried.baseAddress! + b * h) : nil
                                        vp_lstm_cell(Int32(h), gp + row * g4, previous, cBuf.baseAddress! + row * h,
                                                     hBuf.baseAddress! + (b * steps + t) * h)
                                    }
                                }
                                guard !carried.isEmpty else { return }
                                for b in 0..<batch {
                                    (carried.baseAddress! + b * h).update(from: cBuf.baseAddress! + (b * span + count - 1) * h, count: h)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (gates, cells, output)
    }
}
