import CRecurrentKernels
import Foundation
import Testing
import VoiceprintAudio
import VoiceprintModel

/// The recurrent kernels at every level this CPU supports (AVX2, AVX-512)
/// against the portable level (and the panel product at every level against
/// OpenBLAS), on the shapes the LSTM uses: a hidden size of
/// 256 (1024 gate rows) and 36 (144 rows, a partial last panel), strided rows,
/// batches that fill register blocks exactly and that leave every kind of tail.
@Suite(.serialized) struct RecurrentKernelTests {
    static let batches = [1, 3, 7, 8, 13, 16, 33, 64]
    /// Written past each row's end in `out`, where no kernel may write.
    static let sentinel: Float = 12345

    static func uniform(_ count: Int, _ range: ClosedRange<Float>, using rng: inout SeededGenerator) -> [Float] {
        (0..<count).map { _ in range.lowerBound + (range.upperBound - range.lowerBound) * Float(rng.unit()) }
    }

    @Test(arguments: batches)
    func panelGemmMatchesSgemmAtEveryLevel(batch: Int) {
        var rng = SeededGenerator(seed: 40 + UInt64(batch))
        for rows in [144, 1024] {
            for k in [5, 256] {
                // Strided as in the LSTM, where a step's rows lie T·H and T·4H apart.
                let ldh = k + 3, ldo = rows + 16
                let w = Self.uniform(rows * k, -1...1, using: &rng)
                let h = Self.uniform(batch * ldh, -1...1, using: &rng)
                var start = Self.uniform(batch * ldo, -2...2, using: &rng)
                for b in 0..<batch { for r in rows..<ldo { start[b * ldo + r] = Self.sentinel } }
                var packed = [Float](repeating: 0, count: vp_packed_size(Int32(rows), Int32(k)))
                vp_pack_panels(w, Int32(rows), Int32(k), &packed)

                // OpenBLAS as the reference, and Σ|h·w| + |start| as the scale of each sum's rounding.
                var reference = start, scale = start.map(abs)
                let (absH, absW) = (h.map(abs), w.map(abs))
                BLAS.gemm(transB: true, m: batch, n: rows, k: k, a: h, lda: ldh, b: w, beta: 1, c: &reference, ldc: ldo)
                BLAS.gemm(transB: true, m: batch, n: rows, k: k, a: absH, lda: ldh, b: absW, beta: 1, c: &scale, ldc: ldo)
                for level in KernelLevels.supported {
                    var out = start
                    KernelLevels.with(level) {
                        vp_panel_gemm(Int32(batch), Int32(rows), Int32(k), h, Int32(ldh), packed, &out, Int32(ldo))
                    }
                    let name = KernelLevels.name(level)
                    var worst: Float = 0, touched = 0
                    for b in 0..<batch {
                        for r in 0..<ldo {
                            let i = b * ldo + r
                            if r >= rows {
                                if out[i] != Self.sentinel { touched += 1 }
                            } else {
                                worst = max(worst, abs(out[i] - reference[i]) / scale[i])
                            }
                        }
                    }
                    #expect(worst < 1e-5, "\(name), batch \(batch), rows \(rows), k \(k): relative error \(worst)")
                    #expect(touched == 0, "\(name), batch \(batch), rows \(rows), k \(k): \(touched) values written past a row")
                }
            }
        }
    }

    @Test(arguments: [36, 256], [false, true])
    func lstmCellMatchesPortableAtEveryLevel(hidden: Int, withPreviousCell: Bool) {
        var rng = SeededGenerator(seed: 50 + UInt64(hidden))
        let input = Self.uniform(4 * hidden, -12...12, using: &rng)
        let previous = withPreviousCell ? Self.uniform(hidden, -3...3, using: &rng) : nil
        func run(_ level: Int32) -> (gates: [Float], c: [Float], h: [Float]) {
            var gates = input, c = [Float](repeating: 0, count: hidden), h = c
            KernelLevels.with(level) {
                if let previous { vp_lstm_cell(Int32(hidden), &gates, previous, &c, &h) }
                else { vp_lstm_cell(Int32(hidden), &gates, nil, &c, &h) }
            }
            return (gates, c, h)
        }
        let portable = run(VP_KERNELS_PORTABLE)
        for level in KernelLevels.supported.dropFirst() {
            let vector = run(level), name = KernelLevels.name(level)
            // The activations are elementwise: relative error. c = f·c₀ + i·g and h = o·tanh(c)
            // can cancel to near zero, so their error is measured against the size of the terms.
            let gateError = zip(vector.gates, portable.gates).map { abs($0 - $1) / abs($1) }.max()!
            var cellError: Float = 0, outputError: Float = 0
            for j in 0..<hidden {
                let (i, f, g) = (portable.gates[j], portable.gates[hidden + j], portable.gates[2 * hidden + j])
                let size = abs(i * g) + abs(f * (previous?[j] ?? 0))
                cellError = max(cellError, abs(vector.c[j] - portable.c[j]) / size)
                outputError = max(outputError, abs(vector.h[j] - portable.h[j]) / (abs(portable.h[j]) + size))
            }
            #expect(gateError < 1e-5, "\(name), hidden \(hidden): gates \(gateError)")
            #expect(cellError < 1e-5, "\(name), hidden \(hidden): c \(cellError)")
            #expect(outputError < 1e-5, "\(name), hidden \(hidden): h \(outputError)")
        }
    }

    /// A whole layer's inference (panel product, then cells, step after step) at each level.
    @Test(arguments: [36, 256])
    func lstmInferenceAgreesAtEveryLevel(hidden: Int) {
        var rng = SeededGenerator(seed: 60 + UInt64(hidden))
        let lstm = LSTM(inputSize: 8, hiddenSize: hidden, using: &rng)
        let x = GradientCheck.randomTensor(shape: [3, 20, 8], using: &rng)
        let portable = KernelLevels.with(VP_KERNELS_PORTABLE) { lstm.forward(x, mode: .inference).storage }
        for level in KernelLevels.supported.dropFirst() {
            let vector = KernelLevels.with(level) { lstm.forward(x, mode: .inference).storage }
            let worst = zip(vector, portable).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-5, "\(KernelLevels.name(level)), hidden \(hidden): \(worst)")
        }
    }

    @Test func levelsAreClampedRestoredAndNamed() {
        let best = vp_recurrent_kernels_best_level()
        #expect((VP_KERNELS_PORTABLE...VP_KERNELS_AVX512).contains(best))
        KernelLevels.with(VP_KERNELS_AVX512 + 5) { #expect(vp_recurrent_kernels_level() == best) }
        KernelLevels.with(VP_KERNELS_PORTABLE) { #expect(vp_recurrent_kernels_level() == VP_KERNELS_PORTABLE) }
        // Restored: the best level, unless VOICEPRINT_KERNELS caps it.
        let cap = ProcessInfo.processInfo.environment["VOICEPRINT_KERNELS"]?.lowercased()
        let capped = (VP_KERNELS_PORTABLE..<best).first { KernelLevels.name($0) == cap } ?? best
        #expect(vp_recurrent_kernels_level() == capped)
        #expect(([-1, 0, 1, 2, 3] as [Int32]).map(KernelLevels.name) == ["unknown", "portable", "avx2", "avx512", "unknown"])
    }
}

/// Runs code at one kernel level. The level is process-wide, so one lock orders
/// every test that switches it (RecurrentKernelTests and RecurrentModelTests'
/// panelKernelAndSgemmPathsAgree); the automatic level is restored afterwards.
enum KernelLevels {
    private static let lock = NSLock()

    /// Levels this CPU supports, portable first.
    static var supported: [Int32] { Array(VP_KERNELS_PORTABLE...vp_recurrent_kernels_best_level()) }

    static func name(_ level: Int32) -> String { String(cString: vp_recurrent_kernels_name(level)) }

    static func with<T>(_ level: Int32, _ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer {
            vp_recurrent_kernels_set_level(VP_KERNELS_AUTO)
            lock.unlock()
        }
        vp_recurrent_kernels_set_level(level)
        #expect(vp_recurrent_kernels_level() == min(level, vp_recurrent_kernels_best_level()))
        return try body()
    }
}
