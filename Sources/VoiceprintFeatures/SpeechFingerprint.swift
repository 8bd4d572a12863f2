import Foundation
import VoiceprintAudio

/// A compact fingerprint of the sound of one submission, used to refuse replays
/// (DESIGN.md §5): the same recording sent again, even re-encoded, resampled,
/// made louder or quieter, or with a little silence added or cut at the start.
///
/// Each 5 ms frame gets 32 bits, each the sign of how the energy difference of
/// two neighbouring bands changed over 10 ms. Only those signs are kept: no
/// levels, no spectrum, no pitch, far too little to resynthesise the voice
/// from, and unlike an embedding it does not characterise the speaker. Two
/// genuine attempts never line up to within milliseconds over a second of
/// speech, so their bits agree only by chance (bit error rate ≈ 0.4–0.5), while
/// a replay agrees on almost every bit.
///
/// ref: J. Haitsma, T. Kalker, "A Highly Robust Audio Fingerprinting System",
/// ISMIR 2002: 33 log-spaced bands from 300 to 2000 Hz, bit(n, m) = sign of
/// [E(n,m) − E(n,m+1)] − [E(n−1,m) − E(n−1,m+1)], compared by bit error rate.
/// We differ in three places, each measured on synthetic voices and espeak-ng
/// speech (see the tests): 64 ms frames instead of 370 ms (longer frames make
/// different utterances of one sentence look more alike), a 5 ms hop with the
/// bit taken over two hops (a replay can be offset by any number of samples,
/// and half a 10 ms hop of misalignment costs 13 % of the bits against 7 % for
/// half a 5 ms hop), and a speech mask, because bits in silence are noise, or
/// all zero in digital silence, where two unrelated files would agree.
public struct SpeechFingerprint: Sendable, Equatable {
    /// Input rate in Hz: the daemon's decoded rate (DESIGN.md §1).
    public static let sampleRate = 16_000
    /// Analysis frame: 1024 samples (64 ms), Hann-windowed, one FFT of the same size.
    public static let frameLength = 1024
    /// Frame shift: 80 samples (5 ms).
    public static let hop = 80
    /// Frames between the two spectra a bit compares: 2 (10 ms). Over a single
    /// 5 ms hop the change is smaller, so more bits flip under a codec.
    public static let lag = 2
    /// Bands; 33 bands give 32 neighbouring pairs, one `UInt32` per frame.
    public static let bandCount = 33
    /// Band edges in Hz: where speech energy is and every codec keeps it.
    public static let lowFrequency = 300.0
    public static let highFrequency = 2000.0
    /// Frames whose band energy is this far below the utterance's 95th-percentile
    /// frame are silence. Relative to the utterance itself, so gain does not matter.
    public static let silenceFloorDB = 30.0
    /// Frames kept: 6000 (the first 30 s), which bounds the cost of making and
    /// comparing a fingerprint (24 KB of bits at most) whatever the upload.
    public static let maximumFrames = 6000
    /// Largest alignment searched, in frames either way: 200 (1 s). Padding or
    /// trimming the leading silence must not be a cheap way past the check.
    public static let maximumShift = 200
    /// Least overlap, in frames that are speech in both, for a verdict: 200 (1 s).
    public static let minimumOverlap = 200
    /// Bit error rate below which two fingerprints are the same audio: 0.2,
    /// midway between the worst replay and the most alike pair of different
    /// takes measured on 60 sources (50 synthetic voices, 10 espeak-ng sentences):
    /// replays reach 0.08 through WAV, FLAC, ±6 dB, silence added or cut and
    /// 16→44.1→16 kHz, 0.13 through MP3 and Vorbis at 40–85 kbit/s and 0.15
    /// through Opus; genuine different takes (other syllables, or espeak's
    /// same sentence at another pitch or speed) stay above 0.38, and only a
    /// take with espeak's own timing at a barely changed pitch came down to 0.25.
    public static let threshold = 0.2

    /// One word per frame; bit m is band pair (m, m+1), m = 0 the lowest.
    /// Silent frames hold 0, so equal audio gives equal values.
    public private(set) var bits: [UInt32]
    /// All ones where the frame is speech (compared), 0 where it is silence
    /// (ignored): a mask word, so the comparison needs no branch per frame.
    private var speech: [UInt32]

    /// Frames in the fingerprint, speech or not.
    public var frames: Int { bits.count }
    /// Frames that take part in comparisons.
    public var speechFrames: Int { speech.reduce(0) { $0 + Int($1 & 1) } }
    /// Whether frame `index` is speech.
    public func isSpeech(_ index: Int) -> Bool { speech[index] != 0 }
    /// Seconds per fingerprint frame.
    public static var frameSeconds: Double { Double(hop) / Double(sampleRate) }

    /// Fingerprints the first 30 s of `audio`, which must be mono at 16 kHz
    /// (what `AudioDecoder` produces; any other rate is refused, never guessed).
    /// Audio shorter than 74 ms (one frame and the lag) gives an empty
    /// fingerprint, which matches nothing.
    public init(_ audio: AudioBuffer) throws(FeatureError) {
        guard audio.sampleRate == Self.sampleRate else {
            throw .sampleRateMismatch(got: audio.sampleRate, expected: Self.sampleRate)
        }
        let energies = BandEnergies(audio.samples, maximumFrames: Self.maximumFrames + Self.lag)
        (bits, speech) = Self.bits(of: energies)
        assert(bits.count <= Self.maximumFrames)
    }

    /// The first `count` frames: what a cache keeps of a long utterance (a replay of it
    /// still overlaps them, within the shift search).
    public func prefix(frames count: Int) -> SpeechFingerprint {
        guard count < frames else { return self }
        var copy = self
        copy.bits = Array(bits.prefix(count))
        copy.speech = Array(speech.prefix(count))
        return copy
    }

    /// A fingerprint from its parts; `init(serialized:)` checks them first.
    init(bits: [UInt32], speech: [Bool]) {
        precondition(bits.count == speech.count, "bits and speech mask differ in length")
        self.bits = bits
        self.speech = speech.map { $0 ? ~0 : 0 }
    }

    /// How two fingerprints compare at their best alignment.
    public struct Comparison: Sendable, Equatable {
        /// Fraction of differing bits over the frames that are speech in both.
        public var rate: Double
        /// Frames compared (speech in both).
        public var overlap: Int
        /// Frames by which `other` lags `self`: frame i of self met frame i + shift of other.
        public var shift: Int

        public var overlapSeconds: Double { Double(overlap) * SpeechFingerprint.frameSeconds }
        public var shiftSeconds: Double { Double(shift) * SpeechFingerprint.frameSeconds }
    }

    /// The lowest bit error rate over shifts of ±`maximumShift` frames, or nil
    /// when no shift overlaps on `minimumOverlap` frames of speech: then there is
    /// too little to tell a replay from chance.
    public func bitErrorRate(against other: SpeechFingerprint) -> Comparison? {
        var best: Comparison?
        bits.withUnsafeBufferPointer { a in
            other.bits.withUnsafeBufferPointer { b in
                speech.withUnsafeBufferPointer { sa in
                    other.speech.withUnsafeBufferPointer { sb in
                        for shift in -Self.maximumShift...Self.maximumShift {
                            let start = max(0, -shift), end = min(a.count, b.count - shift)
                            guard end - start >= Self.minimumOverlap else { continue }
                            // Branch-free: a silent frame contributes 0 bits and 0 frames.
                            // 32-bit sums cannot overflow: at most 32 × 6000 per shift.
                            var errors: UInt32 = 0, overlap: UInt32 = 0
                            for i in start..<end {
                                let both = sa[i] & sb[i + shift]
                                errors &+= UInt32(truncatingIfNeeded: ((a[i] ^ b[i + shift]) & both).nonzeroBitCount)
                                overlap &+= both & 1
                            }
                            guard overlap >= Self.minimumOverlap else { continue }
                            let rate = Double(errors) / Double(32 * overlap)
                            if best == nil || rate < best!.rate {
                                best = Comparison(rate: rate, overlap: Int(overlap), shift: shift)
                            }
                        }
                    }
                }
            }
        }
        return best
    }

    /// The replay decision: true when the two are the same audio, that is, the
    /// bit error rate at the best alignment is below `threshold` over at least
    /// `minimumOverlap` frames of speech. Too little speech to compare is not a
    /// match: the daemon refuses such audio as too short anyway.
    public func matches(_ other: SpeechFingerprint) -> Bool {
        guard let comparison = bitErrorRate(against: other) else { return false }
        return comparison.rate < Self.threshold
    }

    // MARK: - Computing the bits

    /// bit(n, m) = sign of ΔE(n + lag, m) − ΔE(n, m), ΔE(t, m) = E(t, m) − E(t, m + 1),
    /// for frames where both spectra are speech.
    private static func bits(of energies: BandEnergies) -> ([UInt32], [UInt32]) {
        let count = max(0, energies.frames - lag)
        let voiced = energies.speechMask(floorDB: silenceFloorDB)
        var bits = [UInt32](repeating: 0, count: count)
        var speech = [UInt32](repeating: 0, count: count)
        let bands = bandCount
        energies.values.withUnsafeBufferPointer { e in
            for n in 0..<count where voiced[n] && voiced[n + lag] {
                let now = e.baseAddress! + (n + lag) * bands, before = e.baseAddress! + n * bands
                var word: UInt32 = 0
                for m in 0..<(bands - 1) {
                    let change = (now[m] - now[m + 1]) - (before[m] - before[m + 1])
                    if change > 0 { word |= 1 << UInt32(m) }
                }
                bits[n] = word
                speech[n] = ~0
            }
        }
        return (bits, speech)
    }
}

/// Energies of the fingerprint's 33 bands in every frame of a signal, [frames, 33].
struct BandEnergies {
    let frames: Int
    var values: [Float]

    /// FFT bins of each band: rectangular, log-spaced (Haitsma–Kalker), so every
    /// band has the same width relative to its frequency. At 15.6 Hz per bin the
    /// narrowest band (300–318 Hz) still holds one bin.
    static let bandBins: [Range<Int>] = {
        let n = SpeechFingerprint.bandCount
        let binHz = Double(SpeechFingerprint.sampleRate) / Double(SpeechFingerprint.frameLength)
        let ratio = SpeechFingerprint.highFrequency / SpeechFingerprint.lowFrequency
        let edges = (0...n).map { SpeechFingerprint.lowFrequency * pow(ratio, Double($0) / Double(n)) }
        return (0..<n).map { band in
            let range = Int((edges[band] / binHz).rounded(.up))..<Int((edges[band + 1] / binHz).rounded(.up))
            precondition(!range.isEmpty, "fingerprint band \(band) holds no FFT bin")
            return range
        }
    }()

    static let window = LogMelExtractor.makeWindow(.hann, length: SpeechFingerprint.frameLength)
    /// Frames per FFTW execution: 16 × 1024 floats in and out fit in L2.
    static let batch = 16

    init(_ samples: [Float], maximumFrames: Int) {
        let length = SpeechFingerprint.frameLength, hop = SpeechFingerprint.hop
        frames = samples.count < length ? 0 : min(maximumFrames, 1 + (samples.count - length) / hop)
        let bands = SpeechFingerprint.bandCount
        values = [Float](repeating: 0, count: frames * bands)
        guard frames > 0 else { return }
        let fft = RealFFT.shared(size: length, batch: Self.batch)
        let workspace = RealFFT.Workspace(size: length, batch: Self.batch)
        let bandBins = Self.bandBins
        let frameCount = frames
        samples.withUnsafeBufferPointer { signal in
            Self.window.withUnsafeBufferPointer { w in
                values.withUnsafeMutableBufferPointer { out in
                    fft.transform(frames: frameCount, workspace: workspace) { t, input in
                        let x = signal.baseAddress! + t * hop
                        for i in 0..<length { input[i] = x[i] * w[i] }
                    } consume: { t, spectrum in
                        let row = out.baseAddress! + t * bands
                        for (band, range) in bandBins.enumerated() {
                            var sum: Float = 0
                            for k in range {
                                let re = spectrum[2 * k], im = spectrum[2 * k + 1]
                                sum += re * re + im * im
                            }
                            row[band] = sum
                        }
                    }
                }
            }
        }
    }

    /// Frames within `floorDB` of the 95th-percentile frame energy. The
    /// percentile, not the maximum, so that one click does not silence the
    /// utterance; non-finite energies (never from `AudioDecoder`, which refuses
    /// such samples) and digital silence count as silence.
    func speechMask(floorDB: Double) -> [Bool] {
        let bands = SpeechFingerprint.bandCount
        let totals = (0..<frames).map { t in
            (0..<bands).reduce(Float(0)) { $0 + values[t * bands + $1] }
        }
        let finite = totals.filter(\.isFinite).sorted()
        guard !finite.isEmpty else { return [Bool](repeating: false, count: frames) }
        let reference = finite[Int(0.95 * Double(finite.count - 1))]
        let floor = reference * Float(pow(10, -floorDB / 10))
        return totals.map { $0.isFinite && $0 > 0 && $0 >= floor }
    }
}
