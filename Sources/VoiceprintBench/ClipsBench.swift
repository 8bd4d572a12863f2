import ArgumentParser
import Foundation
import VoiceprintAudio

/// Writes the synthetic 3 s clips that the daemon bench sends, as WAV files, so that
/// another system (scripts/bench-peer: Resemblyzer) can be timed on exactly the same audio.
struct ClipsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clips", abstract: "Write synthetic 16 kHz mono WAV clips of one voice (for `daemon --clips` and peers).")

    @Option(help: "Folder to write clip-000.wav, clip-001.wav, … into (created; existing clip-*.wav replaced).") var out: String
    @Option(help: "Number of clips.") var count = 64
    @Option(help: "Seconds per clip.") var seconds = 3.0
    @Option(help: "Seed: picks the voice and the utterances.") var seed: UInt64 = 5

    func run() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for old in try FileManager.default.contentsOfDirectory(atPath: out) where old.hasPrefix("clip-") && old.hasSuffix(".wav") {
            try FileManager.default.removeItem(atPath: out + "/" + old)
        }
        var rng = SeededGenerator(seed: seed)
        let voice = SyntheticVoice.random(using: &rng)
        for i in 0..<count {
            let wav = try SoundFile.encode(voice.utterance(seconds: seconds, using: &rng), sampleRate: 16_000, channels: 1, format: .wavPCM16)
            try Data(wav).write(to: URL(fileURLWithPath: out + String(format: "/clip-%03d.wav", i)))
        }
        print("wrote \(count) clips of \(seconds) s (one synthetic voice, seed \(seed)) to \(out)")
    }

    /// The clip files in a folder written by `clips`, in order.
    static func read(_ folder: String) throws -> [[UInt8]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasPrefix("clip-") && $0.hasSuffix(".wav") }.sorted()
        guard !names.isEmpty else { throw ValidationErrorText("\(folder) holds no clip-*.wav (write them with `VoiceprintBench clips`)") }
        return try names.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0))) }
    }
}
