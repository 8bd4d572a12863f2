import Foundation
import Testing
import VoiceprintAudio
import VoiceprintTestSupport

@Suite struct ResamplerTests {
    /// Feeds `x` to a stream in chunks of varying, awkward sizes.
    static func streamed(_ x: [Float], from: Double, to: Double, quality: Resampler.Quality = .high) -> [Float] {
        let stream = Resampler(from: from, to: to, quality: quality)
        let sizes = [1, 7, 4_096, 333, 16_384, 2, 10_000]
        var start = 0
        var turn = 0
        while start < x.count {
            let end = min(x.count, start + sizes[turn % sizes.count])
            stream.process(Array(x[start..<end]))
            start = end
            turn += 1
        }
        return stream.finish()
    }

    @Test func sameRateIsIdentity() {
        let x = TestSignals.noise(seconds: 0.1, sampleRate: 16_000, rmsDBFS: -20, seed: 1)
        #expect(Resampler.resample(x, from: 16_000, to: 16_000) == x)
        #expect(Self.streamed(x, from: 16_000, to: 16_000) == x)
    }

    @Test(arguments: [(48_000.0, 16_000.0), (8_000.0, 16_000.0), (44_100.0, 16_000.0), (16_000.0, 17_600.0)])
    func lengthFollowsTheRatio(from: Double, to: Double) {
        let x = TestSignals.noise(seconds: 0.37, sampleRate: Int(from), rmsDBFS: -20, seed: 2)
        let expected = Int((Double(x.count) * to / from).rounded())
        #expect(Resampler.resample(x, from: from, to: to).count == expected)
        #expect(Self.streamed(x, from: from, to: to).count == expected)
    }

    @Test(arguments: [44_100.0, 48_000.0])
    func streamEqualsOneShotOnAChirp(rate: Double) {
        let x = TestSignals.chirp(seconds: 1.3, sampleRate: Int(rate))
        let oneShot = Resampler.resample(x, from: rate, to: 16_000)
        let stream = Self.streamed(x, from: rate, to: 16_000)
        #expect(stream.count == oneShot.count)
        let worst = zip(stream, oneShot).map { abs($0 - $1) }.max() ?? 1
        // Float rounding only: the same filter, whatever the chunking.
        #expect(worst <= 1e-6, "max difference \(worst) at \(rate) Hz")
    }

    @Test(arguments: [44_100.0, 48_000.0])
    func streamEqualsOneShotOnNoise(rate: Double) {
        let x = TestSignals.noise(seconds: 0.9, sampleRate: Int(rate), rmsDBFS: -10, seed: 3)
        let oneShot = Resampler.resample(x, from: rate, to: 16_000)
        let stream = Self.streamed(x, from: rate, to: 16_000)
        #expect(stream.count == oneShot.count)
        let worst = zip(stream, oneShot).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 1e-6, "max difference \(worst) at \(rate) Hz")
    }

    @Test func streamOfOneChunkAndOfNothing() {
        let x = TestSignals.chirp(to: 10_000, seconds: 0.2, sampleRate: 22_050)
        let stream = Resampler(from: 22_050, to: 16_000, expectedInputCount: x.count)
        stream.process(x)
        #expect(stream.finish() == Resampler.resample(x, from: 22_050, to: 16_000))
        #expect(Resampler(from: 48_000, to: 16_000).finish().isEmpty)
    }

    @Test func removesContentAboveTheNewNyquist() {
        // 7 kHz survives 48 → 16 kHz; 12 kHz must not fold back to 4 kHz.
        let rate = 48_000
        let keep = TestSignals.tone(frequency: 7_000, seconds: 0.5, sampleRate: rate, amplitude: 0.3)
        let drop = TestSignals.tone(frequency: 12_000, seconds: 0.5, sampleRate: rate, amplitude: 0.3)
        let y = Resampler.resample(zip(keep, drop).map(+), from: 48_000, to: 16_000)
        let middle = Array(y[1_000..<7_000])
        #expect(abs(TestSignals.magnitude(of: middle, at: 7_000, sampleRate: 16_000) - 0.15) < 0.01)
        #expect(TestSignals.magnitude(of: middle, at: 4_000, sampleRate: 16_000) < 1e-3)
    }

    @Test func qualitiesAllPreserveALowTone() {
        for quality in Resampler.Quality.allCases {
            let x = TestSignals.tone(frequency: 300, seconds: 0.5, sampleRate: 22_050)
            let y = Resampler.resample(x, from: 22_050, to: 16_000, quality: quality)
            let m = TestSignals.magnitude(of: Array(y[1_000..<7_000]), at: 300, sampleRate: 16_000)
            #expect(abs(m - 0.25) < 0.01, "\(quality): \(m)")
            #expect(Self.streamed(x, from: 22_050, to: 16_000, quality: quality).count == y.count)
        }
    }
}
