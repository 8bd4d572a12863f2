import VoiceprintFeatures

/// The training-free baseline: the mean and standard deviation over speech
/// frames of MFCCs 1–19 (20 computed, c0 dropped because it is loudness),
/// concatenated and scaled to unit length. No mean normalisation: the mean
/// cepstrum *is* the speaker's average spectral envelope here.
enum MFCCStatistics {
    static let dimension = 38
    /// Fewer frames give statistics of noise (0.1 s).
    static let minimumFrames = 10

    static func frontEnd(removesSilence: Bool) throws(FeatureError) -> SpeechFrontEnd {
        var options = FeatureOptions()
        options.cepstralCoefficients = 20
        options.meanNormalization = false
        return try SpeechFrontEnd(features: options, removesSilence: removesSilence)
    }

    static func embedding(of f: FeatureMatrix) -> [Float] {
        var mean = [Double](repeating: 0, count: 19), square = mean
        for t in 0..<f.frames {
            for c in 1..<20 {
                let v = Double(f[t, c])
                mean[c - 1] += v
                square[c - 1] += v * v
            }
        }
        let n = Double(f.frames)
        let means = mean.map { $0 / n }
        let deviations = zip(square, means).map { (max($0 / n - $1 * $1, 0)).squareRoot() }
        var vector = (means + deviations).map(Float.init)
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        vector = vector.map { $0 / max(norm, 1e-12) }
        return vector
    }
}
