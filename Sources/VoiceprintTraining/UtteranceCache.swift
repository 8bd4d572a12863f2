import Foundation
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

/// One decoded training utterance.
public struct CachedUtterance: Sendable {
    /// Index into `UtteranceCache.speakers`.
    public var speaker: Int
    public var path: String
    /// 16 kHz mono samples, kept only when augmentation needs the waveform.
    public var samples: [Float]
    /// Log-mel features of the speech frames, *not* mean-normalised: each
    /// training crop is normalised on its own, as a short utterance would be.
    public var features: FeatureMatrix

    public init(speaker: Int, path: String, samples: [Float], features: FeatureMatrix) {
        self.speaker = speaker
        self.path = path
        self.samples = samples
        self.features = features
    }
}

/// Every utterance of a corpus decoded and featurised once, in parallel, so
/// that training steps only crop, augment and normalise (DESIGN.md §2).
public struct UtteranceCache: Sendable {
    public let speakers: [String]
    public let utterances: [CachedUtterance]
    /// Files that could not be decoded, with the reason.
    public let failures: [(path: String, message: String)]
    /// Files with less speech than `minimumFrames`.
    public let tooShort: [String]

    /// Utterance indices of each speaker.
    public var utterancesBySpeaker: [[Int]] {
        var groups = [[Int]](repeating: [], count: speakers.count)
        for (i, u) in utterances.enumerated() { groups[u.speaker].append(i) }
        return groups
    }

    /// Decodes and featurises `corpus` on `threads` threads.
    /// - Parameters:
    ///   - keepAudio: keep the waveform of each file (needed for augmentation; 64 KB per second).
    ///   - minimumFrames: files with fewer speech frames are skipped (and listed in `tooShort`).
    ///   - progress: called from worker threads with (files done, total files).
    public static func load(corpus: SpeakerCorpus, features: FeatureOptions, keepAudio: Bool,
                            minimumFrames: Int, maximumSeconds: Double = 60, threads: Int,
                            progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> UtteranceCache {
        var options = features
        options.meanNormalization = false
        let frontEnd = try SpeechFrontEnd(features: options)
        var decoderOptions = AudioDecoderOptions()
        decoderOptions.sampleRate = features.sampleRate
        decoderOptions.maximumSeconds = maximumSeconds
        let decoder = AudioDecoder(options: decoderOptions)

        let jobs = corpus.speakers.enumerated().flatMap { index, speaker in speaker.files.map { (index, $0) } }
        let results = parallelMap(count: jobs.count, threads: threads, progress: { progress($0, jobs.count) }) { i in
            let (speaker, path) = jobs[i]
            do {
                let audio = try decoder.decode(path: path).audio
                let processed = try frontEnd.process(audio)
                guard processed.features.frames >= minimumFrames else {
                    return Result<CachedUtterance, UtteranceFailure>.failure(.tooShort(path))
                }
                return .success(CachedUtterance(speaker: speaker, path: path, samples: keepAudio ? audio.samples : [],
                                                features: processed.features))
            } catch {
                return .failure(.unreadable(path, "\(error)"))
            }
        }

        var utterances = [CachedUtterance]()
        var failures = [(String, String)]()
        var tooShort = [String]()
        for result in results {
            switch result {
            case .success(let u): utterances.append(u)
            case .failure(.tooShort(let path)): tooShort.append(path)
            case .failure(.unreadable(let path, let message)): failures.append((path, message))
            }
        }
        return UtteranceCache(speakers: corpus.speakers.map(\.id), utterances: utterances,
                              failures: failures.map { (path: $0.0, message: $0.1) }, tooShort: tooShort)
    }

    public init(speakers: [String], utterances: [CachedUtterance], failures: [(path: String, message: String)] = [],
                tooShort: [String] = []) {
        self.speakers = speakers
        self.utterances = utterances
        self.failures = failures
        self.tooShort = tooShort
    }
}

private enum UtteranceFailure: Error {
    case unreadable(String, String)
    case tooShort(String)
}
