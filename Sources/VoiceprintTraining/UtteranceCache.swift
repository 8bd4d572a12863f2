import Foundation
import VoiceprintAudio
import VoiceprintFeatures

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
                            progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> UtteranceCache {
        var options = features
        options.meanNormalization = false
        let frontEnd = try SpeechFrontEnd(features: options)
        var decoderOptions = AudioDecoderOptions()
        decoderOptions.sampleRate = features.sampleRate
        decoderOptions.maximumSeconds = maximumSeconds
        let decoder = AudioDecoder(options: decoderOptions)

        let jobs = corpus.speakers.enumerated().flatMap { index, speaker in speaker.files.map { (index, $0) } }
        let results = ResultSlots<Result<CachedUtterance, UtteranceFailure>>(count: jobs.count)
        let next = Counter()
        DispatchQueue.concurrentPerform(iterations: max(1, threads)) { _ in
            while let i = next.take(below: jobs.count) {
                let (speaker, path) = jobs[i]
                let outcome: Result<CachedUtterance, UtteranceFailure>
                do {
                    let audio = try decoder.decode(path: path).audio
                    let processed = try frontEnd.process(audio)
                    if processed.features.frames < minimumFrames {
                        outcome = .failure(.tooShort(path))
                    } else {
                        outcome = .success(CachedUtterance(speaker: speaker, path: path,
                                                           samples: keepAudio ? audio.samples : [],
                                                           features: processed.features))
                    }
                } catch {
                    outcome = .failure(.unreadable(path, "\(error)"))
                }
                results.set(i, outcome)
                progress(next.finished(), jobs.count)
            }
        }

        var utterances = [CachedUtterance]()
        var failures = [(String, String)]()
        var tooShort = [String]()
        for slot in results.values {
            switch slot! {
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

/// Results written by index from worker threads.
final class ResultSlots<T>: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var storage: [T?]
    init(count: Int) { storage = [T?](repeating: nil, count: count) }
    func set(_ index: Int, _ value: T) { lock.withLock { storage[index] = value } }
    var values: [T?] { lock.withLock { storage } }
}

/// Hands out job indices to worker threads and counts finished jobs.
final class Counter: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var issued = 0
    private var done = 0
    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard issued < limit else { return nil }
            issued += 1
            return issued - 1
        }
    }
    func finished() -> Int { lock.withLock { done += 1; return done } }
}
