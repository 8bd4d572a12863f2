/// A [T, C] matrix of frame features, row-major: frame t's C values are contiguous.
public struct FeatureMatrix: Sendable, Equatable {
    public var frames: Int
    public var dimension: Int
    public var values: [Float]

    public init(frames: Int, dimension: Int, values: [Float]) {
        precondition(values.count == frames * dimension, "FeatureMatrix: \(values.count) values for [\(frames), \(dimension)]")
        self.frames = frames
        self.dimension = dimension
        self.values = values
    }

    public init(frames: Int, dimension: Int) {
        self.init(frames: frames, dimension: dimension, values: [Float](repeating: 0, count: frames * dimension))
    }

    public subscript(frame: Int, column: Int) -> Float {
        get { values[frame * dimension + column] }
        set { values[frame * dimension + column] = newValue }
    }

    /// Frame t as an array.
    public func row(_ frame: Int) -> [Float] {
        Array(values[(frame * dimension)..<((frame + 1) * dimension)])
    }

    /// The frames whose flag is set, in order (Kaldi's select-voiced-frames).
    public func selecting(_ keep: [Bool]) -> FeatureMatrix {
        precondition(keep.count == frames, "selection mask has \(keep.count) flags for \(frames) frames")
        var out = [Float]()
        out.reserveCapacity(values.count)
        var kept = 0
        for t in 0..<frames where keep[t] {
            out.append(contentsOf: values[(t * dimension)..<((t + 1) * dimension)])
            kept += 1
        }
        return FeatureMatrix(frames: kept, dimension: dimension, values: out)
    }

    /// Frames `range` as a new matrix (random crops in training).
    public func slice(_ range: Range<Int>) -> FeatureMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= frames, "slice \(range) outside 0..<\(frames)")
        return FeatureMatrix(
            frames: range.count, dimension: dimension,
            values: Array(values[(range.lowerBound * dimension)..<(range.upperBound * dimension)]))
    }
}
