/// Utterance-level mean normalisation: subtracts each column's mean over the
/// frames given. Removes a fixed channel colouring (microphone, room), which is
/// a constant offset in the log-spectral domain.
public enum MeanNormalization {
    /// The per-column mean of `features` (zeros for an empty matrix).
    public static func mean(of features: FeatureMatrix) -> [Float] {
        var sums = [Double](repeating: 0, count: features.dimension)
        features.values.withUnsafeBufferPointer { v in
            for t in 0..<features.frames {
                let row = t * features.dimension
                for c in 0..<features.dimension { sums[c] += Double(v[row + c]) }
            }
        }
        let n = Double(max(features.frames, 1))
        return sums.map { Float($0 / n) }
    }

    /// Subtracts the column means in place.
    public static func apply(to features: inout FeatureMatrix) {
        let means = mean(of: features)
        let dimension = features.dimension
        features.values.withUnsafeMutableBufferPointer { v in
            for t in 0..<features.frames {
                let row = t * dimension
                for c in 0..<dimension { v[row + c] -= means[c] }
            }
        }
    }
}
