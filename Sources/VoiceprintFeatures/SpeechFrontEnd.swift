import VoiceprintAudio

/// Features of the speech in an utterance, ready for the embedding network.
public struct UtteranceFeatures: Sendable {
    /// [speech frames, dimension], mean-normalised over speech when configured.
    public var features: FeatureMatrix
    /// Which frames of the whole utterance were kept.
    public var activity: SpeechActivity
    /// Level statistics of the decoded signal, for quality warnings.
    public var levels: AudioLevels
    /// Duration of the decoded signal in seconds.
    public var duration: Double

    public var speechSeconds: Double { activity.speechSeconds }
}

/// The whole path from a mono 16 kHz signal to speech-frame features: VAD on
/// the same frame grid as the features, log-mel (or MFCC), selection of speech
/// frames, then mean normalisation over speech only, so that silence does not
/// pull the mean towards the floor (DESIGN.md §1).
public struct SpeechFrontEnd: Sendable {
    public let extractor: LogMelExtractor
    public let detector: VoiceActivityDetector

    public init(features: FeatureOptions = FeatureOptions(),
                vad: VoiceActivityOptions? = nil) throws(FeatureError) {
        extractor = try LogMelExtractor(options: features)
        var vadOptions = vad ?? VoiceActivityOptions()
        // The VAD must label exactly the feature frames.
        vadOptions.frameLength = features.frameLength
        vadOptions.frameShift = features.frameShift
        detector = VoiceActivityDetector(options: vadOptions)
    }

    public func process(_ audio: AudioBuffer) throws(FeatureError) -> UtteranceFeatures {
        let all = try extractor.extract(audio)
        let activity = detector.detect(audio)
        precondition(activity.frameCount == all.frames, "VAD and features disagree on the frame grid")
        var speech = all.selecting(activity.isSpeech)
        if extractor.options.meanNormalization { MeanNormalization.apply(to: &speech) }
        return UtteranceFeatures(features: speech, activity: activity, levels: audio.levels, duration: audio.duration)
    }
}
