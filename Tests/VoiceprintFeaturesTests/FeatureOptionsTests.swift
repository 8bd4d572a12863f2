import Foundation
import Testing
import VoiceprintFeatures

@Suite struct FeatureOptionsTests {
    @Test func defaultsAreKaldiStyle() throws {
        let options = FeatureOptions()
        try options.validate()
        #expect(options.frameLength == 400 && options.frameShift == 160)
        #expect(options.dimension == 80)
        #expect(options.frameCount(sampleCount: 48_000) == 298)
    }

    @Test func roundTripsThroughJSONForTheModelFile() throws {
        var options = FeatureOptions()
        options.window = .hamming
        options.cepstralCoefficients = 30
        let data = try JSONEncoder().encode(options)
        #expect(try JSONDecoder().decode(FeatureOptions.self, from: data) == options)
    }

    @Test func invalidSettingsNameTheField() {
        var options = FeatureOptions()
        options.fftSize = 256
        #expect(throws: FeatureError.invalidOption(field: "fftSize", value: "256",
                                                   expected: "an even number ≥ the frame length (400 samples)")) {
            try options.validate()
        }
        options = FeatureOptions()
        options.highFrequency = 9_000
        let error = #expect(throws: FeatureError.self) { try options.validate() }
        #expect(error?.description.contains("lowFrequency/highFrequency") == true)
        options = FeatureOptions()
        options.cepstralCoefficients = 0
        #expect(throws: FeatureError.self) { try LogMelExtractor(options: options) }
    }

    @Test func negativeHighFrequencyIsAnOffsetFromNyquist() {
        var options = FeatureOptions()
        options.highFrequency = -400
        #expect(options.resolvedHighFrequency == 7_600)
    }
}
