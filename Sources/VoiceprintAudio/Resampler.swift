import CSoxr

/// Sample-rate conversion with libsoxr; the one Swift type that touches it.
///
/// Two ways in. A `Resampler` instance is a stream: it owns a `soxr_t` (freed
/// in `deinit`), takes the input in chunks of any size and keeps only the
/// output, so the decoder never holds a whole signal at the input rate (two
/// minutes at 192 kHz would be 92 MB of Float; at 16 kHz it is 7.7 MB). The
/// static `resample(_:from:to:quality:)` is a self-contained `soxr_oneshot` for
/// signals already in memory (augmentation, benchmarks), safe on any thread.
/// Both give the same samples up to float rounding, and both tell libsoxr to
/// use one thread: the daemon already runs one decode per core.
public final class Resampler {
    public enum Quality: String, Sendable, CaseIterable {
        /// Cubic interpolation; only for speed perturbation where aliasing is harmless.
        case quick
        /// 16-bit precision, medium roll-off.
        case medium
        /// 20-bit precision (≈ −120 dB aliasing), linear phase, pass band to 91.3 % of
        /// the lower Nyquist frequency: well beyond what 80 mel bands up to 7.6 kHz need.
        case high
        /// 28-bit precision; slower, for reference conversions.
        case veryHigh

        var recipe: UInt {
            switch self {
            case .quick: return UInt(SOXR_QQ)
            case .medium: return UInt(SOXR_MQ)
            case .high: return UInt(SOXR_20_BITQ)
            case .veryHigh: return UInt(SOXR_28_BITQ)
            }
        }
    }

    public let inputRate: Double
    public let outputRate: Double
    public let quality: Quality
    /// nil when the rates match: the stream then only copies.
    private let handle: soxr_t?
    private var output = [Float]()
    private var inputCount = 0
    private var finished = false

    /// Starts a stream from `inputRate` to `outputRate` (Hz). `expectedInputCount`,
    /// when known, lets the output be allocated once.
    public init(from inputRate: Double, to outputRate: Double, quality: Quality = .high, expectedInputCount: Int = 0) {
        precondition(inputRate > 0 && outputRate > 0, "sample rates must be positive")
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.quality = quality
        if inputRate == outputRate {
            handle = nil
        } else {
            var error: soxr_error_t?
            var ioSpec = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
            var qualitySpec = soxr_quality_spec(quality.recipe, 0)
            var runtimeSpec = soxr_runtime_spec(1)
            let created = soxr_create(inputRate, outputRate, 1, &error, &ioSpec, &qualitySpec, &runtimeSpec)
            // soxr only fails on invalid arguments (excluded above) or when out of memory.
            precondition(error == nil && created != nil, "soxr_create failed: \(error.map { String(cString: $0) } ?? "nil")")
            handle = created
        }
        // The slack covers the scratch room `append` asks for, so the output is allocated once.
        if expectedInputCount > 0 { output.reserveCapacity(Self.outputCount(expectedInputCount, inputRate, outputRate) + 512) }
    }

    deinit { if let handle { soxr_delete(handle) } }

    /// Feeds the next chunk of the mono signal.
    public func process(_ samples: UnsafeBufferPointer<Float>) {
        precondition(!finished, "process after finish")
        guard let base = samples.baseAddress, !samples.isEmpty else { return }
        inputCount += samples.count
        guard let handle else { return output.append(contentsOf: samples) }
        var consumed = 0
        while consumed < samples.count {
            let remaining = samples.count - consumed
            // Room for everything this input can yield plus what soxr still holds,
            // so one call normally consumes the whole chunk.
            let room = Int((Double(remaining) * outputRate / inputRate).rounded(.up)) + 256
            var used = 0
            let produced = append(room) { out, capacity, done in
                soxr_process(handle, base + consumed, remaining, &used, out, capacity, &done)
            }
            consumed += used
            precondition(used > 0 || produced > 0, "soxr_process made no progress")
        }
    }

    public func process(_ samples: [Float]) {
        samples.withUnsafeBufferPointer { process($0) }
    }

    /// Flushes the filter's tail and returns the whole output: exactly
    /// `round(count × outputRate / inputRate)` samples for `count` input samples,
    /// the length a listener would expect; libsoxr's group delay is compensated inside.
    public func finish() -> [Float] {
        precondition(!finished, "finish called twice")
        finished = true
        guard let handle else { return output }
        let expected = Self.outputCount(inputCount, inputRate, outputRate)
        // A NULL input tells soxr the signal has ended; it then drains its buffers.
        while output.count < expected {
            let produced = append(expected - output.count + 256) { out, capacity, done in
                soxr_process(handle, nil, 0, nil, out, capacity, &done)
            }
            if produced == 0 { break }
        }
        if output.count > expected { output.removeSubrange(expected...) }
        if output.count < expected { output.append(contentsOf: repeatElement(0, count: expected - output.count)) }
        return output
    }

    /// Grows `output` by up to `capacity` samples written by `body`; returns how many it wrote.
    private func append(
        _ capacity: Int, _ body: (UnsafeMutablePointer<Float>, Int, inout Int) -> soxr_error_t?
    ) -> Int {
        let start = output.count
        var done = 0
        var error: soxr_error_t?
        output.append(contentsOf: repeatElement(0, count: capacity))
        output.withUnsafeMutableBufferPointer { buffer in
            error = body(buffer.baseAddress! + start, capacity, &done)
        }
        precondition(error == nil, "soxr_process failed: \(String(cString: error!))")
        output.removeSubrange((start + done)...)
        return done
    }

    private static func outputCount(_ count: Int, _ inputRate: Double, _ outputRate: Double) -> Int {
        Int((Double(count) * outputRate / inputRate).rounded())
    }

    /// Resamples a whole mono signal in one call. Returns the input unchanged
    /// when the rates match; the output length follows the same rule as `finish()`.
    public static func resample(
        _ samples: [Float], from inputRate: Double, to outputRate: Double, quality: Quality = .high
    ) -> [Float] {
        precondition(inputRate > 0 && outputRate > 0, "sample rates must be positive")
        if inputRate == outputRate || samples.isEmpty { return samples }
        let expected = outputCount(samples.count, inputRate, outputRate)
        var output = [Float](repeating: 0, count: expected + 16)
        var produced = 0
        var ioSpec = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var qualitySpec = soxr_quality_spec(quality.recipe, 0)
        var runtimeSpec = soxr_runtime_spec(1)
        let error = samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                soxr_oneshot(
                    inputRate, outputRate, 1,
                    input.baseAddress, input.count, nil,
                    out.baseAddress, out.count, &produced,
                    &ioSpec, &qualitySpec, &runtimeSpec)
            }
        }
        // soxr only fails on invalid arguments, which the precondition above excludes.
        precondition(error == nil, "soxr_oneshot failed: \(String(cString: error!))")
        output.removeSubrange(min(produced, expected)...)
        if output.count < expected { output.append(contentsOf: repeatElement(0, count: expected - output.count)) }
        return output
    }
}
