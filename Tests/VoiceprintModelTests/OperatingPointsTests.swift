import Foundation
import Testing
import VoiceprintModel
import VoiceprintTestSupport

@Suite struct OperatingPointsTests {
    static func table(k: Int = 3) -> OperatingPoints {
        func point(_ base: Float, _ far: Double) -> OperatingPoints.Point {
            OperatingPoints.Point(targetFAR: far, thresholds: (0..<k).map { base + Float($0) / 64 },
                                  falseAcceptRates: Array(repeating: far / 2, count: k), falseRejectRates: Array(repeating: 0.1, count: k))
        }
        return OperatingPoints(scoring: "cosine", levels: [.low: point(0.5, 0.05), .standard: point(0.625, 0.01), .high: point(0.75, 0.001)],
                               calibration: "tests", impostorTrials: Array(repeating: 1000, count: k), targetTrials: Array(repeating: 50, count: k))
    }

    @Test func aThresholdIsChosenByLevelAndEnrolledCount() {
        let t = Self.table()
        #expect(t.threshold(.standard, utterances: 1) == 0.625)
        #expect(t.threshold(.high, utterances: 2) == 0.765625)
        // Past the table, the largest K's threshold; zero utterances read as one.
        #expect(t.threshold(.low, utterances: 10) == t.threshold(.low, utterances: 3))
        #expect(t.threshold(.low, utterances: 0) == 0.5)
        #expect(t.maximumUtterances == 3)
    }

    @Test func theTableRoundTripsThroughAModelFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("m.safetensors")
        var metadata = ModelMetadata(architecture: ModelFileTests.small, threshold: 0.61)
        metadata.operatingPoints = Self.table()
        try ModelFile.write(model: try ModelFileTests.model(), metadata: metadata, to: path)
        let loaded = try ModelFile.load(path: path)
        #expect(loaded.metadata.operatingPoints == Self.table())
        #expect(loaded.metadata.extra["operating_points"] == nil, "a typed field, not an unknown key")
        #expect(loaded.metadata == metadata)
    }

    /// Each malformed table is refused with a message naming the bad value.
    @Test(arguments: [
        ("unknown level", #"{"extreme":"#, "unknown level \"extreme\""),
        ("target", #""target_far":0.01"#, "target_far 2"),
        ("falling thresholds", "0.640625", "threshold 0.25 for K = 2"),
        ("scoring", #""scoring":"cosine""#, "scoring \"plda\""),
    ])
    func aMalformedTableIsRefusedByName(_ label: String, _ find: String, _ message: String) throws {
        var text = Self.table().encoded()
        switch label {
        case "unknown level": text = text.replacingOccurrences(of: #"{"high":"#, with: #"{"extreme":{"far":[0],"frr":[0],"target_far":0.5,"thresholds":[0]},"high":"#)
        case "target": text = text.replacingOccurrences(of: find, with: #""target_far":2"#)
        case "falling thresholds": text = text.replacingOccurrences(of: find, with: "0.25")
        default: text = text.replacingOccurrences(of: find, with: #""scoring":"plda""#)
        }
        #expect(text != Self.table().encoded(), "the test edit applied (\(label))")
        let dir = try TemporaryDirectory()
        let path = dir.file("m.safetensors")
        try ModelFile.write(model: try ModelFileTests.model(), metadata: ModelMetadata(architecture: ModelFileTests.small), to: path)
        var file = try SafeTensors(path: path)
        file.metadata["operating_points"] = text
        try file.write(to: path)
        #expect {
            try ModelFile.load(path: path)
        } throws: { error in
            "\(error)".contains("operating_points") && "\(error)".contains(message)
        }
    }
}
