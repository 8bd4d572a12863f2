import Foundation
import VoiceprintAudio

/// Writes a small multi-speaker corpus in the ROOT/SPEAKER/file.wav layout,
/// one `SyntheticVoice` per speaker.
public enum SyntheticCorpus {
    @discardableResult
    public static func write(root: String, speakers: Int, utterances: Int, seconds: ClosedRange<Double>,
                             seed: UInt64) throws -> [SyntheticVoice] {
        var rng = SeededGenerator(seed: seed)
        var voices = [SyntheticVoice]()
        for s in 0..<speakers {
            let voice = SyntheticVoice.random(using: &rng)
            voices.append(voice)
            let folder = root + "/spk\(String(format: "%03d", s))/session1"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for u in 0..<utterances {
                let length = seconds.lowerBound + (seconds.upperBound - seconds.lowerBound) * rng.unit()
                let samples = voice.utterance(seconds: length, using: &rng)
                try SoundFile.write(samples, sampleRate: 16_000, channels: 1, format: .wavPCM16,
                                    to: folder + "/utt\(u).wav")
            }
        }
        return voices
    }
}
