import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintFeatures

/// `voiceprint features FILE`: decode, detect speech and compute features, for
/// inspecting what the front end makes of a recording.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Decode an audio file and print its format, speech duration and feature shape."
    )

    @Argument(help: "Audio file in any format libsndfile reads, or - for standard input.")
    var file: String

    @Option(name: .long, help: "Write the feature matrix [frames, dims] as a NumPy .npy file.")
    var output: String?

    @Option(name: .long, help: "Output this many MFCCs instead of 80 log-mel energies.")
    var mfcc: Int?

    @Flag(name: .long, help: "Keep every frame: no voice activity detection, no mean normalisation.")
    var allFrames = false

    @Option(name: .long, help: "Longest accepted audio in seconds.")
    var maxSeconds: Double = 300

    func run() throws {
        var decoderOptions = AudioDecoderOptions()
        decoderOptions.maximumSeconds = maxSeconds
        let decoder = AudioDecoder(options: decoderOptions)
        var options = FeatureOptions()
        options.cepstralCoefficients = mfcc
        if allFrames { options.meanNormalization = false }

        let decoded: DecodedAudio
        do {
            if file == "-" {
                let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
                decoded = try decoder.decode(bytes: bytes, label: "<stdin>")
            } else {
                decoded = try decoder.decode(path: file)
            }
        } catch {
            FileHandle.standardError.write(Data("voiceprint: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badAudio)
        }
        let frontEnd: SpeechFrontEnd
        do { frontEnd = try SpeechFrontEnd(features: options) } catch {
            FileHandle.standardError.write(Data("voiceprint: \(error)\n".utf8))
            throw ExitCode(ExitStatus.usage)
        }
        let result = try frontEnd.process(decoded.audio)
        let matrix = allFrames ? try frontEnd.extractor.extract(decoded.audio) : result.features

        let info = decoded.original
        print("file:     \(file)")
        print("format:   \(info.container), \(info.encoding), \(info.sampleRate) Hz, \(info.channels) channel(s)")
        print(String(format: "duration: %.3f s (decoded to %d Hz mono)", decoded.audio.duration, decoded.audio.sampleRate))
        print(String(format: "speech:   %.2f s in %d of %d frames", result.speechSeconds,
                     result.activity.speechFrameCount, result.activity.frameCount))
        print(String(format: "level:    peak %.3f, RMS %.1f dBFS, clipped %.2f %%", result.levels.peak,
                     result.levels.rmsDBFS, result.levels.clippedFraction * 100))
        let kind = mfcc.map { "MFCC(\($0))" } ?? "log-mel(\(options.melBins))"
        print("features: [\(matrix.frames), \(matrix.dimension)] \(kind)\(allFrames ? ", all frames" : ", speech frames, mean-normalised")")
        if let output {
            try NumpyFile.write(matrix.values, shape: [matrix.frames, matrix.dimension], to: output)
            print("wrote:    \(output)")
        }
    }
}
