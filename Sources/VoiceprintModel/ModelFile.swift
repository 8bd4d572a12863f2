import Foundation
import VoiceprintAudio

/// A model ready for use: the network, its metadata and an optional
/// score-normalisation cohort.
public struct LoadedModel {
    public var model: EmbeddingModel
    public var metadata: ModelMetadata
    /// Embeddings of impostor speakers [N, D] for AS-norm, when the file carries them.
    public var cohort: Tensor?
    /// Where it was loaded from.
    public var source: String
}

/// Reads and writes Voiceprint model files: safetensors with the network's
/// tensors under their layer names ("frame.0.conv.weight", …) and the
/// metadata of DESIGN.md §3. Loading checks the format, the version and every
/// tensor's name, dtype and shape, and names whatever does not match.
public enum ModelFile {
    public static let format = "voiceprint-embedding"
    public static let formatVersion = 1
    /// Name of the optional cohort tensor [N, embedding_dim].
    public static let cohortTensor = "cohort"

    /// The shipped model: $VOICEPRINT_MODEL, else PREFIX/share/voiceprint next to the
    /// installed binary, else Models/ in a source checkout (relative to the working directory).
    public static var defaultPath: String {
        if let env = ProcessInfo.processInfo.environment["VOICEPRINT_MODEL"] { return env }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        let installed = executable.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/voiceprint/default.safetensors").path
        return FileManager.default.fileExists(atPath: installed) ? installed : "Models/default.safetensors"
    }

    public static func container(model: EmbeddingModel, metadata: ModelMetadata, cohort: Tensor? = nil) -> SafeTensors {
        precondition(metadata.architecture == model.architecture, "ModelFile: metadata describes a different architecture")
        var tensors = [String: Tensor]()
        for (name, parameter) in model.namedParameters { tensors[name] = parameter.value }
        if let cohort {
            cohort.expectShape([nil, model.architecture.embeddingDimension], "ModelFile cohort")
            tensors[cohortTensor] = cohort
        }
        return SafeTensors(tensors: tensors, metadata: metadata.encoded())
    }

    /// Writes atomically (temporary file, fsync, rename): a crash never leaves half a model.
    public static func write(model: EmbeddingModel, metadata: ModelMetadata, cohort: Tensor? = nil, to path: String) throws {
        try container(model: model, metadata: metadata, cohort: cohort).write(to: path)
    }

    public static func load(path: String) throws(ModelError) -> LoadedModel {
        let file: SafeTensors
        do { file = try SafeTensors(path: path) } catch { throw .container(error) }
        return try decode(file, source: path)
    }

    /// Builds the model a container describes, refusing any mismatch.
    public static func decode(_ file: SafeTensors, source: String) throws(ModelError) -> LoadedModel {
        let metadata = try ModelMetadata(decoding: file.metadata, source: source)
        // The initial values are overwritten below; the generator only has to exist.
        // A seeded one, not the system's: that made one getrandom call per weight,
        // most of the daemon's start-to-ready time.
        var rng = SeededGenerator(seed: 0)
        let model = try EmbeddingModel(architecture: metadata.architecture, using: &rng)
        var remaining = Set(file.tensors.keys)
        for (name, parameter) in model.namedParameters {
            guard let tensor = file.tensors[name] else {
                throw .invalidModelFile(source: source, detail: "tensor \"\(name)\" is missing")
            }
            guard tensor.shape == parameter.value.shape else {
                throw .invalidModelFile(source: source,
                                        detail: "tensor \"\(name)\" has shape \(tensor.shape); the architecture needs \(parameter.value.shape)")
            }
            guard tensor.storage.allSatisfy(\.isFinite) else {
                throw .invalidModelFile(source: source, detail: "tensor \"\(name)\" contains NaN or infinite values")
            }
            parameter.value = tensor
            remaining.remove(name)
        }
        var cohort: Tensor?
        if let tensor = file.tensors[cohortTensor] {
            guard tensor.rank == 2, tensor.shape[1] == metadata.architecture.embeddingDimension else {
                throw .invalidModelFile(source: source,
                                        detail: "tensor \"cohort\" has shape \(tensor.shape); expected [N, \(metadata.architecture.embeddingDimension)]")
            }
            cohort = tensor
            remaining.remove(cohortTensor)
        }
        if let extra = remaining.sorted().first {
            throw .invalidModelFile(source: source,
                                    detail: "unexpected tensor \"\(extra)\"\(remaining.count > 1 ? " (and \(remaining.count - 1) more)" : ""); the architecture does not use it")
        }
        return LoadedModel(model: model, metadata: metadata, cohort: cohort, source: source)
    }
}
