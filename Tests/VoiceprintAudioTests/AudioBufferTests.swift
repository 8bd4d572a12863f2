import Foundation
import Testing
import VoiceprintAudio

@Suite struct AudioBufferTests {
    @Test func mixdownAveragesChannels() {
        #expect(AudioBuffer.mixdown(interleaved: [1, 0, 0.5, 0.5, -1, 1], channels: 2) == [0.5, 0.5, 0])
        #expect(AudioBuffer.mixdown(interleaved: [0.3, 0.3, 0.3], channels: 3) == [0.3 * 3 / 3])
        #expect(AudioBuffer.mixdown(interleaved: [0.1, 0.2], channels: 1) == [0.1, 0.2])
    }

    @Test func levelsMeasurePeakRMSAndClipping() {
        let levels = AudioLevels([1, -1, 0.5, -0.5])
        #expect(levels.peak == 1)
        #expect(abs(levels.rmsDBFS - 10 * log10(0.625)) < 1e-9)
        #expect(levels.clippedFraction == 0.5)
        #expect(AudioLevels([0, 0]).rmsDBFS == -.infinity)
    }

    @Test func durationFollowsRate() {
        #expect(AudioBuffer(samples: [Float](repeating: 0, count: 24_000), sampleRate: 16_000).duration == 1.5)
    }
}
