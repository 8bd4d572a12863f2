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

/// The enrolled-cohort levels (`operating_points_enrolled_cohort`): a second
/// table beside the cosine one, with the cohort settings its thresholds hold with.
extension OperatingPointsTests {
    static func enrolledTable(topN: Int = 10, minimum: Int = 20) -> OperatingPoints {
        var t = table()
        t.scoring = "as-norm-enrolled"
        // z-scores: thresholds above 1 are fine on this scale.
        for level in OperatingPoints.Level.allCases { t.levels[level.rawValue]!.thresholds = t.point(level).thresholds.map { $0 * 4 } }
        t.enrolledCohort = OperatingPoints.EnrolledCohort(topN: topN, minimumSpeakers: minimum)
        return t
    }

    static func load(_ edit: (inout [String: String]) -> Void) throws -> LoadedModel {
        let dir = try TemporaryDirectory()
        let path = dir.file("m.safetensors")
        try ModelFile.write(model: try ModelFileTests.model(), metadata: ModelMetadata(architecture: ModelFileTests.small), to: path)
        var file = try SafeTensors(path: path)
        edit(&file.metadata)
        try file.write(to: path)
        return try ModelFile.load(path: path)
    }

    @Test func bothTablesRoundTripThroughAModelFile() throws {
        let loaded = try Self.load {
            $0["operating_points"] = Self.table().encoded()
            $0["operating_points_enrolled_cohort"] = Self.enrolledTable().encoded()
        }
        #expect(loaded.metadata.operatingPoints == Self.table())
        #expect(loaded.metadata.enrolledCohortOperatingPoints == Self.enrolledTable())
        #expect(loaded.metadata.enrolledCohortOperatingPoints?.enrolledCohort == .init(topN: 10, minimumSpeakers: 20))
        #expect(loaded.metadata.enrolledCohortOperatingPoints?.threshold(.standard, utterances: 1) == 2.5)
        #expect(loaded.metadata.extra["operating_points_enrolled_cohort"] == nil, "a typed field, not an unknown key")
        // The cosine table's JSON has no enrolled_cohort key at all.
        #expect(!Self.table().encoded().contains("enrolled_cohort"))
    }

    @Test(arguments: [
        ("no settings", "operating_points_enrolled_cohort", "needs enrolled_cohort"),
        ("minimum not above top N", "operating_points_enrolled_cohort", "minimum_speakers 10 must exceed top_n 10"),
        ("settings on cosine", "operating_points", "enrolled_cohort is only for scoring as-norm-enrolled, not cosine"),
        ("enrolled scoring in the cosine field", "operating_points", "belongs in \"operating_points_enrolled_cohort\""),
        ("cosine scoring in the enrolled field", "operating_points_enrolled_cohort", "scoring is \"cosine\", not as-norm-enrolled"),
    ])
    func aMisplacedOrIncompleteEnrolledTableIsRefusedByName(_ label: String, _ field: String, _ message: String) throws {
        var table: OperatingPoints
        switch label {
        case "no settings": table = Self.enrolledTable(); table.enrolledCohort = nil
        case "minimum not above top N": table = Self.enrolledTable(topN: 10, minimum: 10)
        case "settings on cosine": table = Self.table(); table.enrolledCohort = .init(topN: 2, minimumSpeakers: 3)
        case "enrolled scoring in the cosine field": table = Self.enrolledTable()
        default: table = Self.table()
        }
        #expect {
            _ = try Self.load { $0[field] = table.encoded() }
        } throws: { error in
            "\(error)".contains(field) && "\(error)".contains(message)
        }
    }
}
