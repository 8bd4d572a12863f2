import ArgumentParser
import Foundation
import VoiceprintEngine
import VoiceprintFeatures
import VoiceprintModel

/// `voiceprint embed`: embeddings of audio files, computed here with a model
/// file (`--model`, offline work, through the same engine as voiceprintd) or by
/// the daemon (no `--model`).
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print embeddings of audio files as JSON lines, or write them as .npy.",
        discussion: """
        With --model (or --features) the embeddings are computed here, with voiceprintd's limits and checks \
        (--max-audio-seconds, --min-speech-seconds); without, voiceprintd computes them.
        """)

    @Argument(help: "Audio files (any format libsndfile reads), or - for standard input.")
    var files: [String] = []
    @Option(help: "Model file: compute here instead of asking the daemon.")
    var model: String?
    @OptionGroup var client: ClientOptions
    @OptionGroup var engineOptions: EngineOptionGroup
    @Option(help: "Embed this [frames, dims] .npy feature matrix instead of audio (bypasses the front end).")
    var features: String?
    @Option(help: "Write the embeddings as an [N, D] .npy file instead of printing JSON lines.")
    var output: String?

    func run() throws {
        guard let model = model ?? (features != nil ? ModelFile.defaultPath : nil) else {
            return try runThroughDaemon()
        }
        let engine: VoiceprintEngine
        do { engine = try VoiceprintEngine(modelPath: model, options: engineOptions.options) } catch {
            FileHandle.standardError.write(Data("voiceprint: \(error)\n".utf8))
            throw ExitCode(ExitStatus.usage)
        }
        var rows = [(String, [Float])]()
        if let features {
            let (shape, values) = try NumpyFile.read(path: features)
            guard shape.count == 2 else { throw ValidationError("\(features): expected a 2-D [frames, dims] array, got shape \(shape)") }
            rows.append((features, try engine.embed(features: FeatureMatrix(frames: shape[0], dimension: shape[1], values: values))))
        }
        for file in files {
            do {
                let audio = file == "-"
                    ? try engine.decode(bytes: [UInt8](FileHandle.standardInput.readDataToEndOfFile()), label: "standard input")
                    : try engine.decode(path: file)
                rows.append((file, try engine.embed(audio).vector))
            } catch {
                // Audio errors already start with the path; embedding errors do not.
                FileHandle.standardError.write(Data("voiceprint: \(error is EmbeddingError ? "\(file): " : "")\(error)\n".utf8))
                throw ExitCode(ExitStatus.badAudio)
            }
        }
        if let output {
            try NumpyFile.write(rows.flatMap(\.1), shape: [rows.count, engine.dimension], to: output)
            return
        }
        for (name, embedding) in rows {
            let object: [String: Any] = ["file": name, "embedding": embedding.map(Double.init)]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

extension EmbedCommand {
    func runThroughDaemon() throws {
        var rows = [[Float]]()
        for file in files {
            let r = try client.call(.embed(audio: ClientOptions.audio(file)))
            let vector = (r["embedding"]?.array ?? []).compactMap { $0.double.map(Float.init) }
            rows.append(vector)
            if output == nil && !client.json {
                let object: [String: Any] = ["file": file, "embedding": vector.map(Double.init)]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
        }
        if let output, let dimension = rows.first?.count {
            try NumpyFile.write(rows.flatMap { $0 }, shape: [rows.count, dimension], to: output)
        }
    }
}
