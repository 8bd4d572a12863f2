import Foundation
import Testing
import VoiceprintStore
import VoiceprintTestSupport

/// lstat as the state files' checks see it: links reported as links, with their targets.
@Suite struct FileStatusTests {
    @Test func nothingThereIsNil() throws {
        let dir = try TemporaryDirectory()
        #expect(try FileStatus(at: dir.file("absent")) == nil)
    }

    @Test func aRegularFileAndADirectory() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("data")
        try Data(repeating: 7, count: 300).write(to: URL(fileURLWithPath: file))
        chmod(file, 0o640)
        let status = try #require(try FileStatus(at: file))
        #expect(status.kind == .regularFile && status.size == 300 && status.permissions == 0o640)
        #expect(try FileStatus(at: dir.path)?.kind == .directory)
    }

    @Test func aSymbolicLinkIsReportedWithItsTargetNotFollowed() throws {
        let dir = try TemporaryDirectory()
        let target = dir.file("target")
        try Data("x".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: dir.file("link"), withDestinationPath: target)
        let status = try #require(try FileStatus(at: dir.file("link")))
        #expect(status.kind == .symbolicLink(target: target))
        #expect(!status.isSameFile(as: try #require(try FileStatus(at: target))))
        // Dangling and relative links are links all the same.
        try FileManager.default.createSymbolicLink(atPath: dir.file("dangling"), withDestinationPath: "nowhere/at/all")
        #expect(try FileStatus(at: dir.file("dangling"))?.kind == .symbolicLink(target: "nowhere/at/all"))
    }

    @Test func otherKinds() throws {
        let dir = try TemporaryDirectory()
        #expect(mkfifo(dir.file("pipe"), 0o600) == 0)
        #expect(try FileStatus(at: dir.file("pipe"))?.kind == .namedPipe)
        #expect(try FileStatus(at: "/dev/null")?.kind == .characterDevice)
    }

    @Test func theSameFileSeenTwiceIsTheSameFile() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("a")
        try Data("a".utf8).write(to: URL(fileURLWithPath: file))
        let first = try #require(try FileStatus(at: file))
        #expect(try #require(try FileStatus(at: file)).isSameFile(as: first))
        // Replaced by another file under the same name: no longer the same.
        try Data("b".utf8).write(to: URL(fileURLWithPath: dir.file("b")))
        #expect(rename(dir.file("b"), file) == 0)
        #expect(!(try #require(try FileStatus(at: file)).isSameFile(as: first)))
    }

    @Test func aDirectoryThatCannotBeSearchedIsAFailureNotAbsence() throws {
        // As root every directory can be searched; a too-long name fails for anyone.
        let long = "/" + String(repeating: "x", count: 5000)
        #expect(throws: FileStatus.Failure.self) { try FileStatus(at: long) }
    }

    @Test func refusalsSayWhatWasFoundAndWhatWasExpected() {
        #expect(FileKind.symbolicLink(target: "/dev/null").refusal(expected: .regularFile) == "is a symbolic link to /dev/null")
        #expect(FileKind.directory.refusal(expected: .regularFile) == "is a directory, not a regular file")
        #expect(FileKind.regularFile.refusal(expected: .socket) == "is a regular file, not a socket")
        #expect(FileKind.namedPipe.refusal(expected: .directory) == "is a named pipe, not a directory")
    }
}
