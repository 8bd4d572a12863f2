import ArgumentParser
import Foundation
import VoiceprintEngine

/// The engine settings the offline commands share with voiceprintd's
/// configuration, with the same defaults, so `embed` and `evaluate` refuse and
/// accept exactly what the daemon would.
extension PrecisionChoice: ExpressibleByArgument {}

struct EngineOptionGroup: ParsableArguments {
    @Option(help: "Longest audio in seconds (voiceprintd: max_audio_seconds).")
    var maxAudioSeconds = EngineOptions().maximumAudioSeconds
    @Option(help: "Least detected speech per file in seconds (voiceprintd: min_speech_seconds).")
    var minSpeechSeconds = EngineOptions().minimumSpeechSeconds
    @Flag(help: "Keep silence: embed every frame (for audio that is already segmented, and reference comparisons).")
    var noVad = false
    @Option(help: "Recurrent arithmetic: auto (bf16 where the CPU has AVX512_BF16), float32 or bf16 (voiceprintd: precision).")
    var precision: PrecisionChoice = .auto

    var options: EngineOptions {
        var options = EngineOptions()
        options.maximumAudioSeconds = maxAudioSeconds
        options.minimumSpeechSeconds = minSpeechSeconds
        options.removesSilence = !noVad
        options.precision = precision
        return options
    }

    func validate() throws {
        guard maxAudioSeconds > 0 else { throw ValidationError("--max-audio-seconds must be positive, got \(maxAudioSeconds)") }
        guard minSpeechSeconds >= 0 else { throw ValidationError("--min-speech-seconds must be 0 or more, got \(minSpeechSeconds)") }
    }
}
