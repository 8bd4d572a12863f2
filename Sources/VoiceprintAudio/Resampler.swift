import CSoxr

/// Sample-rate conversion with libsoxr; the one Swift type that touches it.
///
/// Every call is a self-contained `soxr_oneshot`, so a `Resampler` is a value
/// that any number of threads may use at once. libsoxr is told to use one
/// thread: the daemon already runs one decode per core.
public struct Resampler: Sendable {
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

    /// Default `.high` (libsoxr's `SOXR_HQ`).
    public var quality: Quality

    public init(quality: Quality = .high) { self.quality = quality }

    /// Resamples a mono signal. Returns the input unchanged when the rates match.
    ///
    /// The output holds `round(count × outputRate / inputRate)` samples, the
    /// length a listener would expect; libsoxr's group delay is compensated inside.
    public func resample(_ samples: [Float], from inputRate: Double, to outputRate: Double) -> [Float] {
        precondition(inputRate > 0 && outputRate > 0, "sample rates must be positive")
        if inputRate == outputRate || samples.isEmpty { return samples }
        let expected = Int((Double(samples.count) * outputRate / inputRate).rounded())
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
