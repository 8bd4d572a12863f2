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

/// The reduced-precision panel product (vp_panel_gemm_bf16): its packing and
/// rounding, the AVX512_BF16 kernel against the portable loop (the same
/// arithmetic up to the order of summation) and every level against OpenBLAS's
/// fp32 product (off by what rounding both operands to bfloat16 implies), on
/// the shapes of RecurrentKernelTests, odd k included.
@Suite(.serialized) struct BF16PanelKernelTests {
    static let batches = [1, 3, 8, 13, 48, 64, 128]

    /// One value through vp_pack_panels_bf16: a matrix of one row and one column
    /// is one block, with the value in its first slot.
    static func bf16(_ bits: UInt32) -> UInt16 {
        var packed = [UInt16](repeating: 0xFFFF, count: vp_packed_size_bf16(1, 1))
        vp_pack_panels_bf16([Float(bitPattern: bits)], 1, 1, &packed)
        return packed[0]
    }

    @Test func roundsToNearestEvenAndKeepsSpecialValues() {
        let cases: [(UInt32, UInt16, String)] = [
            (0x3F80_0000, 0x3F80, "1"),
            (0x3F80_8000, 0x3F80, "1 + 2^-8, a tie: to even (down)"),
            (0x3F81_8000, 0x3F82, "1 + 3·2^-8, a tie: to even (up)"),
            (0x3F80_8001, 0x3F81, "just above a tie"),
            (0x3F80_7FFF, 0x3F80, "just below a tie"),
            (0xBFC0_0000, 0xBFC0, "-1.5"),
            (0x7F7F_FFFF, 0x7F80, "the largest float rounds to inf"),
            (0x7F80_0000, 0x7F80, "inf"),
            (0xFF80_0000, 0xFF80, "-inf"),
            (0x7FC0_0000, 0x7FC0, "quiet NaN"),
            (0x7F80_0001, 0x7FC0, "NaN with its payload in the low bits stays NaN"),
            (0xFFA0_0000, 0xFFE0, "signalling NaN: quiet, sign kept"),
            (0x0000_0000, 0x0000, "0"),
            (0x8000_0000, 0x8000, "-0"),
            (0x0040_0000, 0x0000, "subnormal to zero"),
            (0x8000_0001, 0x8000, "negative subnormal to -0"),
            (0x0080_0000, 0x0080, "smallest normal"),
        ]
        for (input, expected, what) in cases {
            let got = Self.bf16(input)
            #expect(got == expected, "\(what): 0x\(String(input, radix: 16)) → 0x\(String(got, radix: 16)), not 0x\(String(expected, radix: 16))")
        }
    }

    @Test func packsPairsOfColumnsPerPanel() {
        // 17 rows (a second panel with one row) and 3 columns (a pair, and one column padded).
        let rows = 17, k = 3
        let w = (0..<rows * k).map { Float($0 + 1) }  // exact in bfloat16
        #expect(vp_packed_size_bf16(Int32(rows), Int32(k)) == 2 * 16 * 4)
        var packed = [UInt16](repeating: 0xFFFF, count: vp_packed_size_bf16(Int32(rows), Int32(k)))
        vp_pack_panels_bf16(w, Int32(rows), Int32(k), &packed)
        var wrong = 0
        for p in 0..<2 {
            for i in 0..<2 {
                for r in 0..<16 {
                    for t in 0..<2 {
                        let (row, j) = (p * 16 + r, 2 * i + t)
                        let value = Float(bitPattern: UInt32(packed[((p * 2 + i) * 16 + r) * 2 + t]) << 16)
                        if value != (row < rows && j < k ? w[row * k + j] : 0) { wrong += 1 }
                    }
                }
            }
        }
        #expect(wrong == 0, "\(wrong) packed values out of place")
    }

    /// Whether the CPU reports AVX512_BF16 (Linux), nil where that cannot be read.
    static var cpuHasBF16: Bool? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        guard let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return flags.split(separator: " ").contains("avx512_bf16")
    }

    @Test func nativeOnlyAtTheAVX512Level() {
        KernelLevels.with(VP_KERNELS_PORTABLE) { #expect(vp_recurrent_kernels_bf16_native() == 0) }
        KernelLevels.with(VP_KERNELS_AVX2) { #expect(vp_recurrent_kernels_bf16_native() == 0) }
        KernelLevels.with(VP_KERNELS_AVX512) {
            let native = vp_recurrent_kernels_bf16_native()
            if vp_recurrent_kernels_level() < VP_KERNELS_AVX512 { #expect(native == 0) }
            // On a CPU with AVX512_BF16 the tests below must compare the fast kernel, not the loop twice.
            else if let has = Self.cpuHasBF16 { #expect(native == (has ? 1 : 0)) }
        }
    }

    @Test(arguments: batches)
    func panelGemmBF16MatchesPortableAndSgemm(batch: Int) {
        var rng = SeededGenerator(seed: 70 + UInt64(batch))
        for rows in [144, 1024] {
            for k in [5, 256] {
                let ldh = k + 3, ldo = rows + 16
                let w = RecurrentKernelTests.uniform(rows * k, -1...1, using: &rng)
                let h = RecurrentKernelTests.uniform(batch * ldh, -1...1, using: &rng)
                var start = RecurrentKernelTests.uniform(batch * ldo, -2...2, using: &rng)
                var zero = [Float](repeating: 0, count: batch * ldo)
                for b in 0..<batch {
                    for r in rows..<ldo { start[b * ldo + r] = RecurrentKernelTests.sentinel; zero[b * ldo + r] = RecurrentKernelTests.sentinel }
                }
                var packed = [UInt16](repeating: 0, count: vp_packed_size_bf16(Int32(rows), Int32(k)))
                vp_pack_panels_bf16(w, Int32(rows), Int32(k), &packed)

                // fp32 OpenBLAS from both starts, and Σ|h·w| (+ |start|) as the scale of the errors.
                var reference = start, referenceFromZero = zero
                var products = [Float](repeating: 0, count: batch * ldo)
                BLAS.gemm(transB: true, m: batch, n: rows, k: k, a: h, lda: ldh, b: w, beta: 1, c: &reference, ldc: ldo)
                BLAS.gemm(transB: true, m: batch, n: rows, k: k, a: h, lda: ldh, b: w, beta: 1, c: &referenceFromZero, ldc: ldo)
                BLAS.gemm(transB: true, m: batch, n: rows, k: k, a: h.map(abs), lda: ldh, b: w.map(abs), beta: 0, c: &products, ldc: ldo)

                func run(_ level: Int32, from initial: [Float]) -> [Float] {
                    var out = initial
                    KernelLevels.with(level) {
                        vp_panel_gemm_bf16(Int32(batch), Int32(rows), Int32(k), h, Int32(ldh), packed, &out, Int32(ldo))
                    }
                    return out
                }
                let portable = run(VP_KERNELS_PORTABLE, from: start)
                for level in KernelLevels.supported {
                    let name = KernelLevels.name(level), shape = "batch \(batch), rows \(rows), k \(k)"
                    let out = level == VP_KERNELS_PORTABLE ? portable : run(level, from: start)
                    let fromZero = run(level, from: zero)
                    // Against the loop: the same roundings, another order of fp32 sums.
                    // Against fp32: from a prefilled out, relative to Σ|h·w| + |start| (the
                    // final fp32 addition rounds at |start|'s scale); from zero, relative to
                    // Σ|h·w| alone, which is bf16's error by itself: at most about 2^-7
                    // (2^-8 for each operand), far less where the products' errors cancel.
                    var vsPortable: Float = 0, vsSgemm: Float = 0, vsSgemmFromZero: Float = 0, touched = 0
                    for b in 0..<batch {
                        for r in 0..<ldo {
                            let i = b * ldo + r
                            if r >= rows {
                                if out[i] != RecurrentKernelTests.sentinel || fromZero[i] != RecurrentKernelTests.sentinel { touched += 1 }
                                continue
                            }
                            let scale = products[i] + abs(start[i])
                            vsPortable = max(vsPortable, abs(out[i] - portable[i]) / scale)
                            vsSgemm = max(vsSgemm, abs(out[i] - reference[i]) / scale)
                            vsSgemmFromZero = max(vsSgemmFromZero, abs(fromZero[i] - referenceFromZero[i]) / products[i])
                        }
                    }
                    #expect(vsPortable <= 1e-5, "\(name), \(shape): against the portable bf16 loop \(vsPortable)")
                    #expect(vsSgemm <= 1e-2, "\(name), \(shape): against fp32 sgemm \(vsSgemm)")
                    #expect(vsSgemmFromZero <= 1e-2, "\(name), \(shape): against fp32 sgemm from zero \(vsSgemmFromZero)")
                    #expect(touched == 0, "\(name), \(shape): \(touched) values written past a row")
                }
            }
        }
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
