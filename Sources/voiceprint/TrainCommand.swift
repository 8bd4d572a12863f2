import ArgumentParser
import Dispatch
import Foundation
import VoiceprintFeatures
import VoiceprintModel
import VoiceprintTraining

/// `voiceprint train`: trains an embedding model with the triplet loss on a
/// folder of speakers and writes a model file.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an embedding model with the triplet loss on ROOT/SPEAKER/**/audio files.",
        discussion: """
        Every audio file below ROOT/SPEAKER_ID/ (any depth) is an utterance of that speaker, the
        layout of VoxCeleb and LibriSpeech. Speakers with fewer than 2 files are skipped; files that
        cannot be decoded are skipped and counted. Interrupt with Ctrl-C to write a checkpoint;
        continue with --resume.
        """)

    @Option(help: "Corpus root: ROOT/SPEAKER_ID/**/*.{wav,flac,ogg,opus,mp3,…}.")
    var data: String
    @Option(help: "Where to write the trained model (.safetensors).")
    var out: String
    @Option(help: "Optimiser steps (default 3000 unless --epochs is given).")
    var steps: Int?
    @Option(help: "Passes over the training utterances; sets --steps from P×K.")
    var epochs: Double?
    @Option(name: [.customShort("P"), .long], help: "Speakers per batch (P).")
    var speakersPerBatch = 16
    @Option(name: [.customShort("K"), .long], help: "Utterances per speaker in a batch (K).")
    var utterancesPerSpeaker = 4
    @Option(help: "Triplet margin α on squared distances of unit vectors.")
    var margin: Float = 0.2
    @Option(help: "Triplet mining: all, batch-hard, semi-hard, multi-sample.")
    var mining: TripletMining = .semiHard
    @Option(help: "Shortest training crop in seconds.")
    var minCrop = 2.0
    @Option(help: "Longest training crop in seconds.")
    var maxCrop = 4.0
    @Option(help: "Peak learning rate (Adam, after warm-up; cosine decay follows).")
    var learningRate: Float = 2e-3
    @Option(help: "Warm-up steps.")
    var warmup = 200
    @Option(help: "Decoupled weight decay.")
    var weightDecay: Float = 1e-4
    @Option(help: "Seed: the same seed and data give the same model.")
    var seed: UInt64 = 1
    @Option(help: "Threads for decoding and matrix products (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Speakers held out for validation EER (default 10 %, 4 … 100).")
    var validationSpeakers: Int?
    @Option(help: "Steps between validation runs.")
    var validateEvery = 250
    @Option(help: "Checkpoint file (default: OUT with .ckpt appended).")
    var checkpoint: String?
    @Option(help: "Steps between checkpoints.")
    var checkpointEvery = 500
    @Flag(help: "Continue from the checkpoint file.")
    var resume = false
    @Option(help: "Network size: standard (192 channels), small (96) or tiny (48).")
    var size: NetworkSize = .standard
    @Flag(help: "Disable waveform augmentation (gain, noise, speed).")
    var noAugment = false
    @Flag(help: "Disable per-utterance mean normalisation of the features.")
    var noMeanNormalization = false
    @Option(help: "Longest file to read, in seconds.")
    var maxSeconds = 60.0
    @Option(help: "Training speakers whose mean embeddings are stored as the AS-norm cohort (0: none).")
    var cohortSpeakers = 400

    @Flag(help: "Add channel augmentation: synthetic rooms, band-limited microphones and codecs (µ-law, GSM, Opus, Vorbis).")
    var channelAugmentation = false
    @Option(name: .customLong("init"), help: "Start from this model file (e.g. an imported pretrained encoder) instead of random weights; its architecture and front end are kept.")
    var initModel: String?
    @Option(help: "With --init: train the projection head only (frozen encoder) or all layers (use a small --learning-rate).")
    var fineTune: TrainingOptions.FineTuning.Scope = .head
    @Flag(help: "With --init: re-initialise the projection head instead of continuing from the model's.")
    var newHead = false

    enum NetworkSize: String, ExpressibleByArgument, CaseIterable { case standard, small, tiny }

    func validate() throws {
        guard speakersPerBatch >= 2, utterancesPerSpeaker >= 2 else {
            throw ValidationError("-P and -K must both be at least 2 (got \(speakersPerBatch) and \(utterancesPerSpeaker))")
        }
        guard minCrop > 0, maxCrop >= minCrop else {
            throw ValidationError("--min-crop \(minCrop) and --max-crop \(maxCrop): need 0 < min ≤ max")
        }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if initModel != nil && noMeanNormalization {
            throw ValidationError("--no-mean-normalization does not apply with --init: the initial model's front end is kept")
        }
        if initModel == nil && (fineTune != .head || newHead) {
            throw ValidationError("--fine-tune and --new-head need --init MODEL")
        }
        guard margin >= 0, margin.isFinite else { throw ValidationError("--margin \(margin) must be ≥ 0") }
    }

    func run() throws {
        var options = TrainingOptions()
        options.architecture = Self.architecture(size)
        options.features.meanNormalization = !noMeanNormalization
        options.batch.speakers = speakersPerBatch
        options.batch.utterancesPerSpeaker = utterancesPerSpeaker
        options.batch.cropFrames = Int(minCrop * 100)...Int(maxCrop * 100)
        var initial: LoadedModel?
        if let initModel {
            do { initial = try ModelFile.load(path: initModel) } catch {
                throw ValidationError("--init: \(error)")
            }
            guard initial!.metadata.fusion == nil else {
                throw ValidationError("--init \(initModel): a fusion of \(initial!.encoders.count) encoders; fine-tune each encoder's file, then fuse them again (voiceprint fuse)")
            }
            // The model decides the network and the front end it was trained with.
            options.architecture = initial!.metadata.architecture
            options.features = initial!.metadata.features
            options.fineTuning = .init(initialModel: initModel, scope: fineTune, newHead: newHead)
            if let window = options.architecture.window {
                // A recurrent encoder embeds fixed windows; train on exactly those.
                options.batch.cropFrames = window.frames...window.frames
            }
        }
        options.margin = margin
        options.mining = mining
        options.optimizer.learningRate = learningRate
        options.optimizer.weightDecay = weightDecay
        options.warmupSteps = warmup
        options.seed = seed
        options.threads = max(1, threads)
        options.validationSpeakers = validationSpeakers
        options.validateEvery = validateEvery
        options.checkpointEvery = checkpointEvery
        if channelAugmentation { options.augmentation = .withChannels }
        if noAugment { options.augmentation = .none }
        let checkpointPath = checkpoint ?? out + ".ckpt"
        let console = Console()

        let corpus = try SpeakerCorpus(root: data)
        for (id, count) in corpus.skipped {
            console.warn("skipping speaker \(id): \(count) file(s), at least 2 needed")
        }
        console.line("corpus: \(corpus.speakers.count) speakers, \(corpus.utteranceCount) files under \(data)")
        let start = Date()
        let cache = try UtteranceCache.load(
            corpus: corpus, features: options.features, keepAudio: !noAugment,
            minimumFrames: options.architecture.receptiveField + 10, maximumSeconds: maxSeconds,
            threads: options.threads, progress: { done, total in console.progress("decoding", done, total) })
        console.endProgress()
        for failure in cache.failures.prefix(5) { console.warn("skipped unreadable file: \(failure.message)") }
        if cache.failures.count > 5 { console.warn("… \(cache.failures.count - 5) more unreadable files skipped") }
        if !cache.tooShort.isEmpty { console.warn("skipped \(cache.tooShort.count) file(s) with too little speech") }
        let frames = cache.utterances.reduce(0) { $0 + $1.features.frames }
        console.line(String(format: "features: %d utterances, %.1f h of speech, in %.1f s",
                            cache.utterances.count, Double(frames) / 360_000, Date().timeIntervalSince(start)))

        if let epochs {
            options.steps = max(1, Int((epochs * Double(cache.utterances.count) / Double(speakersPerBatch * utterancesPerSpeaker)).rounded(.up)))
        } else {
            options.steps = steps ?? options.steps
        }
        options.warmupSteps = min(options.warmupSteps, max(1, options.steps / 5))
        let trainer = try Trainer(options: options, cache: cache, initial: initial?.model)
        if resume {
            try trainer.resume(from: checkpointPath)
            console.line("resumed from \(checkpointPath)")
        }
        console.line("training: \(trainer.trainingSpeakers.count) speakers, validation: \(trainer.validationSpeakers.count) speakers; "
                     + "\(trainer.model.parameterCount) parameters; \(options.steps) steps of \(speakersPerBatch)×\(utterancesPerSpeaker); "
                     + "mining \(mining.rawValue), margin \(margin)"
                     + (initial.map { _ in "; fine-tuning \(fineTune.rawValue) from \(initModel!)\(newHead ? " with a new head" : "")" } ?? ""))

        let interrupt = InterruptFlag()
        let outcome = try trainer.run(checkpointPath: checkpointPath, shouldStop: { interrupt.isSet }) { progress in
            console.report(progress)
        }
        console.endProgress()
        if outcome.interrupted {
            console.line("interrupted at step \(outcome.finalStep); checkpoint written to \(checkpointPath); continue with --resume")
            throw ExitCode(130)
        }

        let eer = outcome.finalEER
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var trainedOn = "\(trainer.trainingSpeakers.count) speakers, \(cache.utterances.count) utterances under \(URL(fileURLWithPath: data).lastPathComponent); validated on \(trainer.validationSpeakers.count) held-out speakers"
        var extra = [
            "training": String(decoding: try encoder.encode(options), as: UTF8.self),
            "validation_history": String(decoding: try encoder.encode(outcome.validation), as: UTF8.self),
            "training_seconds": String(format: "%.0f", Date().timeIntervalSince(start)),
        ]
        if let initial {
            // A derivative keeps its origin, licence and attribution (Apache-2.0 §4 for imported encoders).
            extra = initial.metadata.extra.filter { !["training", "validation_history", "training_seconds"].contains($0.key) }
                .merging(extra) { $1 }
            extra["fine_tuned_from"] = URL(fileURLWithPath: initModel!).lastPathComponent
            extra["threshold_source"] = "EER point on \(trainer.validationSpeakers.count) held-out validation speakers of the fine-tuning data"
            let tuned = fineTune == .head ? "the projection head (embedding.*) was further trained" : "every layer was further trained"
            extra["modifications"] = [initial.metadata.extra["modifications"], "Fine-tuned by voiceprint train: \(tuned) with the triplet loss."]
                .compactMap { $0 }.joined(separator: " ")
            trainedOn = "\(initial.metadata.trainedOn); then fine-tuned (\(fineTune == .head ? "projection head, encoder frozen" : "all layers")) with the triplet loss on \(trainedOn)"
        }
        let metadata = ModelMetadata(
            architecture: options.architecture, features: options.features,
            threshold: eer?.threshold ?? 0.5, thresholdFalseAcceptRate: outcome.finalFalseAcceptRate,
            equalErrorRate: eer?.rate, trainedOn: trainedOn, extra: extra)
        let cohort = cohortSpeakers > 0 ? trainer.cohort(maxSpeakers: cohortSpeakers) : nil
        try ModelFile.write(model: trainer.model, metadata: metadata, cohort: cohort, to: out)
        if let eer {
            console.line(String(format: "validation EER %.2f %% at threshold %.3f", eer.rate * 100, eer.threshold))
        }
        console.line("wrote \(out)")
    }

    static func architecture(_ size: NetworkSize) -> Architecture {
        switch size {
        case .standard: return .standard
        case .small, .tiny:
            let c = size == .small ? 96 : 48
            return Architecture(inputDimension: 80, frameLayers: [
                .init(channels: c, kernel: 5, dilation: 1), .init(channels: c, kernel: 3, dilation: 2),
                .init(channels: c, kernel: 3, dilation: 3), .init(channels: c, kernel: 1, dilation: 1),
                .init(channels: 3 * c, kernel: 1, dilation: 1),
            ], embeddingDimension: size == .small ? 128 : 64)
        }
    }
}

extension TripletMining: ExpressibleByArgument {}
extension TrainingOptions.FineTuning.Scope: ExpressibleByArgument {}

/// Set by SIGINT; training checks it between steps and writes a checkpoint.
final class InterruptFlag: @unchecked Sendable {
    // @unchecked: `flag` is only touched under `lock`.
    private let lock = NSLock()
    private var flag = false
    private let source: DispatchSourceSignal

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in self?.set() }
        source.resume()
    }

    private func set() {
        lock.withLock { flag = true }
        FileHandle.standardError.write(Data("\ninterrupt: finishing the step and writing a checkpoint…\n".utf8))
    }

    var isSet: Bool { lock.withLock { flag } }
}
