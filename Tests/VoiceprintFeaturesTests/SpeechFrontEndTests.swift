import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintTestSupport

@Suite struct SpeechFrontEndTests {
    @Test func keepsSpeechFramesAndCentresThem() throws {
        let frontEnd = try SpeechFrontEnd()
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let result = try frontEnd.process(audio)
        #expect(result.activity.frameCount == 188)
        // The clip is about 1.9 s of synthesised speech with short leading and trailing silence.
        #expect(result.speechSeconds > 1.2 && result.speechSeconds < 1.9, "\(result.speechSeconds)")
        #expect(result.features.frames == result.activity.speechFrameCount)
        for mean in MeanNormalization.mean(of: result.features) { #expect(abs(mean) < 1e-4) }
    }

    @Test func silenceYieldsNoFrames() throws {
        let result = try SpeechFrontEnd().process(AudioBuffer(samples: TestSignals.silence(seconds: 1, sampleRate: 16_000), sampleRate: 16_000))
        #expect(result.features.frames == 0 && result.speechSeconds == 0)
    }

    @Test func vadFollowsTheFeatureFrameGrid() throws {
        var options = FeatureOptions()
        options.frameShiftMs = 20
        let frontEnd = try SpeechFrontEnd(features: options)
        #expect(frontEnd.detector.options.frameShift == 320)
        let tone = TestSignals.toneBurst(start: 0.2, burst: 0.5, total: 1, sampleRate: 16_000)
        let result = try frontEnd.process(AudioBuffer(samples: tone, sampleRate: 16_000))
        #expect(result.activity.frameCount == options.frameCount(sampleCount: tone.count))
    }
}
