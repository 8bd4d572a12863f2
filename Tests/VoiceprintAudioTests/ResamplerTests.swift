import Testing
import VoiceprintAudio
import VoiceprintTestSupport

@Suite struct ResamplerTests {
    @Test func sameRateIsIdentity() {
        let x = TestSignals.noise(seconds: 0.1, sampleRate: 16_000, rmsDBFS: -20, seed: 1)
        #expect(Resampler().resample(x, from: 16_000, to: 16_000) == x)
    }

    @Test(arguments: [(48_000.0, 16_000.0), (8_000.0, 16_000.0), (44_100.0, 16_000.0), (16_000.0, 17_600.0)])
    func lengthFollowsTheRatio(from: Double, to: Double) {
        let x = TestSignals.noise(seconds: 0.37, sampleRate: Int(from), rmsDBFS: -20, seed: 2)
        let y = Resampler().resample(x, from: from, to: to)
        #expect(y.count == Int((Double(x.count) * to / from).rounded()))
    }

    @Test func removesContentAboveTheNewNyquist() {
        // 7 kHz survives 48 → 16 kHz; 12 kHz must not fold back to 4 kHz.
        let rate = 48_000
        let keep = TestSignals.tone(frequency: 7_000, seconds: 0.5, sampleRate: rate, amplitude: 0.3)
        let drop = TestSignals.tone(frequency: 12_000, seconds: 0.5, sampleRate: rate, amplitude: 0.3)
        let y = Resampler().resample(zip(keep, drop).map(+), from: 48_000, to: 16_000)
        let middle = Array(y[1_000..<7_000])
        #expect(abs(TestSignals.magnitude(of: middle, at: 7_000, sampleRate: 16_000) - 0.15) < 0.01)
        #expect(TestSignals.magnitude(of: middle, at: 4_000, sampleRate: 16_000) < 1e-3)
    }

    @Test func qualitiesAllPreserveALowTone() {
        for quality in Resampler.Quality.allCases {
            let x = TestSignals.tone(frequency: 300, seconds: 0.5, sampleRate: 22_050)
            let y = Resampler(quality: quality).resample(x, from: 22_050, to: 16_000)
            let m = TestSignals.magnitude(of: Array(y[1_000..<7_000]), at: 300, sampleRate: 16_000)
            #expect(abs(m - 0.25) < 0.01, "\(quality): \(m)")
        }
    }
}
