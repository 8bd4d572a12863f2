import Testing
import VoiceprintAudio
import VoiceprintTestSupport

@Suite struct VoiceActivityDetectorTests {
    let vad = VoiceActivityDetector()

    @Test func digitalSilenceHasNoSpeech() {
        let activity = vad.detect(AudioBuffer(samples: TestSignals.silence(seconds: 2, sampleRate: 16_000), sampleRate: 16_000))
        #expect(activity.frameCount == 198)
        #expect(!activity.hasSpeech)
        #expect(activity.speechSeconds == 0)
    }

    @Test(arguments: [-80.0, -65.0, -58.0])
    func lowLevelNoiseHasNoSpeech(level: Double) {
        let noise = TestSignals.noise(seconds: 2, sampleRate: 16_000, rmsDBFS: level, seed: 3)
        #expect(!vad.detect(AudioBuffer(samples: noise, sampleRate: 16_000)).hasSpeech)
    }

    @Test(arguments: [0.3, 1.0, 2.0])
    func toneBurstInSilenceLastsAboutTheBurst(burst: Double) {
        let signal = TestSignals.toneBurst(start: 0.5, burst: burst, total: burst + 1.5, sampleRate: 16_000)
        let activity = vad.detect(AudioBuffer(samples: signal, sampleRate: 16_000))
        // Frames that only partly overlap the burst count as speech: at most one frame length more.
        #expect(abs(activity.speechSeconds - burst) <= 0.04, "burst \(burst) s → \(activity.speechSeconds) s")
        // Speech is where the burst is.
        let first = activity.isSpeech.firstIndex(of: true) ?? -1
        #expect(abs(first - 48) <= 2, "first speech frame \(first)")
    }

    @Test func burstOverNoiseFloorIsStillFound() {
        var signal = TestSignals.toneBurst(start: 1, burst: 0.5, total: 3, sampleRate: 16_000)
        let noise = TestSignals.noise(seconds: 3, sampleRate: 16_000, rmsDBFS: -50, seed: 9)
        for i in signal.indices { signal[i] += noise[i] }
        let seconds = vad.detect(AudioBuffer(samples: signal, sampleRate: 16_000)).speechSeconds
        #expect(abs(seconds - 0.5) <= 0.05, "\(seconds)")
    }

    @Test func shortInputHasNoFrames() {
        let activity = vad.detect(AudioBuffer(samples: [0.5, -0.5], sampleRate: 16_000))
        #expect(activity.frameCount == 0 && !activity.hasSpeech)
    }

    @Test func contextVoteRemovesAnIsolatedClick() {
        var signal = TestSignals.silence(seconds: 1, sampleRate: 16_000)
        signal[8_000] = 0.9
        #expect(!vad.detect(AudioBuffer(samples: signal, sampleRate: 16_000)).hasSpeech)
    }
}
