import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

/// `voiceprint embed`: embeddings of audio files, computed here with a model
/// file (`--model`, offline work) or by the daemon (no `--model`).
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print embeddings of audio files as JSON lines, or write them as .npy.",
        discussion: "With --model (or --features) the embeddings are computed here; without, voiceprintd computes them.")

    @Argument(help: "Audio files (any format libsndfile reads), or - for standard input.")
    var files: [String] = []
    @Option(help: "Model file: compute here instead of asking the daemon.")
    var model: String?
    @OptionGroup var client: ClientOptions
    @Option(help: "Embed this [frames, dims] .npy feature matrix instead of audio (bypasses the front end).")
    var features: String?
    @Option(help: "Write the embeddings as an [N, D] .npy file instead of printing JSON lines.")
    var output: String?
    @Flag(help: "Keep silence: embed every frame (with --model; for segmented audio and reference comparisons).")
    var noVad = false

    func run() throws {
        guard let model = model ?? (features != nil ? ModelFile.defaultPath : nil) else {
            return try runThroughDaemon()
        }
        let loaded: LoadedModel
        do { loaded = try ModelFile.load(path: model) } catch {
            FileHandle.standardError.write(Data("voiceprint: \(error)\n".utf8))
            throw ExitCode(ExitStatus.usage)
        }
        var rows = [(String, [Float])]()
        if let features {
            let (shape, values) = try NumpyFile.read(path: features)
            guard shape.count == 2 else { throw ValidationError("\(features): expected a 2-D [frames, dims] array, got shape \(shape)") }
            rows.append((features, try loaded.model.embed(FeatureMatrix(frames: shape[0], dimension: shape[1], values: values))))
        }
        let frontEnd = try SpeechFrontEnd(features: loaded.metadata.features, removesSilence: !noVad)
        let decoder = AudioDecoder()
        for file in files {
            do {
                let utterance = try frontEnd.process(try decoder.decode(path: file).audio)
                rows.append((file, try loaded.model.embed(utterance.features)))
            } catch {
                FileHandle.standardError.write(Data("voiceprint: \(file): \(error)\n".utf8))
                throw ExitCode(ExitStatus.badAudio)
            }
        }
        if let output {
            let dimension = loaded.model.architecture.embeddingDimension
            try NumpyFile.write(rows.flatMap(\.1), shape: [rows.count, dimension], to: output)
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
