import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTestSupport

@Suite struct ModelFileTests {
    static let small = Architecture(
        inputDimension: 80,
        frameLayers: [.init(channels: 8, kernel: 3, dilation: 1), .init(channels: 12, kernel: 1, dilation: 1)],
        embeddingDimension: 6)

    static func model(seed: UInt64 = 1) throws -> EmbeddingModel {
        var rng = SeededGenerator(seed: seed)
        let model = try EmbeddingModel(architecture: small, using: &rng)
        // Non-trivial running statistics, so a reload that dropped them would be caught.
        for (name, p) in model.namedParameters where name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
            p.value = Tensor(shape: p.value.shape, storage: p.value.storage.map { _ in Float(0.5 + rng.unit()) })
        }
        return model
    }

    static func features(frames: Int = 40, seed: UInt64 = 2) -> FeatureMatrix {
        var rng = SeededGenerator(seed: seed)
        return FeatureMatrix(frames: frames, dimension: 80, values: (0..<(frames * 80)).map { _ in Float(rng.gaussian()) })
    }

    @Test func roundTripGivesTheSameEmbeddingAndMetadata() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("m.safetensors")
        let model = try Self.model()
        var metadata = ModelMetadata(architecture: Self.small, threshold: 0.61, thresholdFalseAcceptRate: 0.01,
                                     equalErrorRate: 0.023, trainedOn: "tests", extra: ["seed": "7"])
        metadata.features.window = .hamming
        let cohort = Tensor(shape: [3, 6], storage: (0..<18).map { Float($0) / 18 })
        try ModelFile.write(model: model, metadata: metadata, cohort: cohort, to: path)
        let loaded = try ModelFile.load(path: path)
        #expect(loaded.metadata == metadata)
        #expect(loaded.cohort == cohort)
        // Weights come back bit for bit; embeddings then agree up to the summation order
        // OpenBLAS picks for its thread count, which tests running alongside may change.
        for ((name, ours), (_, theirs)) in zip(loaded.model.namedParameters, model.namedParameters) {
            #expect(ours.value == theirs.value, "\(name)")
        }
        let (after, before) = (try loaded.model.embed(Self.features()), try model.embed(Self.features()))
        #expect(after.count == before.count && zip(after, before).allSatisfy { abs($0 - $1) < 1e-5 })
        let header = try SafeTensors(path: path).metadata
        #expect(header["format"] == "voiceprint-embedding" && header["format_version"] == "1")
        #expect(header["embedding_dim"] == "6" && header["threshold"] == "0.61")
    }

    func refusal(_ mutate: (inout SafeTensors) -> Void) throws -> String {
        var file = ModelFile.container(model: try Self.model(), metadata: ModelMetadata(architecture: Self.small))
        mutate(&file)
        let error = #expect(throws: ModelError.self) { try ModelFile.decode(file, source: "bad.safetensors") }
        return error?.description ?? ""
    }

    @Test func refusesAnotherFormat() throws {
        let message = try refusal { $0.metadata["format"] = "something-else" }
        #expect(message == "bad.safetensors: metadata field \"format\" is \"something-else\"; expected \"voiceprint-embedding\"")
        #expect(try refusal { $0.metadata["format"] = nil }.contains("metadata field \"format\" is missing"))
    }

    @Test func refusesAnUnknownVersion() throws {
        #expect(try refusal { $0.metadata["format_version"] = "2" }
            == "bad.safetensors: format_version \"2\" is not supported; this build reads version 1")
    }

    @Test func refusesMissingExtraAndMisshapenTensors() throws {
        #expect(try refusal { $0.tensors["frame.1.bn.running_var"] = nil }
            == "bad.safetensors: tensor \"frame.1.bn.running_var\" is missing")
        #expect(try refusal { $0.tensors["frame.9.conv.weight"] = Tensor(zeros: [1]) }
            .contains("unexpected tensor \"frame.9.conv.weight\""))
        #expect(try refusal { $0.tensors["embedding.linear.weight"] = Tensor(zeros: [6, 23]) }
            == "bad.safetensors: tensor \"embedding.linear.weight\" has shape [6, 23]; the architecture needs [6, 24]")
        #expect(try refusal { $0.tensors["cohort"] = Tensor(zeros: [2, 5]) }.contains("tensor \"cohort\" has shape [2, 5]"))
        #expect(try refusal { $0.tensors["frame.0.conv.bias"]!.storage[0] = .nan }.contains("NaN"))
    }

    @Test func refusesInconsistentMetadata() throws {
        #expect(try refusal { $0.metadata["embedding_dim"] = "7" }.contains("embedding_dim \"7\" disagrees"))
        #expect(try refusal { $0.metadata["threshold"] = "high" }.contains("threshold \"high\" is not a number"))
        #expect(try refusal { $0.metadata["architecture"] = "{}" }.contains("metadata field \"architecture\" is not a valid"))
        #expect(try refusal { $0.metadata["features"] = #"{"melBins": 40}"# }.contains("features"))
    }

    @Test func refusesWrongMagicDtypeAndTruncation() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("m.safetensors")
        try ModelFile.write(model: try Self.model(), metadata: ModelMetadata(architecture: Self.small), to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))

        let cut = dir.file("cut.safetensors")
        try Data(bytes.prefix(bytes.count - 10)).write(to: URL(fileURLWithPath: cut))
        let truncated = #expect(throws: ModelError.self) { try ModelFile.load(path: cut) }
        #expect(truncated?.description.contains("truncated") == true)

        let garbage = dir.file("garbage.safetensors")
        try Data("not a model at all".utf8).write(to: URL(fileURLWithPath: garbage))
        let magic = #expect(throws: ModelError.self) { try ModelFile.load(path: garbage) }
        #expect(magic?.description.hasPrefix(garbage) == true)

        // Re-label one tensor as F16 in the JSON header (same byte length keeps offsets valid).
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        var header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        header = header.replacingOccurrences(of: #""embedding.bn.bias":{"dtype":"F32""#, with: #""embedding.bn.bias":{"dtype":"F16""#)
        bytes.replaceSubrange(8..<(8 + headerLength), with: Array(header.utf8))
        let f16 = dir.file("f16.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: f16))
        let dtype = #expect(throws: ModelError.self) { try ModelFile.load(path: f16) }
        #expect(dtype?.description.contains("tensor \"embedding.bn.bias\": dtype F16 is not supported") == true)
    }
}
