import Foundation
import VoiceprintFeatures

/// The committed reference clip and the values torchaudio's Kaldi-compatible
/// front end computed for it (scripts/make-feature-reference.py).
enum Fixture {
    static func path(_ name: String) -> String {
        Bundle.module.path(forResource: "Fixtures/\(name)", ofType: nil)!
    }

    static func matrix(_ name: String) throws -> FeatureMatrix {
        let (shape, values) = try NumpyFile.read(path: path(name))
        return FeatureMatrix(frames: shape[0], dimension: shape[1], values: values)
    }
}
