import Testing
import VoiceprintScoring

@Suite struct TrialListTests {
    @Test func parsesVoxCelebFormatAndListsFilesOnce() throws {
        let list = try TrialList(text: """
            # comment
            1 id1/a.wav id1/b.wav
            0 id1/a.wav id2/c.wav

            0\tid2/c.wav\tid1/b.wav
            """, source: "t.txt")
        #expect(list.trials.count == 3 && list.targetCount == 1 && list.impostorCount == 2)
        #expect(list.files == ["id1/a.wav", "id1/b.wav", "id2/c.wav"])
        #expect(list.trials[2] == .init(isTarget: false, first: "id2/c.wav", second: "id1/b.wav", line: 5))
    }

    @Test func malformedLinesNameTheLine() {
        #expect(throws: TrialList.Error.malformed(path: "t.txt", line: 2, text: "1 a.wav",
                                                  expected: "expected three fields: LABEL PATH_A PATH_B, got 2")) {
            try TrialList(text: "0 a b\n1 a.wav\n", source: "t.txt")
        }
        let error = #expect(throws: TrialList.Error.self) { try TrialList(text: "yes a b\n0 a c\n", source: "t.txt") }
        #expect(error?.description == "t.txt:1: \"yes a b\": label \"yes\" must be 1 (same speaker) or 0 (different)")
    }

    @Test func needsBothKindsOfTrials() {
        #expect(throws: TrialList.Error.oneSided(path: "t", targets: 2, impostors: 0)) { try TrialList(text: "1 a b\n1 c d\n", source: "t") }
        #expect(throws: TrialList.Error.empty(path: "t")) { try TrialList(text: "\n# nothing\n", source: "t") }
    }
}
