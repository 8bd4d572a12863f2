import CRecurrentKernels
/// The serving path of `Convolution2DStep`: im2col + sgemm in chunks of whole
/// output frames, on raw cells with any cell stride.
///
/// Why chunks: a stem convolution at full resolution (300 × 24 cells, 144 values
/// per im2col row) needs a 4 MB im2col matrix; written whole, it leaves the cache
/// before the sgemm packs it, and a fresh zero-filled allocation of that size
/// costs page faults on every call. A chunk of about 192 KB is written, packed
/// and multiplied while it stays in L2, and one buffer serves every chunk.
/// Why strides: a Res2Net block's channel groups are column slices of one
/// activation; reading and writing them in place (sgemm's lda/ldc, the im2col's
/// cell stride) saves a gather and a join per group.
extension Convolution2DStep {
    /// im2col values per chunk (floats): whole output frames up to about 192 KB.
    static let chunkValues = 48 * 1024

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        precondition(input.channels == frequencyBins * inChannels,
                     "\(name): input rows have \(input.channels) values, expected F·Cin = \(frequencyBins * inChannels)")
        let lengths = input.lengths.map { window.outputFrames($0, name) }
        let count = lengths.reduce(0, +) * outputBins * outChannels
        let values = [Float](unsafeUninitializedCapacity: count) { y, initialized in
            if count > 0 {
                input.values.withUnsafeBufferPointer { x in
                    convolve(x.baseAddress!, cellStride: inChannels, lengths: input.lengths,
                             into: y.baseAddress!, cellStride: outChannels)
                }
            }
            initialized = count
        }
        return SequenceBatch(values: values, lengths: lengths, channels: outputBins * outChannels)
    }

    /// The convolution (bias and, when `rectifies`, the ReLU included) of the
    /// sequences of `lengths` frames whose input cell k holds its Cin values at
    /// x + k·xStride; output cell k's Cout values go to y + k·yStride. Strides are
    /// at least the channel counts; every output value is written.
    func convolve(_ x: UnsafePointer<Float>, cellStride xStride: Int, lengths: [Int],
                  into y: UnsafeMutablePointer<Float>, cellStride yStride: Int) {
        precondition(xStride >= inChannels && yStride >= outChannels, "\(name): cell strides \(xStride), \(yStride)")
        let outBins = outputBins, width = patchWidth
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                if isPointwise {
                    let cells = lengths.reduce(0, +) * outBins
                    multiply(x, rows: cells, leading: xStride, weight: w.baseAddress!, bias: b.baseAddress!,
                             into: y, stride: yStride)
                    return
                }
                let framesPerChunk = max(1, Self.chunkValues / (width * outBins))
                let longest = lengths.map { window.outputFrames($0, name) }.max() ?? 0
                let columns = UnsafeMutablePointer<Float>.allocate(capacity: min(framesPerChunk, longest) * outBins * width)
                defer { columns.deallocate() }
                var inRow = 0, outRow = 0
                for frames in lengths {
                    let outFrames = window.outputFrames(frames, name)
                    var first = 0
                    while first < outFrames {
                        let count = min(framesPerChunk, outFrames - first)
                        unroll(x + inRow * frequencyBins * xStride, cellStride: xStride, frames: frames,
                               outputFrames: first..<(first + count), into: columns)
                        multiply(columns, rows: count * outBins, leading: width, weight: w.baseAddress!,
                                 bias: b.baseAddress!, into: y + (outRow + first) * outBins * yStride, stride: yStride)
                        first += count
                    }
                    inRow += frames
                    outRow += outFrames
                }
            }
        }
    }

    /// im2col rows of output frames `outputFrames` of one sequence of `frames`
    /// frames starting at x: every value written, zeros for taps in the padding.
    private func unroll(_ x: UnsafePointer<Float>, cellStride: Int, frames: Int, outputFrames: Range<Int>,
                        into columns: UnsafeMutablePointer<Float>) {
        let (kt, kf, c) = (window.time.kernel, window.frequency.kernel, inChannels)
        let bins = frequencyBins, outBins = outputBins
        var dst = columns
        for to in outputFrames {
            let t0 = window.time.start(to)
            for fo in 0..<outBins {
                let f0 = window.frequency.start(fo)
                // The taps j in lo..<hi land on real bins; the rest are padding.
                let lo = max(0, -f0), hi = min(kf, bins - f0)
                for i in 0..<kt {
                    let t = t0 + i
                    guard t >= 0 && t < frames, lo < hi else {
                        dst.update(repeating: 0, count: kf * c)
                        dst += kf * c
                        continue
                    }
                    if lo > 0 { dst.update(repeating: 0, count: lo * c) }
                    let src = x + (t * bins + f0 + lo) * cellStride
                    if cellStride == c {
                        Self.copy(src, to: dst + lo * c, count: (hi - lo) * c)
                    } else {
                        for j in 0..<(hi - lo) { Self.copy(src + j * cellStride, to: dst + (lo + j) * c, count: c) }
                    }
                    if hi < kf { (dst + hi * c).update(repeating: 0, count: (kf - hi) * c) }
                    dst += kf * c
                }
            }
        }
    }

    /// A plain loop rather than memmove: runs are a few dozen floats, shorter
    /// than a library call is worth.
    @inline(__always)
    private static func copy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        for k in 0..<count { dst[k] = src[k] }
    }

    /// Output cells y[r] = a[r]·Wᵀ + b, then the ReLU when `rectifies`, for `rows`
    /// im2col rows a (row r at a + r·leading); the bias and ReLU pass runs while
    /// the product is still in cache.
    private func multiply(_ a: UnsafePointer<Float>, rows: Int, leading: Int, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, stride: Int) {
        let n = outChannels
        if let packed = reducedWeights {
            // The bf16 kernel accumulates into its output.
            for cell in 0..<rows { (y + cell * stride).update(repeating: 0, count: n) }
            packed.withUnsafeBufferPointer {
                vp_panel_gemm_bf16(Int32(rows), Int32(n), Int32(patchWidth), a, Int32(leading), $0.baseAddress!, y, Int32(stride))
            }
        } else {
            BLAS.gemm(transB: true, m: rows, n: n, k: patchWidth, a: a, lda: leading, b: weight, beta: 0, c: y, ldc: stride)
        }
        for cell in 0..<rows {
            let row = y + cell * stride
            if rectifies {
                for o in 0..<n { row[o] = max(row[o] + bias[o], 0) }
            } else {
                for o in 0..<n { row[o] += bias[o] }
            }
        }
    }
}
