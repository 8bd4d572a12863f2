import Foundation

/// Triangular mel filters over the power spectrum, stored sparsely (each filter
/// touches about 2·257/81 FFT bins) because a dense 80 × 257 product per frame
/// would cost ten times the arithmetic.
///
/// ref: Kaldi src/feat/mel-computations.cc, MelBanks::MelBanks: mel(f) =
/// 1127·ln(1 + f/700); filters equally spaced in mel between the low and high
/// frequencies, triangular *in the mel domain*; the Nyquist bin is excluded.
public struct MelFilterBank: Sendable, Equatable {
    public struct Filter: Sendable, Equatable {
        /// Index of the first FFT bin with a non-zero weight.
        public var firstBin: Int
        public var weights: [Float]
    }

    public let filters: [Filter]
    /// FFT bins the filters may read: fftSize / 2 (Nyquist excluded).
    public let spectrumBins: Int

    public static func mel(_ hz: Double) -> Double { 1127 * log(1 + hz / 700) }
    public static func hz(_ mel: Double) -> Double { 700 * (exp(mel / 1127) - 1) }

    /// Slaney's mel scale (librosa `htk=False`): linear, 3 mels per 200 Hz, up
    /// to 1 kHz, then logarithmic with 27 mels per factor of 6.4.
    public static func slaneyMel(_ hz: Double) -> Double {
        hz < 1000 ? hz * 3 / 200 : 15 + log(hz / 1000) * 27 / log(6.4)
    }

    public static func slaneyHz(_ mel: Double) -> Double {
        mel < 15 ? mel * 200 / 3 : 1000 * exp((mel - 15) * log(6.4) / 27)
    }

    public init(options: FeatureOptions) {
        switch options.melScale {
        case .kaldi: filters = Self.kaldiFilters(options)
        case .slaney: filters = Self.slaneyFilters(options)
        case .speechbrain: filters = Self.speechBrainFilters(options)
        }
        spectrumBins = options.fftSize / 2
    }

    private static func kaldiFilters(_ options: FeatureOptions) -> [Filter] {
        let binCount = options.fftSize / 2
        let binWidth = Double(options.sampleRate) / Double(options.fftSize)
        let melLow = Self.mel(options.lowFrequency)
        let melHigh = Self.mel(options.resolvedHighFrequency)
        let delta = (melHigh - melLow) / Double(options.melBins + 1)
        var filters = [Filter]()
        for band in 0..<options.melBins {
            let left = melLow + Double(band) * delta
            let center = left + delta
            let right = center + delta
            var first = -1
            var weights = [Float]()
            for bin in 0..<binCount {
                let m = Self.mel(binWidth * Double(bin))
                guard m > left && m < right else { continue }
                let weight = m <= center ? (m - left) / (center - left) : (right - m) / (right - center)
                if first < 0 { first = bin }
                // Bins between first and this one are inside the triangle too, so the run is contiguous.
                weights.append(Float(weight))
            }
            filters.append(Filter(firstBin: max(first, 0), weights: weights))
        }
        return filters
    }

    /// ref: librosa.filters.mel(htk=False): band edges equally spaced on
    /// Slaney's scale, triangles linear in *Hz* between neighbouring edges,
    /// optionally scaled to equal area (`norm="slaney"`).
    private static func slaneyFilters(_ options: FeatureOptions) -> [Filter] {
        let binCount = options.fftSize / 2
        let binWidth = Double(options.sampleRate) / Double(options.fftSize)
        let low = Self.slaneyMel(options.lowFrequency)
        let high = Self.slaneyMel(options.resolvedHighFrequency)
        let edges = (0..<(options.melBins + 2)).map {
            Self.slaneyHz(low + (high - low) * Double($0) / Double(options.melBins + 1))
        }
        return (0..<options.melBins).map { band in
            let (left, center, right) = (edges[band], edges[band + 1], edges[band + 2])
            let scale = options.melNormalization == .slaney ? 2 / (right - left) : 1
            var first = -1
            var weights = [Float]()
            for bin in 0..<binCount {
                let f = binWidth * Double(bin)
                let weight = max(0, min((f - left) / (center - left), (right - f) / (right - center)))
                guard weight > 0 else {
                    if first >= 0 { break }
                    continue
                }
                if first < 0 { first = bin }
                weights.append(Float(weight * scale))
            }
            return Filter(firstBin: max(first, 0), weights: weights)
        }
    }

    /// ref: speechbrain.processing.features.Filterbank (1.0.3): melBins + 2 points equally
    /// spaced on mel = 2595·log10(1 + f/700) from the low to the high frequency; filter i
    /// centred on point i + 1 with half-width point[i + 1] − point[i] on *both* sides,
    /// weight max(0, 1 − |f − centre| / half-width) at bin frequency f, peak 1.
    private static func speechBrainFilters(_ options: FeatureOptions) -> [Filter] {
        func mel(_ hz: Double) -> Double { 2595 * log10(1 + hz / 700) }
        func hz(_ mel: Double) -> Double { 700 * (pow(10, mel / 2595) - 1) }
        let binCount = options.fftSize / 2
        let binWidth = Double(options.sampleRate) / Double(options.fftSize)
        let low = mel(options.lowFrequency), high = mel(options.resolvedHighFrequency)
        let points = (0..<(options.melBins + 2)).map { hz(low + (high - low) * Double($0) / Double(options.melBins + 1)) }
        return (0..<options.melBins).map { band in
            let centre = points[band + 1], halfWidth = points[band + 1] - points[band]
            var first = -1
            var weights = [Float]()
            for bin in 0..<binCount {
                let weight = max(0, 1 - abs(binWidth * Double(bin) - centre) / halfWidth)
                guard weight > 0 else {
                    if first >= 0 { break }
                    continue
                }
                if first < 0 { first = bin }
                weights.append(Float(weight))
            }
            return Filter(firstBin: max(first, 0), weights: weights)
        }
    }

    /// Applies the filters to one power spectrum (≥ `spectrumBins` values),
    /// writing one energy per band into `output`.
    @inline(__always)
    public func apply(power: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        for (band, filter) in filters.enumerated() {
            var sum: Float = 0
            filter.weights.withUnsafeBufferPointer { w in
                let p = power + filter.firstBin
                for i in 0..<w.count { sum += w[i] * p[i] }
            }
            output[band] = sum
        }
    }

    /// The filters as a dense [bands, spectrumBins] matrix, for tests and plots.
    public var denseMatrix: [[Float]] {
        filters.map { filter in
            var row = [Float](repeating: 0, count: spectrumBins)
            for (i, w) in filter.weights.enumerated() { row[filter.firstBin + i] = w }
            return row
        }
    }
}
