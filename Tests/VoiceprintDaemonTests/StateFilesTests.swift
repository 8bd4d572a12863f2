import Foundation
import Glibc
import Testing
import VoiceprintEngine
import VoiceprintStore
import VoiceprintTestSupport

/// The built `voiceprintd` binary against a hostile or damaged state: a store
/// that lost its contents, and symbolic links where the state directory, the
/// store and the socket belong. Each is refused at startup with exit status 1
/// and the path named, and no link's target is touched.
@Suite(.serialized) struct StateFilesTests: DaemonProcessSuite {
    let dir: TemporaryDirectory
    let model: String
    var state: String { dir.file("state") }
    var store: String { state + "/enrollments.sqlite" }

    init() throws { (dir, model) = try Self.makeFolder("voiceprintd-state") }

    func mode(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int }

    /// A scratch file with mode 0644 for links to point at (never a real system file).
    func scratchFile(_ name: String) throws -> String {
        let path = dir.file(name)
        try Data("scratch contents".utf8).write(to: URL(fileURLWithPath: path))
        #expect(chmod(path, 0o644) == 0)
        return path
    }

    /// Runs the daemon with `extra` arguments and returns its exit status and output.
    func runDaemon(_ extra: [String] = [], log: String) throws -> (status: Int32?, output: String) {
        let daemon = try DaemonProcess(arguments: arguments + extra, log: dir.file(log))
        let status = daemon.wait()
        return (status, daemon.logText)
    }

    @Test func aStoreTruncatedAfterUseStopsTheDaemonAndCheckConfig() throws {
        let first = try DaemonProcess(arguments: arguments, log: dir.file("1.log"))
        try first.waitForSocket(socket)
        let response = try LineClient(path: socket).request(
            #"{"op":"enroll","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"}}"#)
        #expect(response["ok"] as? Bool == true, "\(response)")
        first.signal(SIGTERM)
        #expect(first.wait() == 0)
        #expect(FileManager.default.fileExists(atPath: store + ".id"))
        // A clean stop folds the write-ahead log into the store: the file alone holds the enrollment.
        let wal = (try? FileManager.default.attributesOfItem(atPath: store + "-wal"))?[.size] as? Int ?? 0
        #expect(wal == 0, "\(store)-wal holds \(wal) bytes after a clean stop")

        #expect(truncate(store, 0) == 0)
        let started = try runDaemon(log: "2.log")
        #expect(started.status == 1, "\(started.output)")
        #expect(started.output.contains("\(store) is empty (0 bytes), but \(store).id records"), "\(started.output)")
        #expect(!FileManager.default.fileExists(atPath: socket), "refused before binding")
        let checked = try runDaemon(["--check-config"], log: "3.log")
        #expect(checked.status == 1, "\(checked.output)")
        #expect(checked.output.contains("\(store) is empty (0 bytes)") && !checked.output.contains("configuration OK"))
        #expect((try FileManager.default.attributesOfItem(atPath: store))[.size] as? Int == 0, "left as it was")
    }

    /// A store written by a daemon from before the model id left thresholds out: its
    /// embeddings carry the hash of the model file's bytes. The same file's daemon now
    /// adopts them at start instead of calling every speaker stale.
    @Test func embeddingsUnderTheModelFilesFormerIDAreAdoptedAtStart() throws {
        let first = try DaemonProcess(arguments: arguments, log: dir.file("1.log"))
        try first.waitForSocket(socket)
        for seed in [1, 2] as [UInt64] {
            let r = try LineClient(path: socket).request(
                #"{"op":"enroll","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: seed))"}}"#)
            #expect(r["ok"] as? Bool == true, "\(r)")
        }
        let id = try #require((try LineClient(path: socket).request(#"{"op":"status"}"#)["model"] as? [String: Any])?["id"] as? String)
        first.signal(SIGTERM)
        #expect(first.wait() == 0)
        let legacy = VoiceprintEngine.contentHash([UInt8](try Data(contentsOf: URL(fileURLWithPath: model))))
        #expect(legacy != id)
        do {
            // What an older daemon left: the same rows under the byte hash.
            let old = try SQLiteEnrollmentStore(path: store)
            #expect(try old.adoptModel(from: id, to: legacy) == 2)
            old.close()
        }
        let second = try DaemonProcess(arguments: arguments, log: dir.file("2.log"))
        try second.waitForSocket(socket)
        let status = try LineClient(path: socket).request(#"{"op":"status"}"#)
        #expect(status["speakers"] as? Int == 1, "\(status)")
        let listed = try LineClient(path: socket).request(#"{"op":"list"}"#)["speakers"] as? [[String: Any]]
        #expect(listed?.first?["utterances"] as? Int == 2 && listed?.first?["stale_utterances"] as? Int == 0, "\(String(describing: listed))")
        second.signal(SIGTERM)
        #expect(second.wait() == 0)
        #expect(second.logText.contains("stored embeddings adopted") && second.logText.contains("utterances=2"), "\(second.logText)")
    }

    @Test func aSymbolicLinkInPlaceOfTheStoreIsRefusedAndItsTargetKeepsItsMode() throws {
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        let target = try scratchFile("scratch")
        try FileManager.default.createSymbolicLink(atPath: store, withDestinationPath: target)
        for (extra, log) in [([String](), "d.log"), (["--check-config"], "c.log")] {
            let result = try runDaemon(extra, log: log)
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains("\(store) is a symbolic link to \(target); refusing to use it"), "\(result.output)")
        }
        #expect(mode(target) == 0o644)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "scratch contents")
    }

    @Test func aSymbolicLinkInPlaceOfTheStateDirectoryIsRefusedAndItsTargetKeepsItsMode() throws {
        let target = dir.file("elsewhere")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        #expect(chmod(target, 0o755) == 0)
        try FileManager.default.createSymbolicLink(atPath: state, withDestinationPath: target)
        // With a trailing slash too, which would make the kernel follow the link.
        for (directory, log) in [(state, "d.log"), (state + "/", "s.log")] {
            let daemon = try DaemonProcess(arguments: ["--socket", socket, "--state-dir", directory, "--model", model],
                                           log: dir.file(log))
            #expect(daemon.wait() == 1, "\(daemon.logText)")
            #expect(daemon.logText.contains("state_dir \(directory) is a symbolic link to \(target); refusing to use it"),
                    "\(daemon.logText)")
        }
        #expect(mode(target) == 0o755)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty, "no store created through the link")
    }

    @Test func aFileInPlaceOfTheStateDirectoryIsRefused() throws {
        _ = try scratchFile("state")
        let result = try runDaemon(log: "d.log")
        #expect(result.status == 1)
        #expect(result.output.contains("state_dir \(state) is a regular file, not a directory; refusing to use it"), "\(result.output)")
        #expect(mode(state) == 0o644)
    }

    @Test func aSymbolicLinkAtTheSocketPathIsRefusedAndItsTargetLeftAlone() throws {
        let target = try scratchFile("scratch")
        try FileManager.default.createSymbolicLink(atPath: socket, withDestinationPath: target)
        let result = try runDaemon(log: "d.log")
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("\(socket) is a symbolic link to \(target); refusing to replace it"), "\(result.output)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: socket) == target, "the link is not removed")
        #expect(mode(target) == 0o644)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "scratch contents")
    }

    @Test func aRegularFileAtTheSocketPathIsRefused() throws {
        _ = try scratchFile("v.sock")
        let result = try runDaemon(log: "d.log")
        #expect(result.status == 1)
        #expect(result.output.contains("\(socket) is a regular file, not a socket; refusing to replace it"), "\(result.output)")
    }

    @Test func aFreshStateDirectoryIsPrivateAndHoldsTheStoreAndItsMarker() throws {
        let result = try runDaemon(["--check-config"], log: "c.log")
        #expect(result.status == 0, "\(result.output)")
        #expect(mode(state) == 0o700 && mode(store) == 0o600 && mode(store + ".id") == 0o600)
        let marker = try String(contentsOfFile: store + ".id", encoding: .utf8)
        #expect(marker.hasPrefix("voiceprint-store ") && marker.hasSuffix("\n"))
    }
}
