/// Max or average pooling over (time, frequency), each channel on its own
/// (`MaxPool2D`, `AvgPool2D`), on sequences of any lengths.
///
/// Rows are time frames of F·C values, frequency-major. Windows never cross
/// from one sequence into the next: each sequence is pooled with its own time
/// padding at both ends, exactly as if it were alone.
public struct Pooling2DStep: InferenceStep {
    public enum Kind: Sendable, Equatable {
        /// Padding counts as −∞: it never wins.
        case maximum
        /// `countIncludePad` as in PyTorch: divide by the window size counting
        /// padding (but not the ceil-mode overhang), or by the real cells only.
        case average(countIncludePad: Bool)
    }

    public let kind: Kind
    public let window: Window2D
    /// Input frequency bins F; the channel count is what is left of a row.
    public let frequencyBins: Int

    public init(kind: Kind, window: Window2D, frequencyBins: Int) {
        precondition(frequencyBins > 0, "Pool2D: \(frequencyBins) frequency bins")
        precondition(window.paddingFitsPooling,
                     "Pool2D \(window.description): padding must be at most half the kernel on each axis")
        self.kind = kind
        self.window = window
        self.frequencyBins = frequencyBins
    }

    var name: String {
        switch kind {
        case .maximum: "MaxPool2D(F \(frequencyBins), \(window.description))"
        case .average(let include): "AvgPool2D(F \(frequencyBins), \(window.description)\(include ? "" : ", real cells only"))"
        }
    }

    /// Output frequency bins F'.
    public var outputBins: Int { window.outputBins(frequencyBins, name) }

    public func apply(_ input: SequenceBatch) -> SequenceBatch {
        let c = channels(of: input)
        let lengths = input.lengths.map { window.outputFrames($0, name) }
        let count = lengths.reduce(0, +) * outputBins * c
        let values = [Float](unsafeUninitializedCapacity: count) { y, initialized in
            if count > 0 {
                input.values.withUnsafeBufferPointer { x in
                    pool(x.baseAddress!, lengths: input.lengths, channels: c, into: y.baseAddress!)
                }
            }
            initialized = count
        }
        return SequenceBatch(values: values, lengths: lengths, channels: outputBins * c)
    }

    /// Serving's pooling: the same windows, divisors and summation order as
    /// `pool(_:recordingArgmax:)`, but channel-innermost over raw pointers so the
    /// loops vectorise (the stem's max pool runs at full resolution), and no
    /// argmax. Every output value is written.
    func pool(_ x: UnsafePointer<Float>, lengths: [Int], channels c: Int, into y: UnsafeMutablePointer<Float>) {
        let bins = frequencyBins, outBins = outputBins
        var out = y, inRow = 0
        for frames in lengths {
            for to in 0..<window.outputFrames(frames, name) {
                let (times, paddedTimes) = window.time.cells(to, of: frames)
                for fo in 0..<outBins {
                    let (freqs, paddedFreqs) = window.frequency.cells(fo, of: bins)
                    switch kind {
                    case .maximum:
                        var first = true
                        for f in freqs {
                            for t in times {
                                let cell = x + ((inRow + t) * bins + f) * c
                                if first {
                                    for ch in 0..<c { out[ch] = cell[ch] }
                                    first = false
                                } else {
                                    // NaN wins, as in `pool(_:recordingArgmax:)`.
                                    for ch in 0..<c {
                                        let v = cell[ch], best = out[ch]
                                        out[ch] = v > best || v.isNaN ? v : best
                                    }
                                }
                            }
                        }
                        if first { for ch in 0..<c { out[ch] = -Float.infinity } }
                    case .average(let countIncludePad):
                        let divisor = Float(Self.divisor(times, paddedTimes, freqs, paddedFreqs,
                                                         countIncludePad: countIncludePad))
                        for ch in 0..<c { out[ch] = 0 }
                        for t in times {
                            for f in freqs {
                                let cell = x + ((inRow + t) * bins + f) * c
                                for ch in 0..<c { out[ch] += cell[ch] }
                            }
                        }
                        for ch in 0..<c { out[ch] /= divisor }
                    }
                    out += c
                }
            }
            inRow += frames
        }
    }

    /// Channels per cell of a batch whose rows hold F·C values.
    public func channels(of input: SequenceBatch) -> Int {
        precondition(input.channels % frequencyBins == 0,
                     "\(name): rows of \(input.channels) values do not split into \(frequencyBins) bins")
        return input.channels / frequencyBins
    }

    /// Pooled values [Σ T', F', C] with the output lengths T' and channels C.
    /// For the maximum with `recordingArgmax`, also the index into
    /// `input.values` of each output's winner, where training routes the gradient.
    /// Ties go to the first maximum scanning frequency outer and time inner,
    /// PyTorch's order on its [C, F, T] layout, so imported models break ties alike.
    public func pool(_ input: SequenceBatch, recordingArgmax: Bool)
        -> (values: [Float], lengths: [Int], channels: Int, argmax: [Int]) {
        let c = channels(of: input)
        let bins = frequencyBins, outBins = outputBins
        let lengths = input.lengths.map { window.outputFrames($0, name) }
        var values = [Float](repeating: 0, count: lengths.reduce(0, +) * outBins * c)
        var argmax = [Int](repeating: 0, count: recordingArgmax ? values.count : 0)
        input.values.withUnsafeBufferPointer { x in
            var outRow = 0, inRow = 0
            for frames in input.lengths {
                for to in 0..<window.outputFrames(frames, name) {
                    let (times, paddedTimes) = window.time.cells(to, of: frames)
                    for fo in 0..<outBins {
                        let (freqs, paddedFreqs) = window.frequency.cells(fo, of: bins)
                        let out = (outRow * outBins + fo) * c
                        switch kind {
                        case .maximum:
                            for ch in 0..<c {
                                var best = -Float.infinity, winner = -1
                                for f in freqs {
                                    for t in times {
                                        let i = ((inRow + t) * bins + f) * c + ch
                                        // NaN wins, as in PyTorch: a broken input should stay visible.
                                        if winner < 0 || x[i] > best || x[i].isNaN { best = x[i]; winner = i }
                                    }
                                }
                                values[out + ch] = best
                                if recordingArgmax { argmax[out + ch] = winner }
                            }
                        case .average(let countIncludePad):
                            let divisor = Self.divisor(times, paddedTimes, freqs, paddedFreqs, countIncludePad: countIncludePad)
                            for t in times {
                                for f in freqs {
                                    let cell = ((inRow + t) * bins + f) * c
                                    for ch in 0..<c { values[out + ch] += x[cell + ch] }
                                }
                            }
                            // Divided, not multiplied by a reciprocal: PyTorch divides, and 45/6 stays exactly 7.5.
                            for ch in 0..<c { values[out + ch] /= Float(divisor) }
                        }
                    }
                    outRow += 1
                }
                inRow += frames
            }
        }
        return (values, lengths, c, argmax)
    }

    /// An average window's divisor, PyTorch's avg_pool2d: the window's size
    /// with padding, or its real cells only. Shared with `AvgPool2D.backward`.
    @inline(__always)
    static func divisor(_ times: Range<Int>, _ paddedTimes: Int, _ freqs: Range<Int>, _ paddedFreqs: Int,
                        countIncludePad: Bool) -> Int {
        countIncludePad ? paddedTimes * paddedFreqs : times.count * freqs.count
    }
}
