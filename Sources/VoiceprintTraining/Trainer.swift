import Foundation
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintScoring

/// What the trainer reports after each step and at each milestone.
public struct TrainingProgress: Sendable {
    public enum Event: Sendable, Equatable {
        case step
        case validation(eer: Double)
        case checkpoint(path: String)
        /// Embeddings are collapsing to one point: d(A,P) and d(A,N) both near 0.
        case collapse
    }

    public var event: Event
    public var step: Int
    public var totalSteps: Int
    public var loss: Float
    public var activeFraction: Double
    public var positiveDistance: Double
    public var negativeDistance: Double
    public var learningRate: Float
    /// Seconds since this run (not the resumed one) started.
    public var elapsed: Double
    /// Steps done in this run, for the rate behind the ETA.
    public var stepsThisRun: Int
}

/// Why training cannot start.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooFewSpeakers(usable: Int)

    public var description: String {
        switch self {
        case .tooFewSpeakers(let usable):
            return "training needs at least 2 training speakers with 2 usable utterances each (plus any held out for validation); found \(usable) usable speakers"
        }
    }
}

/// The result of a run.
public struct TrainingOutcome: Sendable {
    public var finalStep: Int
    /// True when `shouldStop` ended the run early.
    public var interrupted: Bool
    /// (step, EER) pairs.
    public var validation: [[Double]]
    /// EER and its threshold at the end, on the validation speakers.
    public var finalEER: (rate: Double, threshold: Float)?
    public var finalFalseAcceptRate: Double?
    /// Mean loss over the last 50 steps.
    public var recentLoss: Float
}

/// Trains an `EmbeddingModel` with the triplet loss on P × K batches
/// (DESIGN.md §2): Adam with warm-up and cosine decay, batches prefetched on a
/// background thread, validation EER on held-out speakers, checkpoints.
public final class Trainer {
    public let options: TrainingOptions
    public let model: EmbeddingModel
    public let cache: UtteranceCache
    /// Cache speaker indices used for training and for validation.
    public let trainingSpeakers: [Int]
    public let validationSpeakers: [Int]
    /// Leading layers that training leaves alone (a frozen encoder when fine-tuning the head).
    public let frozenLayers: Int
    private let optimizer: Adam
    private let loss: TripletLoss
    private let schedule: LearningRateSchedule
    private var validationHistory: [[Double]] = []
    private var startStep = 0

    /// `initial` is the model to fine-tune when `options.fineTuning` is set
    /// (its architecture must be `options.architecture`); otherwise training
    /// starts from random weights drawn from the seed.
    public init(options: TrainingOptions, cache: UtteranceCache, initial: EmbeddingModel? = nil) throws {
        self.options = options
        self.cache = cache
        var rng = SeededGenerator(seed: options.seed)
        if let initial {
            precondition(initial.architecture == options.architecture, "Trainer: the initial model's architecture differs from the options'")
            model = initial
        } else {
            model = try EmbeddingModel(architecture: options.architecture, using: &rng)
        }
        let fineTuning = initial == nil ? nil : options.fineTuning
        if fineTuning?.newHead == true {
            // A fresh projection from a network of the same shape, drawn from the seed.
            let fresh = try EmbeddingModel(architecture: options.architecture, using: &rng)
            for ((name, target), (_, source)) in zip(model.namedParameters, fresh.namedParameters) where name.hasPrefix("embedding.") {
                target.value = source.value
            }
        }
        frozenLayers = fineTuning?.scope == .head ? model.encoderLayerCount : 0
        optimizer = Adam(parameters: model.layers[frozenLayers...].flatMap(\.layer.parameters), options: options.optimizer)
        loss = TripletLoss(margin: options.margin, mining: options.mining)
        schedule = LearningRateSchedule(peak: options.optimizer.learningRate, warmupSteps: options.warmupSteps,
                                        totalSteps: options.steps)
        // Speakers with one usable utterance cannot form a positive pair.
        let usable = cache.utterancesBySpeaker.enumerated().filter { $0.element.count >= 2 }.map(\.offset)
        let held = min(options.resolvedValidationSpeakers(total: usable.count), max(0, usable.count - 2))
        var splitRng = SeededGenerator(seed: options.seed &+ 1)
        let shuffled = usable.shuffled(using: &splitRng)
        validationSpeakers = Array(shuffled.prefix(held)).sorted()
        trainingSpeakers = Array(shuffled.dropFirst(held)).sorted()
        guard trainingSpeakers.count >= 2 else {
            throw TrainingError.tooFewSpeakers(usable: usable.count)
        }
    }

    /// Continues from a checkpoint written by an earlier run with the same options.
    public func resume(from path: String) throws {
        let checkpoint = try Checkpoint.restore(from: path, into: model, optimizer: optimizer)
        startStep = checkpoint.step
        validationHistory = checkpoint.validation
    }

    /// Runs until `options.steps` or until `shouldStop()` returns true (checked
    /// between steps; a final checkpoint is then written).
    public func run(checkpointPath: String?, shouldStop: @escaping () -> Bool = { false },
                    report: (TrainingProgress) -> Void = { _ in }) throws -> TrainingOutcome {
        // One replica per thread, each with single-threaded BLAS (see DataParallel).
        BLAS.setThreads(1)
        let parallel = try DataParallel(master: model, ways: options.threads, frozen: frozenLayers)
        let sampler = try BatchSampler(cache: cache, speakers: trainingSpeakers, options: options.batch,
                                       augmenter: Augmenter(options: options.augmentation), features: options.features)
        let prefetcher = BatchPrefetcher(sampler: sampler, seed: options.seed, steps: startStep..<options.steps)
        defer { prefetcher.stop() }
        let started = Date()
        var recent = [Float]()
        var step = startStep
        var interrupted = false
        var collapseReported = false
        while step < options.steps {
            if shouldStop() { interrupted = true; break }
            let batch = prefetcher.batch(for: step)
            let (embeddings, shares) = parallel.forward(batch.input, groups: batch.labels.count / options.batch.utterancesPerSpeaker)
            let result = loss(embeddings: embeddings, labels: batch.labels)
            parallel.backward(result.gradient, shares: shares)
            let rate = schedule.rate(at: step)
            optimizer.update(learningRate: rate)
            parallel.synchronize()
            step += 1

            recent.append(result.loss)
            if recent.count > 50 { recent.removeFirst() }
            var progress = TrainingProgress(
                event: .step, step: step, totalSteps: options.steps, loss: result.loss,
                activeFraction: result.activeFraction, positiveDistance: result.meanPositiveDistance,
                negativeDistance: result.meanNegativeDistance, learningRate: rate,
                elapsed: Date().timeIntervalSince(started), stepsThisRun: step - startStep)
            report(progress)
            if result.meanNegativeDistance < 0.05 && result.meanPositiveDistance < 0.05 && !collapseReported {
                collapseReported = true
                progress.event = .collapse
                report(progress)
            }
            if step % options.validateEvery == 0 || step == options.steps, let eer = validate()?.rate {
                validationHistory.append([Double(step), eer])
                progress.event = .validation(eer: eer)
                report(progress)
            }
            if let checkpointPath, step % options.checkpointEvery == 0 {
                try Checkpoint.write(model: model, optimizer: optimizer, step: step, options: options,
                                     validation: validationHistory, to: checkpointPath)
                progress.event = .checkpoint(path: checkpointPath)
                report(progress)
            }
        }
        if interrupted, let checkpointPath {
            try Checkpoint.write(model: model, optimizer: optimizer, step: step, options: options,
                                 validation: validationHistory, to: checkpointPath)
        }
        let final = validationMetrics()
        let eer = final?.equalErrorRate
        // The false-accept rate of the EER threshold: the last operating point at or above it.
        let far = eer.flatMap { eer in final?.curve.last { $0.threshold >= eer.threshold }?.falseAcceptRate }
        return TrainingOutcome(
            finalStep: step, interrupted: interrupted, validation: validationHistory,
            finalEER: eer, finalFalseAcceptRate: far,
            recentLoss: recent.isEmpty ? 0 : recent.reduce(0, +) / Float(recent.count))
    }

    /// Validation EER on the held-out speakers, or nil without any.
    public func validate() -> (rate: Double, threshold: Float)? {
        validationMetrics()?.equalErrorRate
    }

    /// All-pairs cosine scores between held-out utterances (at most 400 of them).
    public func validationMetrics() -> VerificationMetrics? {
        guard validationSpeakers.count >= 2 else { return nil }
        let groups = cache.utterancesBySpeaker
        var chosen = [Int]()
        // Round-robin over speakers so a capped set still covers every speaker.
        let lists = validationSpeakers.map { groups[$0] }
        var depth = 0
        while chosen.count < 400 && lists.contains(where: { $0.count > depth }) {
            for list in lists where list.count > depth && chosen.count < 400 { chosen.append(list[depth]) }
            depth += 1
        }
        let features = chosen.map { index -> FeatureMatrix in
            var f = cache.utterances[index].features
            if options.features.meanNormalization { MeanNormalization.apply(to: &f) }
            return f
        }
        guard let embeddings = try? model.embed(batch: features) else { return nil }
        var targets = [Float](), impostors = [Float]()
        for i in 0..<chosen.count {
            for j in (i + 1)..<chosen.count {
                let score = zip(embeddings[i], embeddings[j]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                if cache.utterances[chosen[i]].speaker == cache.utterances[chosen[j]].speaker {
                    targets.append(score)
                } else {
                    impostors.append(score)
                }
            }
        }
        guard !targets.isEmpty, !impostors.isEmpty else { return nil }
        return VerificationMetrics(targetScores: targets, impostorScores: impostors)
    }
}

extension Trainer {
    /// A score-normalisation cohort: one unit-length vector per training
    /// speaker (the normalised mean of up to `utterancesPerSpeaker` of its
    /// utterance embeddings), for at most `maxSpeakers` speakers. Training
    /// speakers are impostors to anyone enrolled later, which is what AS-norm needs.
    public func cohort(maxSpeakers: Int, utterancesPerSpeaker: Int = 5) -> Tensor? {
        let groups = cache.utterancesBySpeaker
        let speakers = trainingSpeakers.prefix(maxSpeakers)
        guard !speakers.isEmpty else { return nil }
        let d = model.architecture.embeddingDimension
        var rows = [Float]()
        for speaker in speakers {
            let features = groups[speaker].prefix(utterancesPerSpeaker).map { index -> FeatureMatrix in
                var f = cache.utterances[index].features
                if options.features.meanNormalization { MeanNormalization.apply(to: &f) }
                return f
            }
            guard let embeddings = try? model.embed(batch: features) else { continue }
            var mean = [Float](repeating: 0, count: d)
            for e in embeddings { for i in 0..<d { mean[i] += e[i] } }
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            rows += mean.map { $0 / max(norm, 1e-12) }
        }
        return rows.isEmpty ? nil : Tensor(shape: [rows.count / d, d], storage: rows)
    }
}
