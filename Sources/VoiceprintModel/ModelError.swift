/// Why a model cannot be built, loaded or used.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidArchitecture(String)
    case tooFewFrames(got: Int, minimum: Int)
    case featureDimension(got: Int, expected: Int)
    /// The model file is readable but does not describe this network.
    case invalidModelFile(source: String, detail: String)
    /// The file is not a readable safetensors container.
    case container(SafeTensorsError)

    public var description: String {
        switch self {
        case .invalidArchitecture(let detail): return "invalid architecture: \(detail)"
        case .tooFewFrames(let got, let minimum):
            return "\(got) feature frames are too few to embed; the network needs at least \(minimum)"
        case .featureDimension(let got, let expected):
            return "features have \(got) columns; the model expects \(expected)"
        case .invalidModelFile(let source, let detail): return "\(source): \(detail)"
        case .container(let error): return error.description
        }
    }
}
