import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures

/// The GE2E front end (Resemblyzer's): librosa's power mel spectrogram with
/// Slaney bands, periodic Hann and centred frames, no log, levelled to −30 dBFS.
@Suite struct PowerMelTests {
    static var options: FeatureOptions { .resemblyzerMel }

    /// Largest difference relative to the reference's own scale: power spans 1e-11 … 11 here.
    static func worstRelative(_ a: [Float], _ reference: [Float]) -> Float {
        let scale = reference.map(abs).max()!
        return zip(a, reference).map { abs($0 - $1) / (abs($1) + 1e-3 * scale) }.max() ?? .infinity
    }

    @Test func matchesResemblyzersMelSpectrogram() throws {
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let reference = try Fixture.matrix("ge2e-mel-reference.npy")
        let frontEnd = try SpeechFrontEnd(features: Self.options, removesSilence: false)
        let features = try frontEnd.process(audio).features
        // librosa's centred framing: one frame per hop, 1 + 30407 / 160.
        #expect(features.frames == reference.frames && features.frames == 191 && features.dimension == 40)
        let worst = Self.worstRelative(features.values, reference.values)
        #expect(worst < 1e-3, "worst relative difference \(worst)")
    }

    /// A quiet copy is raised to −30 dBFS: its power is the original's times the gain².
    @Test func quietInputIsLevelledUp() throws {
        let audio = try AudioDecoder().decode(path: Fixture.path("speech-16k.wav")).audio
        let quiet = AudioBuffer(samples: audio.samples.map { $0 * 0.01 }, sampleRate: audio.sampleRate)
        let levelled = SpeechFrontEnd.levelled(quiet, to: -30)
        let meanSquare = levelled.samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(levelled.samples.count)
        #expect(abs(10 * log10(meanSquare) + 30) < 1e-3)
        // Loud input is never turned down.
        #expect(SpeechFrontEnd.levelled(audio, to: -60) == audio)
        let extractor = try LogMelExtractor(options: Self.options)
        let gain = levelled.samples[1000] / audio.samples[1000]
        let expected = try extractor.extract(audio).values.map { $0 * gain * gain }
        let frontEnd = try SpeechFrontEnd(features: Self.options, removesSilence: false)
        #expect(Self.worstRelative(try frontEnd.process(quiet).features.values, expected) < 1e-3)
    }

    /// librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) values, printed with numpy.
    @Test func slaneyFiltersMatchLibrosa() {
        let bank = MelFilterBank(options: Self.options)
        #expect(bank.filters.count == 40 && bank.spectrumBins == 200)
        let dense = bank.denseMatrix
        // Peaks of bands 0, 20 and 39, and the tail of the top band just below Nyquist.
        #expect(abs(dense[0][2] - 0.012_404_521) < 1e-7)
        #expect(abs(dense[20][44] - 0.007_191_917) < 1e-7)
        #expect(abs(dense[39][185] - 0.001_724_940) < 1e-7)
        #expect(abs(dense[39][199] - 0.000_121_515) < 1e-7)
    }

    @Test func invalidCombinationsAreNamed() {
        var o = Self.options
        o.fftSize = 512
        #expect(throws: FeatureError.invalidOption(field: "fftSize", value: "512",
                                                   expected: "equal to the frame length (400 samples) when frames are centred")) {
            try o.validate()
        }
        o = Self.options
        o.melScale = .kaldi
        #expect(throws: FeatureError.self) { try o.validate() }
        o = Self.options
        o.targetLevelDBFS = 3
        #expect(throws: FeatureError.invalidOption(field: "targetLevelDBFS", value: "3.0", expected: "a level below 0 dBFS")) {
            try o.validate()
        }
    }

    /// Model files written before these options existed carry none of them and mean Kaldi's recipe.
    @Test func oldFeatureDescriptionsDecodeWithDefaults() throws {
        let old = #"{"sampleRate":16000,"frameLengthMs":25,"frameShiftMs":10,"fftSize":512,"preemphasis":0.97,"removeDCOffset":true,"window":"povey","melBins":80,"lowFrequency":20,"highFrequency":7600,"logFloor":1.1920929e-07,"cepstralLifter":22,"meanNormalization":true}"#
        let decoded = try JSONDecoder().decode(FeatureOptions.self, from: Data(old.utf8))
        #expect(decoded == FeatureOptions())
        let data = try JSONEncoder().encode(Self.options)
        #expect(try JSONDecoder().decode(FeatureOptions.self, from: data) == Self.options)
    }
}
