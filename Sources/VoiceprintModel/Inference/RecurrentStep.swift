import CRecurrentKernels

/// Long short-term memory over equal-length sequences (`LSTM`), from zero
/// state; every step's hidden state comes out.
///
/// The recurrent weights are packed for the panel kernel once, when the step
/// is made, instead of once per call: a step built for serving is reused for
/// every request.
///
/// With `.bfloat16`, both products (the input projection and W_hh·h) run in
/// CRecurrentKernels' BF16 panel kernel: weights and inputs rounded to
/// bfloat16, sums in float32, twice the multiply-adds per instruction where
/// the CPU has AVX512_BF16 (see `InferencePrecision` for when that is allowed).
public struct RecurrentStep: InferenceStep {
    public let inputSize: Int
    public let hiddenSize: Int
    public let weightIH: [Float]   // [4H, in]
    public let weightHH: [Float]   // [4H, H]
    public let bias: [Float]       // [4H]
    public let precision: InferencePrecision
    /// W_hh in CRecurrentKernels' panel layout.
    let packedHH: [Float]
    /// W_ih and W_hh in the BF16 panel layout (empty in float32).
    let packedIH16: [UInt16]
    let packedHH16: [UInt16]

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

    public init(inputSize: Int, hiddenSize: Int, weightIH: [Float], weightHH: [Float], bias: [Float],
                precision: InferencePrecision = .float32) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.weightIH = weightIH
        self.weightHH = weightHH
        self.bias = bias
        self.precision = precision
        packedHH = precision == .float32 ? Self.pack(weightHH, hiddenSize: hiddenSize) : []
        packedIH16 = precision == .bfloat16 ? Self.packBF16(weightIH, rows: 4 * hiddenSize, k: inputSize) : []
        packedHH16 = precision == .bfloat16 ? Self.packBF16(weightHH, rows: 4 * hiddenSize, k: hiddenSize) : []
    }

    static func packBF16(_ w: [Float], rows: Int, k: Int) -> [UInt16] {
        var packed = [UInt16](repeating: 0, count: vp_packed_size_bf16(Int32(rows), Int32(k)))
        w.withUnsafeBufferPointer { vp_pack_panels_bf16($0.baseAddress!, Int32(rows), Int32(k), &packed) }
        return packed
    }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels == inputSize, "LSTM(\(inputSize)→\(hiddenSize)): input rows have \(input.channels) values")
        guard let steps = input.uniformLength else {
            preconditionFailure("LSTM: sequences of one batch must have one length (windows), got \(input.lengths)")
        }
        let batch = input.count
        let output = timeMajor(Self.transposed(input.values, outer: batch, inner: steps, width: inputSize), batch: batch, steps: steps)
        return SequenceBatch(values: Self.transposed(output, outer: steps, inner: batch, width: hiddenSize),
                             lengths: input.lengths, channels: hiddenSize)
    }

    /// The outputs [T, B, H] for time-major input [T, B, in] (`RecurrentStack` keeps
    /// stacked layers time-major between them).
    func timeMajor(_ x: [Float], batch: Int, steps: Int) -> [Float] {
        Self.recurrence(x, batch: batch, steps: steps, inputSize: inputSize, hiddenSize: hiddenSize, weightIH: weightIH,
                        weightHH: weightHH, packedHH: packedHH, bias: bias, layout: .serving,
                        bf16: precision == .bfloat16 ? (packedIH16, packedHH16) : nil).output
    }

    static func pack(_ weightHH: [Float], hiddenSize h: Int) -> [Float] {
        var packed = [Float](repeating: 0, count: vp_packed_size(Int32(4 * h), Int32(h)))
        weightHH.withUnsafeBufferPointer { vp_pack_panels($0.baseAddress!, Int32(4 * h), Int32(h), &packed) }
        return packed
    }

    /// Time steps whose gates a serving pass holds at once: enough for the input
    /// projection to be one large sgemm per chunk, little enough that a pass over 100
    /// windows holds 13 MB of gates instead of the 65 MB of all 160 steps.
    static let servingChunkSteps = 32

    /// How `recurrence` lays out rows and what it keeps.
    public enum Layout: Sendable {
        /// Rows batch-major ([B, T, ·], row b·T + t) and every step's gates and cells
        /// kept, for back-propagation through time.
        case training
        /// Rows time-major ([T, B, ·], row t·B + b): one step's rows are contiguous, so
        /// a chunk of steps is one sgemm for the whole batch and the panel kernel reads
        /// h_{t−1} densely; only `servingChunkSteps` steps of gates and cells exist.
        case serving
    }

    /// The forward recurrence over x: every step's output; with `.training` also the
    /// activated gates [B, T, 4H] and cells [B, T, H] of every step.
    ///
    /// Each chunk's input projection is one sgemm before its time loop; each step adds
    /// W_hh·h_{t−1} for the whole batch: with the panel kernel up to `panelBatchLimit`
    /// rows (sgemm repacks all of W_hh on every step), with sgemm above. `packedHH`
    /// empty: packed here when the panel kernel is used.
    public static func recurrence(_ x: [Float], batch: Int, steps: Int, inputSize: Int, hiddenSize h: Int,
                                  weightIH: [Float], weightHH: [Float], packedHH: [Float] = [], bias: [Float],
                                  layout: Layout = .training, bf16: (ih: [UInt16], hh: [UInt16])? = nil)
        -> (gates: [Float], cells: [Float], output: [Float]) {
        let g4 = 4 * h
        let timeMajor = layout == .serving
        let span = timeMajor ? min(steps, servingChunkSteps) : steps
        var gates = [Float](repeating: 0, count: batch * span * g4)
        var cells = [Float](repeating: 0, count: batch * span * h)
        var output = [Float](repeating: 0, count: batch * steps * h)
        // The last cell of the previous chunk, per sequence.
        var carry = [Float](repeating: 0, count: span < steps ? batch * h : 0)
        let packed = bf16 != nil || batch > panelBatchLimit ? [] : (packedHH.isEmpty ? pack(weightHH, hiddenSize: h) : packedHH)
        // Rows of sequence b, step t (input and output), and of chunk step s (gates and cells).
        func row(_ b: Int, _ t: Int) -> Int { timeMajor ? t * batch + b : b * steps + t }
        func chunkRow(_ b: Int, _ s: Int) -> Int { timeMajor ? s * batch + b : b * span + s }
        gates.withUnsafeMutableBufferPointer { gBuf in
            let gp = gBuf.baseAddress!
            for first in stride(from: 0, to: steps, by: max(span, 1)) {
                let count = min(span, steps - first)
                bias.withUnsafeBufferPointer { b in
                    for r in 0..<(batch * count) { (gp + r * g4).update(from: b.baseAddress!, count: g4) }
                }
                // The chunk's rows are contiguous in both layouts (batch-major has one chunk).
                x.withUnsafeBufferPointer { x in
                    let rows = x.baseAddress! + first * batch * inputSize
                    if let bf16 {
                        vp_panel_gemm_bf16(Int32(batch * count), Int32(g4), Int32(inputSize), rows, Int32(inputSize), bf16.ih,
                                           gp, Int32(g4))
                        return
                    }
                    weightIH.withUnsafeBufferPointer { w in
                        BLAS.gemm(transB: true, m: batch * count, n: g4, k: inputSize, a: rows, b: w.baseAddress!, beta: 1, c: gp)
                    }
                }
                cells.withUnsafeMutableBufferPointer { cBuf in
                    output.withUnsafeMutableBufferPointer { hBuf in
                        weightHH.withUnsafeBufferPointer { whh in
                            carry.withUnsafeMutableBufferPointer { carried in
                                for s in 0..<count {
                                    let t = first + s
                                    if t > 0 {
                                        let previous = hBuf.baseAddress! + row(0, t - 1) * h
                                        let ldh = timeMajor ? h : steps * h, ldo = timeMajor ? g4 : span * g4
                                        let target = gp + chunkRow(0, s) * g4
                                        if let bf16 {
                                            vp_panel_gemm_bf16(Int32(batch), Int32(g4), Int32(h), previous, Int32(ldh), bf16.hh,
                                                               target, Int32(ldo))
                                        } else if packed.isEmpty {
                                            BLAS.gemm(transB: true, m: batch, n: g4, k: h, a: previous, lda: ldh,
                                                      b: whh.baseAddress!, beta: 1, c: target, ldc: ldo)
                                        } else {
                                            vp_panel_gemm(Int32(batch), Int32(g4), Int32(h), previous, Int32(ldh), packed,
                                                          target, Int32(ldo))
                                        }
                                    }
                                    for b in 0..<batch {
                                        let previous: UnsafePointer<Float>? = s > 0 ? UnsafePointer(cBuf.baseAddress! + chunkRow(b, s - 1) * h)
                                            : t > 0 ? UnsafePointer(carried.baseAddress! + b * h) : nil
                                        vp_lstm_cell(Int32(h), gp + chunkRow(b, s) * g4, previous, cBuf.baseAddress! + chunkRow(b, s) * h,
                                                     hBuf.baseAddress! + row(b, t) * h)
                                    }
                                }
                                guard !carried.isEmpty else { return }
                                for b in 0..<batch {
                                    (carried.baseAddress! + b * h).update(from: cBuf.baseAddress! + chunkRow(b, count - 1) * h, count: h)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (gates, cells, output)
    }

    /// [outer, inner, width] → [inner, outer, width].
    static func transposed(_ values: [Float], outer: Int, inner: Int, width: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                for o in 0..<outer {
                    for i in 0..<inner {
                        (dst.baseAddress! + (i * outer + o) * width).update(from: src.baseAddress! + (o * inner + i) * width, count: width)
                    }
                }
            }
        }
        return result
    }
}

/// Consecutive recurrent layers run as one step: their input is laid out time-major
/// once and their output back once, instead of around every layer.
public struct RecurrentStack: InferenceStep {
    public let layers: [RecurrentStep]

    public init(_ layers: [RecurrentStep]) {
        precondition(!layers.isEmpty && zip(layers, layers.dropFirst()).allSatisfy { $0.hiddenSize == $1.inputSize },
                     "RecurrentStack: each layer's input must be the previous layer's output")
        self.layers = layers
    }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels == layers[0].inputSize, "LSTM stack: input rows have \(input.channels) values, expected \(layers[0].inputSize)")
        guard let steps = input.uniformLength else {
            preconditionFailure("LSTM: sequences of one batch must have one length (windows), got \(input.lengths)")
        }
        let batch = input.count
        var x = RecurrentStep.transposed(input.values, outer: batch, inner: steps, width: layers[0].inputSize)
        for layer in layers { x = layer.timeMajor(x, batch: batch, steps: steps) }
        let width = layers[layers.count - 1].hiddenSize
        return SequenceBatch(values: RecurrentStep.transposed(x, outer: steps, inner: batch, width: width),
                             lengths: input.lengths, channels: width)
    }
}
