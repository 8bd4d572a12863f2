import Foundation
import VoiceprintFeatures
import VoiceprintModel

/// Everything that defines a training run. Recorded in checkpoints and in the
/// final model's metadata (`training`), so a model says how it was made.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public var architecture: Architecture = .standard
    public var features: FeatureOptions = FeatureOptions()
    public var batch: BatchSampler.Options = BatchSampler.Options()
    /// Optimiser steps. Default 3000.
    public var steps: Int = 3000
    /// Linear warm-up steps. Default 200.
    public var warmupSteps: Int = 200
    public var optimizer: Adam.Options = Adam.Options()
    /// Triplet margin α on squared distances of unit vectors. Default 0.2.
    public var margin: Float = 0.2
    /// Default semi-hard: batch-hard collapsed every prototype here (DESIGN.md §2).
    public var mining: TripletMining = .semiHard
    public var augmentation: AugmentationOptions = AugmentationOptions()
    /// Speakers held out for validation EER. Default 10 % of the corpus, at least 4, at most 100.
    public var validationSpeakers: Int? = nil
    /// Steps between validation runs. Default 250.
    public var validateEvery: Int = 250
    /// Steps between checkpoints. Default 500.
    public var checkpointEvery: Int = 500
    /// Seed for initialisation, speaker split, batches and augmentation. Default 1.
    public var seed: UInt64 = 1
    /// Threads for decoding and for OpenBLAS. Default: all cores.
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    public init() {}

    public func resolvedValidationSpeakers(total: Int) -> Int {
        validationSpeakers ?? min(100, max(4, total / 10))
    }
}
