import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintFeatures

/// Front-end throughput on one core: decode + resample + VAD + log-mel from an
/// encoded file, and log-mel alone, on a long speech-like signal.
struct FeatureBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features", abstract: "Seconds of audio processed per wall second (one thread).")

    @Option(help: "Length of the test signal in seconds.")
    var seconds: Double = 600
    @Option(help: "Timed repetitions per figure (after one warm-up).")
    var repeats: Int = 5
    @Option(help: "Folder for the generated test files (kept, so other tools can read the same audio).")
    var workDir: String = "/tmp/voiceprint-bench"
    @Option(help: "Write the measurements as JSON here.")
    var json: String?

    func run() throws {
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        var rng = SeededGenerator(seed: 7)
        let signal = SyntheticVoice.random(using: &rng).utterance(seconds: seconds, using: &rng)
        let wav16 = workDir + "/bench-16k.wav"
        let flac44 = workDir + "/bench-44k-stereo.flac"
        try SoundFile.write(signal, sampleRate: 16_000, channels: 1, format: .wavPCM16, to: wav16)
        let signal44 = Resampler.resample(signal, from: 16_000, to: 44_100)
        try SoundFile.write(zip(signal44, signal44).flatMap { [$0, $1 * 0.9] }, sampleRate: 44_100, channels: 2,
                            format: .flac16, to: flac44)
        print("signal: \(Int(seconds)) s; files in \(workDir)")

        let decoder = AudioDecoder(options: { var o = AudioDecoderOptions(); o.maximumSeconds = seconds * 2; return o }())
        let frontEnd = try SpeechFrontEnd()
        let extractor = frontEnd.extractor
        var mfccOptions = FeatureOptions()
        mfccOptions.cepstralCoefficients = 30
        let mfcc = try LogMelExtractor(options: mfccOptions)
        let audio = AudioBuffer(samples: signal, sampleRate: 16_000)
        let threeSeconds = Array(signal.prefix(48_000))

        var results = [Measurement]()
        results.append(try Measurement.time("log-mel alone, one call", work: seconds, repeats: repeats) {
            _ = try extractor.extract(audio)
        })
        let chunks = Int(seconds / 3)
        results.append(Measurement.time("log-mel alone, 3 s calls", work: Double(chunks) * 3, repeats: repeats) {
            for _ in 0..<chunks { _ = extractor.extract(samples: threeSeconds) }
        })
        results.append(try Measurement.time("MFCC(30) alone, one call", work: seconds, repeats: repeats) {
            _ = try mfcc.extract(audio)
        })
        results.append(Measurement.time("VAD alone", work: seconds, repeats: repeats) {
            _ = frontEnd.detector.detect(audio)
        })
        results.append(try Measurement.time("16 kHz WAV: decode+VAD+log-mel+CMN", work: seconds, repeats: repeats) {
            _ = try frontEnd.process(try decoder.decode(path: wav16).audio)
        })
        results.append(try Measurement.time("44.1 kHz stereo FLAC: decode+resample+VAD+log-mel+CMN", work: seconds, repeats: repeats) {
            _ = try frontEnd.process(try decoder.decode(path: flac44).audio)
        })
        results.append(try Measurement.time("44.1 kHz stereo FLAC: decode+resample", work: seconds, repeats: repeats) {
            _ = try decoder.decode(path: flac44)
        })
        let mono44 = signal44
        results.append(Measurement.time("resample 44.1→16 kHz alone (soxr HQ)", work: seconds, repeats: repeats) {
            _ = Resampler.resample(mono44, from: 44_100, to: 16_000)
        })
        results.append(try Measurement.time("44.1 kHz stereo FLAC: libsndfile read alone", work: seconds, repeats: repeats) {
            _ = try SoundFile(path: flac44).readAllFrames(maxFrames: Int.max / 4)
        })
        for result in results { print(result.line) }
        try Measurement.save(results, to: json)
    }
}
