/// Spectral feature settings (DESIGN.md §1). The defaults follow Kaldi's
/// `compute-fbank-feats` so that reference implementations with Kaldi
/// conventions (torchaudio.compliance.kaldi) can check us. A model file records
/// the options it was trained with, and loading it configures the extractor.
public struct FeatureOptions: Codable, Sendable, Equatable, Hashable {
    public enum Window: String, Codable, Sendable, CaseIterable {
        /// Kaldi's default: a Hann window raised to the power 0.85, which keeps a
        /// little more energy at the frame edges than Hann.
        case povey
        case hamming
        case hann
        case rectangular
    }

    /// Input sample rate in Hz. Default 16 000.
    public var sampleRate: Int = 16_000
    /// Analysis frame length in milliseconds. Default 25.
    public var frameLengthMs: Double = 25
    /// Frame shift in milliseconds. Default 10.
    public var frameShiftMs: Double = 10
    /// FFT length in samples, ≥ the frame length; frames are zero-padded. Default 512.
    public var fftSize: Int = 512
    /// Pre-emphasis coefficient, x[n] − a·x[n−1]. Default 0.97; 0 disables it.
    public var preemphasis: Float = 0.97
    /// Subtract each frame's mean before pre-emphasis, as Kaldi does. Default true.
    public var removeDCOffset: Bool = true
    /// Analysis window. Default `.povey`.
    public var window: Window = .povey
    /// Number of mel bands. Default 80.
    public var melBins: Int = 80
    /// Lower edge of the first mel band in Hz. Default 20.
    public var lowFrequency: Double = 20
    /// Upper edge of the last mel band in Hz. Default 7600; a value ≤ 0 is an
    /// offset from the Nyquist frequency, as in Kaldi.
    public var highFrequency: Double = 7600
    /// Energies are floored here before the natural log so silence stays finite.
    /// Default 1.1920929e-7 (Float epsilon, Kaldi's floor).
    public var logFloor: Float = 1.1920929e-7
    /// When set, output this many MFCCs (orthonormal DCT-II of the log-mel
    /// energies, coefficient 0 first) instead of log-mel. Default nil (log-mel).
    public var cepstralCoefficients: Int? = nil
    /// Cepstral liftering coefficient Q for MFCCs (Kaldi's 22); 0 disables it. Default 22.
    public var cepstralLifter: Float = 22
    /// Subtract the utterance mean of each feature over its speech frames
    /// (cepstral mean normalisation). Default true.
    public var meanNormalization: Bool = true

    public init() {}

    /// Samples per frame: 400 at the defaults.
    public var frameLength: Int { Int((Double(sampleRate) * frameLengthMs / 1000).rounded()) }
    /// Samples between frame starts: 160 at the defaults.
    public var frameShift: Int { Int((Double(sampleRate) * frameShiftMs / 1000).rounded()) }
    /// Columns of the feature matrix.
    public var dimension: Int { cepstralCoefficients ?? melBins }
    /// The upper band edge in Hz after resolving Kaldi's negative-offset form.
    public var resolvedHighFrequency: Double {
        highFrequency > 0 ? highFrequency : Double(sampleRate) / 2 + highFrequency
    }

    /// Number of whole frames in `sampleCount` samples (Kaldi's snip-edges rule).
    public func frameCount(sampleCount: Int) -> Int {
        sampleCount < frameLength ? 0 : 1 + (sampleCount - frameLength) / frameShift
    }

    /// Checks that the settings describe a computable front end.
    public func validate() throws(FeatureError) {
        func fail(_ field: String, _ value: Any, _ expected: String) -> FeatureError {
            .invalidOption(field: field, value: "\(value)", expected: expected)
        }
        guard sampleRate >= 1000 else { throw fail("sampleRate", sampleRate, "≥ 1000 Hz") }
        guard frameLength >= 16 else { throw fail("frameLengthMs", frameLengthMs, "a frame of at least 16 samples") }
        guard frameShift >= 1 else { throw fail("frameShiftMs", frameShiftMs, "a shift of at least one sample") }
        guard fftSize >= frameLength, fftSize % 2 == 0 else {
            throw fail("fftSize", fftSize, "an even number ≥ the frame length (\(frameLength) samples)")
        }
        guard (0..<1).contains(preemphasis) else { throw fail("preemphasis", preemphasis, "a value in [0, 1)") }
        guard melBins >= 1, melBins <= fftSize / 2 else { throw fail("melBins", melBins, "1 … \(fftSize / 2)") }
        let nyquist = Double(sampleRate) / 2
        guard lowFrequency >= 0, lowFrequency < resolvedHighFrequency, resolvedHighFrequency <= nyquist else {
            throw fail("lowFrequency/highFrequency", "\(lowFrequency)/\(highFrequency)", "0 ≤ low < high ≤ \(nyquist) Hz")
        }
        guard logFloor > 0 else { throw fail("logFloor", logFloor, "a positive value") }
        if let ceps = cepstralCoefficients, !(1...melBins).contains(ceps) {
            throw fail("cepstralCoefficients", ceps, "1 … melBins (\(melBins))")
        }
    }
}

/// Invalid feature settings or input that the extractor cannot use.
public enum FeatureError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidOption(field: String, value: String, expected: String)
    case sampleRateMismatch(got: Int, expected: Int)

    public var description: String {
        switch self {
        case .invalidOption(let field, let value, let expected):
            return "feature option \(field) = \(value) is invalid; expected \(expected)"
        case .sampleRateMismatch(let got, let expected):
            return "audio at \(got) Hz given to a feature extractor configured for \(expected) Hz"
        }
    }
}
