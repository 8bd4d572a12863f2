import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel

/// A batch of equal-length feature crops and their speaker labels.
public struct TrainingBatch: Sendable {
    /// [P·K, T, F] mean-normalised log-mel crops.
    public var input: Tensor
    /// Speaker index of each row (P distinct values, K rows each).
    public var labels: [Int]
}

/// Draws P speakers × K utterances per step and builds the batch: a random
/// crop length for the whole batch, a random crop of each utterance, optional
/// waveform augmentation, then per-crop mean normalisation.
///
/// A batch depends only on (seed, step), never on what was drawn before, so a
/// resumed run sees exactly the batches an uninterrupted run would have.
public struct BatchSampler: Sendable {
    public struct Options: Codable, Sendable, Equatable {
        /// Speakers per batch (P). Default 16.
        public var speakers: Int = 16
        /// Utterances per speaker (K). Default 4.
        public var utterancesPerSpeaker: Int = 4
        /// Crop length range in frames (10 ms each). Default 200–400 (2–4 s).
        public var cropFrames: ClosedRange<Int> = 200...400
        public init() {}
    }

    public let options: Options
    public let cache: UtteranceCache
    /// Speakers (cache indices) that training may draw, each with ≥ 1 utterance.
    public let speakers: [Int]
    private let utterancesBySpeaker: [[Int]]
    public let augmenter: Augmenter
    private let frontEnd: SpeechFrontEnd
    private let normalize: Bool

    public init(cache: UtteranceCache, speakers: [Int], options: Options, augmenter: Augmenter,
                features: FeatureOptions) throws {
        precondition(speakers.count >= 2, "BatchSampler needs at least 2 training speakers, got \(speakers.count)")
        precondition(options.speakers >= 2 && options.utterancesPerSpeaker >= 2,
                     "BatchSampler needs P ≥ 2 and K ≥ 2, got P=\(options.speakers) K=\(options.utterancesPerSpeaker)")
        self.options = options
        self.cache = cache
        self.speakers = speakers
        self.utterancesBySpeaker = cache.utterancesBySpeaker
        self.augmenter = augmenter
        var raw = features
        raw.meanNormalization = false
        frontEnd = try SpeechFrontEnd(features: raw)
        normalize = features.meanNormalization
    }

    public func batch(step: Int, seed: UInt64) -> TrainingBatch {
        var rng = SeededGenerator(seed: seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15))
        let p = min(options.speakers, speakers.count)
        let chosen = Array(speakers.shuffled(using: &rng).prefix(p))
        let span = options.cropFrames
        let frames = span.lowerBound + Int(rng.next() % UInt64(span.count))
        let dimension = cache.utterances[0].features.dimension
        var values = [Float]()
        values.reserveCapacity(p * options.utterancesPerSpeaker * frames * dimension)
        var labels = [Int]()
        for speaker in chosen {
            // Without replacement while the speaker has enough utterances; crops differ anyway.
            let pool = utterancesBySpeaker[speaker]
            var order = pool.shuffled(using: &rng)
            while order.count < options.utterancesPerSpeaker { order += pool.shuffled(using: &rng) }
            for index in order.prefix(options.utterancesPerSpeaker) {
                var crop = self.crop(cache.utterances[index], frames: frames, using: &rng)
                if normalize { MeanNormalization.apply(to: &crop) }
                values += crop.values
                labels.append(speaker)
            }
        }
        return TrainingBatch(input: Tensor(shape: [labels.count, frames, dimension], storage: values), labels: labels)
    }

    private func crop(_ utterance: CachedUtterance, frames: Int, using rng: inout SeededGenerator) -> FeatureMatrix {
        var features = utterance.features
        if !utterance.samples.isEmpty {
            let augmented = augmenter.augment(utterance.samples, using: &rng)
            // Noise can hide speech from the VAD; keep the clean features if too little is left.
            if let processed = try? frontEnd.process(AudioBuffer(samples: augmented, sampleRate: frontEnd.extractor.options.sampleRate)),
               processed.features.frames >= frames / 2 {
                features = processed.features
            }
        }
        return Self.crop(features, frames: frames, start: features.frames > frames ? Int(rng.next() % UInt64(features.frames - frames + 1)) : 0)
    }

    /// `frames` rows from `start`; a shorter utterance is repeated cyclically to fill the crop.
    static func crop(_ features: FeatureMatrix, frames: Int, start: Int) -> FeatureMatrix {
        if features.frames >= frames { return features.slice(start..<(start + frames)) }
        var values = [Float]()
        values.reserveCapacity(frames * features.dimension)
        var t = 0
        while t < frames {
            let take = min(features.frames, frames - t)
            values += features.values[0..<(take * features.dimension)]
            t += take
        }
        return FeatureMatrix(frames: frames, dimension: features.dimension, values: values)
    }
}
