import Foundation
import Testing
import VoiceprintAudio
import VoiceprintTestSupport

@Suite struct AtomicFileTests {
    @Test func replacesTheFileAndLeavesNothingBehind() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("scores.txt")
        try AtomicFile.write("first\n", to: path)
        try AtomicFile.write("second\n", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["scores.txt"])
    }

    @Test func aMissingFolderIsAnErrorThatNamesThePath() throws {
        let path = "/nonexistent-voiceprint-folder/out.npy"
        do {
            try AtomicFile.write([1, 2, 3], to: path)
            Issue.record("writing into a missing folder succeeded")
        } catch {
            #expect("\(error)".contains(path))
        }
    }
}
