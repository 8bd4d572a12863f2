import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTraining

/// Training throughput: utterances (crops) per second through forward, triplet
/// loss, backward and Adam, with batches prefetched, on a synthetic corpus held
/// in memory (so disk and decoding are not measured).
struct TrainingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "training", abstract: "Training utterances per second for the default architecture.")

    @Option(help: "Timed steps per configuration (after warm-up steps).")
    var steps = 30
    @Option(help: "Thread counts to compare, comma-separated.")
    var threads = "1,2"
    @Flag(help: "Augment crops on the fly (noise, gain, speed) as default training does.")
    var augment = false
    @Option(help: "Write the measurements as JSON here.")
    var json: String?

    func run() throws {
        var rng = SeededGenerator(seed: 3)
        var features = FeatureOptions()
        let frontEnd = try SpeechFrontEnd(features: { features.meanNormalization = false; return features }())
        var utterances = [CachedUtterance]()
        for speaker in 0..<64 {
            let voice = SyntheticVoice.random(using: &rng)
            for _ in 0..<6 {
                let samples = voice.utterance(seconds: 4.5, using: &rng)
                let f = try frontEnd.process(AudioBuffer(samples: samples, sampleRate: 16_000)).features
                utterances.append(CachedUtterance(speaker: speaker, path: "", samples: augment ? samples : [], features: f))
            }
        }
        let cache = UtteranceCache(speakers: (0..<64).map { "s\($0)" }, utterances: utterances)
        features.meanNormalization = true
        var results = [Measurement]()
        for count in threads.split(separator: ",").compactMap({ Int($0) }) {
            var options = TrainingOptions()
            options.features = features
            options.threads = count
            options.steps = steps + 3
            // A fixed 3 s crop keeps every step the same size, so steps are comparable.
            options.batch.cropFrames = 300...300
            options.validationSpeakers = 4
            options.validateEvery = 1_000_000
            if !augment { options.augmentation = .none }
            let trainer = try Trainer(options: options, cache: cache)
            var stamps = [Date]()
            _ = try trainer.run(checkpointPath: nil, report: { if $0.event == .step { stamps.append(Date()) } })
            // Skip the first three steps (plan creation, page faults, prefetch fill).
            let per = zip(stamps.dropFirst(3), stamps.dropFirst(4)).map { $1.timeIntervalSince($0) }
            let batch = Double(options.batch.speakers * options.batch.utterancesPerSpeaker)
            // Crops average 3 s: "audio seconds" here are crop-seconds, so RTF = crop-seconds/s.
            results.append(Measurement(name: "training utterances (3 s crops, 64 per step), \(count) thread(s)\(augment ? ", augmented" : "")",
                                       seconds: per, work: batch, unit: .perSecond))
        }
        for r in results { print(r.line) }
        try Measurement.save(results, to: json)
    }
}
