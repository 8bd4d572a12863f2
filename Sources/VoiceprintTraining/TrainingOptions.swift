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
    /// Start from a trained model instead of random weights. Default nil.
    public var fineTuning: FineTuning? = nil

    /// Transfer learning (issue 8): continue training a model someone else
    /// trained, e.g. an imported real-speech encoder, with our triplet loss.
    public struct FineTuning: Codable, Sendable, Equatable {
        public enum Scope: String, Codable, Sendable, CaseIterable {
            /// Train only the projection head ("embedding.*" layers); the encoder is frozen.
            case head
            /// Train every layer (use a small learning rate).
            case all
        }

        /// The model file training started from, as given.
        public var initialModel: String
        public var scope: Scope = .head
        /// Re-initialise the projection instead of continuing from the model's own.
        public var newHead: Bool = false

        public init(initialModel: String, scope: Scope = .head, newHead: Bool = false) {
            self.initialModel = initialModel
            self.scope = scope
            self.newHead = newHead
        }
    }

    public init() {}

    public func resolvedValidationSpeakers(total: Int) -> Int {
        validationSpeakers ?? min(100, max(4, total / 10))
    }
}
