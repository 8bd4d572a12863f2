import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintTestSupport

@Suite struct LogMelExtractorTests {
    /// An independent, slow implementation of the same recipe, written from
    /// Kaldi's description: O(N²) DFT in Double, mel weights computed per bin.
    static func directLogMel(frame x: ArraySlice<Float>, options: FeatureOptions) -> [Double] {
        let length = options.frameLength, n = options.fftSize
        var y = x.map(Double.init)
        let mean = y.reduce(0, +) / Double(length)
        y = y.map { $0 - mean }
        let a = Double(options.preemphasis)
        var emphasised = [Double](repeating: 0, count: length)
        for i in stride(from: length - 1, through: 1, by: -1) { emphasised[i] = y[i] - a * y[i - 1] }
        emphasised[0] = y[0] - a * y[0]
        let padded = (0..<n).map { i -> Double in
            guard i < length else { return 0 }
            let hann = 0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(length - 1))
            return emphasised[i] * pow(hann, 0.85)
        }
        let power = (0..<(n / 2)).map { k -> Double in
            var re = 0.0, im = 0.0
            for (t, v) in padded.enumerated() {
                let angle = -2 * Double.pi * Double(k * t) / Double(n)
                re += v * cos(angle); im += v * sin(angle)
            }
            return re * re + im * im
        }
        func mel(_ f: Double) -> Double { 1127 * log(1 + f / 700) }
        let low = mel(options.lowFrequency), high = mel(options.highFrequency)
        let step = (high - low) / Double(options.melBins + 1)
        return (0..<options.melBins).map { b in
            let (l, c, r) = (low + Double(b) * step, low + Double(b + 1) * step, low + Double(b + 2) * step)
            var energy = 0.0
            for k in 0..<(n / 2) {
                let m = mel(Double(k) * Double(options.sampleRate) / Double(n))
                if m > l && m <= c { energy += power[k] * (m - l) / (c - l) }
                else if m > c && m < r { energy += power[k] * (r - m) / (r - c) }
            }
            return log(max(energy, Double(options.logFloor)))
        }
    }

    @Test func matchesADirectDFTOnSeveralFrames() throws {
        let options = FeatureOptions()
        let signal = TestSignals.noise(seconds: 0.2, sampleRate: 16_000, rmsDBFS: -25, seed: 11)
            .enumerated().map { $1 + 0.3 * Float(sin(Double($0) * 0.21)) + 0.05 }
        let features = LogMelExtractor.unchecked(options).extract(samples: signal)
        #expect(features.frames == 18 && features.dimension == 80)
        var worst = 0.0
        for t in [0, 7, 17] {
            let start = t * options.frameShift
            let expected = Self.directLogMel(frame: signal[start..<(start + options.frameLength)], options: options)
            for b in 0..<80 { worst = max(worst, abs(expected[b] - Double(features[t, b]))) }
        }
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
    }

    @Test func matchesTorchaudioKaldiFbankOnTheReferenceClip() throws {
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let reference = try Fixture.matrix("fbank-reference.npy")
        let features = try LogMelExtractor.unchecked(FeatureOptions()).extract(audio)
        #expect(features.frames == reference.frames && features.dimension == reference.dimension)
        let worst = zip(features.values, reference.values).map { abs($0 - $1) }.max() ?? .infinity
        // Float32 against a float64 reference; log-mel values span about −16 … 2.
        #expect(worst < 5e-4, "max |Δ| = \(worst)")
    }

    @Test func mfccMatchesTorchaudioKaldiMfcc() throws {
        var options = FeatureOptions()
        options.cepstralCoefficients = 20
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let reference = try Fixture.matrix("mfcc-reference.npy")
        let features = try LogMelExtractor.unchecked(options).extract(audio)
        #expect(features.dimension == 20 && features.frames == reference.frames)
        let worst = zip(features.values, reference.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 2e-3, "max |Δ| = \(worst)")
    }

    @Test func concurrentExtractionGivesIdenticalResults() async throws {
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let extractor = try LogMelExtractor()
        let expected = try extractor.extract(audio)
        let results = try await withThrowingTaskGroup(of: FeatureMatrix.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var last = FeatureMatrix(frames: 0, dimension: 80)
                    for _ in 0..<20 { last = try extractor.extract(audio) }
                    return last
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 8)
        for result in results { #expect(result == expected) }
    }

    @Test func framesFollowTheSnipEdgesRule() {
        let extractor = LogMelExtractor.unchecked(FeatureOptions())
        #expect(extractor.extract(samples: [Float](repeating: 0.1, count: 399)).frames == 0)
        #expect(extractor.extract(samples: [Float](repeating: 0.1, count: 400)).frames == 1)
        #expect(extractor.extract(samples: [Float](repeating: 0.1, count: 559)).frames == 1)
        #expect(extractor.extract(samples: [Float](repeating: 0.1, count: 560)).frames == 2)
        // Batches of FFTs must not leak into each other: 33 frames span two batches.
        let noise = TestSignals.noise(seconds: 0.4, sampleRate: 16_000, rmsDBFS: -20, seed: 4)
        let all = extractor.extract(samples: noise)
        let tail = extractor.extract(samples: Array(noise[(32 * 160)...]))
        #expect(all.row(32) == tail.row(0))
    }

    @Test func silenceSitsOnTheLogFloor() {
        let features = LogMelExtractor.unchecked(FeatureOptions()).extract(samples: [Float](repeating: 0, count: 800))
        #expect(features.values.allSatisfy { $0 == logf(1.1920929e-7) })
    }

    @Test func refusesAudioAtTheWrongRate() {
        let audio = AudioBuffer(samples: [0, 0, 0], sampleRate: 8_000)
        #expect(throws: FeatureError.sampleRateMismatch(got: 8_000, expected: 16_000)) {
            try LogMelExtractor().extract(audio)
        }
    }

    @Test func windowsFollowKaldi() {
        let hamming = LogMelExtractor.makeWindow(.hamming, length: 5)
        #expect(abs(hamming[0] - 0.08) < 1e-6 && abs(hamming[2] - 1) < 1e-6)
        let povey = LogMelExtractor.makeWindow(.povey, length: 5)
        #expect(povey[0] == 0 && abs(povey[1] - powf(0.5, 0.85)) < 1e-6)
    }
}

extension LogMelExtractor {
    /// Test shorthand for options known to be valid.
    static func unchecked(_ options: FeatureOptions) -> LogMelExtractor { try! LogMelExtractor(options: options) }
}
