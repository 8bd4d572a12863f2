import Foundation

/// What the store knows about one enrolled speaker, for one model.
public struct SpeakerSummary: Sendable, Equatable {
    public var name: String
    /// Utterances embedded by the current model.
    public var utterances: Int
    /// Speech seconds over those utterances.
    public var speechSeconds: Double
    /// Utterances embedded by other models: kept, never compared (DESIGN.md §6).
    public var staleUtterances: Int
    public var created: Date
    public var updated: Date

    public init(name: String, utterances: Int, speechSeconds: Double, staleUtterances: Int, created: Date, updated: Date) {
        self.name = name
        self.utterances = utterances
        self.speechSeconds = speechSeconds
        self.staleUtterances = staleUtterances
        self.created = created
        self.updated = updated
    }
}

/// One stored utterance embedding.
public struct StoredEmbedding: Sendable, Equatable {
    public var speaker: String
    public var vector: [Float]
    public var speechSeconds: Double

    public init(speaker: String, vector: [Float], speechSeconds: Double) {
        self.speaker = speaker
        self.vector = vector
        self.speechSeconds = speechSeconds
    }
}

/// A speaker's centroid with the speaker's row id and name, as read for scoring.
public struct SpeakerCentroid: Sendable, Equatable {
    public var speakerID: Int64
    public var name: String
    public var centroid: Centroid

    public init(speakerID: Int64, name: String, centroid: Centroid) {
        self.speakerID = speakerID
        self.name = name
        self.centroid = centroid
    }
}

/// What one stored enrollment changed: the speaker's summary and new centroid.
public struct Enrollment: Sendable, Equatable {
    public var summary: SpeakerSummary
    public var centroid: SpeakerCentroid

    public init(summary: SpeakerSummary, centroid: SpeakerCentroid) {
        self.summary = summary
        self.centroid = centroid
    }
}

public enum EmbeddingBlob {
    /// Little-endian float32, the same bytes as the model file uses.
    public static func encode(_ vector: [Float]) -> Data {
        vector.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    public static func decode(_ data: Data) -> [Float] {
        var vector = [Float](repeating: 0, count: data.count / 4)
        vector.withUnsafeMutableBytes { _ = data.copyBytes(to: $0) }
        return vector
    }
}
