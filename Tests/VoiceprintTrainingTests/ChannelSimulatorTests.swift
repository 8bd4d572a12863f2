import Foundation
import Testing
import VoiceprintAudio
import VoiceprintTestSupport
import VoiceprintTraining

/// Channel augmentation does what its name says, measured on test tones.
@Suite struct ChannelSimulatorTests {
    static func level(_ x: [Float], _ frequency: Double) -> Double {
        20 * log10(max(TestSignals.magnitude(of: x, at: frequency, sampleRate: 16_000), 1e-12))
    }

    @Test(arguments: ChannelSimulator.Codec.allCases)
    func codecsKeepSpeechBandTonesAndTheDuration(codec: ChannelSimulator.Codec) {
        let tone = TestSignals.tone(frequency: 700, seconds: 1, sampleRate: 16_000, amplitude: 0.3)
        let out = ChannelSimulator.transcode(tone, codec: codec)
        #expect(out != tone, "\(codec) returned its input: the encoder failed")
        // Codec delay and padding stay within 60 ms.
        #expect(abs(out.count - tone.count) < 960, "\(codec): \(out.count) samples for \(tone.count)")
        #expect(abs(Self.level(out, 700) - Self.level(tone, 700)) < 3, "\(codec): 700 Hz level changed")
    }

    @Test(arguments: [ChannelSimulator.Codec.telephoneULaw, .telephoneGSM])
    func telephoneCodecsRemoveTheUpperBand(codec: ChannelSimulator.Codec) {
        let tones = zip(TestSignals.tone(frequency: 700, seconds: 1, sampleRate: 16_000, amplitude: 0.25),
                        TestSignals.tone(frequency: 6_000, seconds: 1, sampleRate: 16_000, amplitude: 0.25)).map { $0 + $1 }
        let out = ChannelSimulator.transcode(tones, codec: codec)
        #expect(Self.level(out, 6_000) < Self.level(tones, 6_000) - 30, "\(codec) kept 6 kHz")
    }

    @Test func bandLimitPassesTheMiddleAndCutsTheEdges() {
        func through(_ frequency: Double) -> Double {
            let x = TestSignals.tone(frequency: frequency, seconds: 1, sampleRate: 16_000)
            return Self.level(ChannelSimulator.bandLimit(x, low: 300, high: 3_400), frequency) - Self.level(x, frequency)
        }
        #expect(abs(through(1_000)) < 1)
        // Second-order slopes: 12 dB per octave beyond the corners.
        #expect(through(75) < -20)
        #expect(through(7_000) < -10)
    }

    /// An impulse through a room of RT60 0.6 s: energy falls about 60 dB per 0.6 s.
    @Test func reverberationDecaysAtTheRequestedRate() {
        var impulse = [Float](repeating: 0, count: 1_600)
        impulse[0] = 1
        let out = ChannelSimulator.reverberate(impulse, rt60: 0.6, wet: 1)
        #expect(out.count == 1_600 + 9_600)
        func energyDB(_ range: Range<Int>) -> Double {
            10 * log10(out[range].reduce(0.0) { $0 + Double($1) * Double($1) })
        }
        let drop = energyDB(1_600..<3_200) - energyDB(6_400..<8_000)
        // 0.3 s apart: 30 dB expected; the sparse early comb echoes make it rough.
        #expect(drop > 22 && drop < 38, "dropped \(drop) dB over 0.3 s")
    }

    @Test func channelAugmentationIsDeterministicPerSeed() {
        let x = TestSignals.tone(frequency: 440, seconds: 1, sampleRate: 16_000, amplitude: 0.2)
        var options = AugmentationOptions.withChannels
        options.probability = 1
        let augmenter = Augmenter(options: options)
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        let first = (0..<6).map { _ in augmenter.augment(x, using: &a) }
        let second = (0..<6).map { _ in augmenter.augment(x, using: &b) }
        #expect(first == second)
        #expect(Set(first.map(\.count)).count > 1, "some draws should have added a reverberation tail or a codec")
    }

    @Test func oldAugmentationOptionsDecodeWithChannelsOff() throws {
        let old = #"{"probability":0.6,"gainDB":[-6,6],"noiseProbability":0.7,"snrDB":[5,30],"speedProbability":0.3,"speed":[0.95,1.05]}"#
        let decoded = try JSONDecoder().decode(AugmentationOptions.self, from: Data(old.utf8))
        #expect(decoded == AugmentationOptions())
    }
}
