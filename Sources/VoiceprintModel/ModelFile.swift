import Foundation
import VoiceprintAudio

/// A model ready for use: the network, its metadata and an optional
/// score-normalisation cohort.
public struct LoadedModel {
    /// The network; for a fusion file, its first encoder (the engine uses `encoders`).
    public var model: EmbeddingModel
    /// Every encoder: `[model]`, or a fusion's members in order (`metadata.fusion`).
    public var encoders: [EmbeddingModel]
    public var metadata: ModelMetadata
    /// Embeddings of impostor speakers [N, D] for AS-norm, when the file carries them.
    public var cohort: Tensor?
    /// Where it was loaded from.
    public var source: String

    public init(model: EmbeddingModel, encoders: [EmbeddingModel]? = nil, metadata: ModelMetadata, cohort: Tensor?, source: String) {
        self.model = model
        self.encoders = encoders ?? [model]
        self.metadata = metadata
        self.cohort = cohort
        self.source = source
    }
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
        return container(named: model.namedParameters.map { ($0.name, $0.parameter.value) }, metadata: metadata, cohort: cohort)
    }

    /// A fusion file: each encoder's tensors under `encoder.{i}.` (`ScoreFusion`).
    public static func container(encoders: [EmbeddingModel], metadata: ModelMetadata, cohort: Tensor? = nil) -> SafeTensors {
        precondition(metadata.fusion?.members.map(\.architecture) == encoders.map(\.architecture),
                     "ModelFile: the fusion metadata describes other encoders")
        let named = encoders.enumerated().flatMap { i, model in
            model.namedParameters.map { (ScoreFusion.prefix(i) + $0.name, $0.parameter.value) }
        }
        return container(named: named, metadata: metadata, cohort: cohort)
    }

    private static func container(named: [(String, Tensor)], metadata: ModelMetadata, cohort: Tensor?) -> SafeTensors {
        var tensors = [String: Tensor]()
        for (name, value) in named { tensors[name] = value }
        if let cohort {
            cohort.expectShape([nil, metadata.architecture.embeddingDimension], "ModelFile cohort")
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
        var remaining = Set(file.tensors.keys)
        let architectures = metadata.fusion?.members.map(\.architecture) ?? [metadata.architecture]
        var encoders = [EmbeddingModel]()
        for (i, architecture) in architectures.enumerated() {
            let prefix = metadata.fusion == nil ? "" : ScoreFusion.prefix(i)
            encoders.append(try filled(architecture, from: file, prefix: prefix, remaining: &remaining, source: source))
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
        return LoadedModel(model: encoders[0], encoders: encoders, metadata: metadata, cohort: cohort, source: source)
    }

    /// A network of `architecture` with every parameter taken from the file's tensor `prefix + name`.
    private static func filled(_ architecture: Architecture, from file: SafeTensors, prefix: String,
                               remaining: inout Set<String>, source: String) throws(ModelError) -> EmbeddingModel {
        // The initial values are overwritten below; the generator only has to exist.
        // A seeded one, not the system's: that made one getrandom call per weight,
        // most of the daemon's start-to-ready time.
        var rng = SeededGenerator(seed: 0)
        let model = try EmbeddingModel(architecture: architecture, using: &rng)
        for (parameterName, parameter) in model.namedParameters {
            let name = prefix + parameterName
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
        return model
    }
}
