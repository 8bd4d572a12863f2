import Foundation
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
    /// False keeps every frame: for audio that is already segmented, and for
    /// comparing with reference implementations that skip silence removal.
    public let removesSilence: Bool

    public init(features: FeatureOptions = FeatureOptions(),
                vad: VoiceActivityOptions? = nil, removesSilence: Bool = true) throws(FeatureError) {
        self.removesSilence = removesSilence
        extractor = try LogMelExtractor(options: features)
        var vadOptions = vad ?? VoiceActivityOptions()
        // The VAD must label exactly the feature frames.
        vadOptions.frameLength = features.frameLength
        vadOptions.frameShift = features.frameShift
        detector = VoiceActivityDetector(options: vadOptions)
    }

    public func process(_ audio: AudioBuffer) throws(FeatureError) -> UtteranceFeatures {
        let options = extractor.options
        let all = try extractor.extract(Self.levelled(audio, to: options.targetLevelDBFS))
        var activity: SpeechActivity
        if options.centerFrames {
            // Centred frames start half a frame early: the VAD sees the same padding.
            let pad = [Float](repeating: 0, count: options.centerPadding)
            activity = detector.detect(AudioBuffer(samples: pad + audio.samples + pad, sampleRate: audio.sampleRate))
        } else {
            activity = detector.detect(audio)
        }
        if !removesSilence { activity.isSpeech = [Bool](repeating: true, count: activity.frameCount) }
        precondition(activity.frameCount == all.frames, "VAD and features disagree on the frame grid")
        var speech = all.selecting(activity.isSpeech)
        if extractor.options.meanNormalization { MeanNormalization.apply(to: &speech) }
        return UtteranceFeatures(features: speech, activity: activity, levels: audio.levels, duration: audio.duration)
    }

    /// Raises a quiet signal to `target` dBFS RMS (Resemblyzer's
    /// normalize_volume with increase_only); louder signals are left alone so
    /// that clipping is never introduced.
    public static func levelled(_ audio: AudioBuffer, to target: Double?) -> AudioBuffer {
        guard let target, !audio.samples.isEmpty else { return audio }
        let meanSquare = audio.samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(audio.samples.count)
        guard meanSquare > 0 else { return audio }
        let change = target - 10 * log10(meanSquare)
        guard change > 0 else { return audio }
        let gain = Float(pow(10, change / 20))
        return AudioBuffer(samples: audio.samples.map { $0 * gain }, sampleRate: audio.sampleRate)
    }
}
