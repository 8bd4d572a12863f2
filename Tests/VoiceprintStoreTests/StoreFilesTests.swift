import Foundation
import GRDB
import Testing
import VoiceprintStore
import VoiceprintTestSupport

/// The store's files as `SQLiteEnrollmentStore.init` checks them: the identity
/// marker that keeps a lost store from reopening as an empty one, and the
/// refusal of links and odd files (DESIGN.md §5, §6).
@Suite struct StoreFilesTests {
    let dir: TemporaryDirectory
    var path: String { dir.file("store.db") }
    var marker: String { path + ".id" }

    init() throws { dir = try TemporaryDirectory("voiceprint-store-files") }

    /// A store that has been used: one enrollment, then closed.
    func useStore(at path: String? = nil) throws {
        let store = try SQLiteEnrollmentStore(path: path ?? self.path)
        try store.addUtterance(speaker: "alice", model: "m", embedding: [1, 0, 0], speechSeconds: 2)
    }

    func storeID(_ path: String) throws -> String? {
        try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "SELECT id FROM store_identity") }
    }

    func size(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int }
    func mode(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int }

    @Test func aNewStoreGetsAPrivateMarkerHoldingItsID() throws {
        try useStore()
        let text = try String(contentsOfFile: marker, encoding: .utf8)
        let id = try #require(try storeID(path))
        #expect(text == "voiceprint-store \(id)\n")
        #expect(UUID(uuidString: id) != nil && id == id.lowercased())
        #expect(mode(marker) == 0o600)
        // Nothing left behind by the atomic write.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp") }.isEmpty)
        // Reopening checks the id and keeps everything.
        #expect(try SQLiteEnrollmentStore(path: path).speakerCount() == 1)
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == text)
    }

    @Test func aStoreTruncatedAfterUseIsRefusedAndLeftAsItIs() throws {
        try useStore()
        #expect(truncate(path, 0) == 0)
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        #expect(error == .storeLost(store: path, marker: marker, problem: "is empty (0 bytes)"))
        let message = error?.description ?? ""
        #expect(message.contains(path) && message.contains(marker) && message.contains("Restore \(path) from a backup"))
        #expect(message.contains("remove \(marker) to start a new, empty store deliberately"))
        // Refused before SQLite saw it: still 0 bytes, not given a fresh schema.
        #expect(size(path) == 0)
    }

    @Test func anEmptyStoreBesideItsLogIsRefusedWithOrWithoutAMarker() throws {
        try useStore()
        #expect(truncate(path, 0) == 0)
        try Data(repeating: 0x5a, count: 4120).write(to: URL(fileURLWithPath: path + "-wal"))
        #expect(throws: StoreError.storeLost(store: path, marker: marker,
                                             problem: "is empty (0 bytes) while its write-ahead log \(path)-wal holds 4120 bytes")) {
            try SQLiteEnrollmentStore(path: path)
        }
        // A store from before markers: the log alone says it was used.
        try FileManager.default.removeItem(atPath: marker)
        #expect(throws: StoreError.orphanedLog(store: path, storeMissing: false, log: path + "-wal", logBytes: 4120)) {
            try SQLiteEnrollmentStore(path: path)
        }
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: StoreError.orphanedLog(store: path, storeMissing: true, log: path + "-wal", logBytes: 4120)) {
            try SQLiteEnrollmentStore(path: path)
        }
        #expect(size(path + "-wal") == 4120 && size(path) == nil)
    }

    @Test func aDeletedStoreWithItsMarkerLeftIsRefusedAndNotRecreated() throws {
        try useStore()
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: StoreError.storeLost(store: path, marker: marker, problem: "is missing")) {
            try SQLiteEnrollmentStore(path: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func garbageInPlaceOfAUsedStoreIsRefusedNamingIt() throws {
        try useStore()
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        guard case .storeLost(path, marker, let problem) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(problem.hasPrefix("cannot be read: ") && problem.contains("not a database"), "\(problem)")
        #expect(error?.description.hasPrefix("\(path) cannot be read: ") == true)
    }

    @Test func aDatabaseWithoutTheStoreSchemaIsRefused() throws {
        try useStore()
        try FileManager.default.removeItem(atPath: path)
        try DatabaseQueue(path: path).write { try $0.execute(sql: "CREATE TABLE unrelated (x)") }
        #expect(throws: StoreError.storeLost(store: path, marker: marker, problem: "holds no enrollment store (no schema)")) {
            try SQLiteEnrollmentStore(path: path)
        }
    }

    @Test func anotherStoreInPlaceIsRefusedNamingBothIDs() throws {
        try useStore()
        let other = dir.file("other.db")
        try useStore(at: other)
        let (mine, theirs) = (try #require(try storeID(path)), try #require(try storeID(other)))
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: other, toPath: path)
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        #expect(error == .storeReplaced(store: path, marker: marker, storeID: theirs, markerID: mine))
        #expect(error?.description.contains("remove \(marker) to adopt this one as it is") == true)
    }

    @Test func removingTheMarkerStartsANewStoreDeliberately() throws {
        try useStore()
        let before = try #require(try storeID(path))
        #expect(truncate(path, 0) == 0)
        #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        try FileManager.default.removeItem(atPath: marker)
        let store = try SQLiteEnrollmentStore(path: path)
        #expect(try store.speakerCount() == 0)
        let after = try #require(try storeID(path))
        #expect(after != before)
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "voiceprint-store \(after)\n")
    }

    @Test func aStoreFromBeforeMarkersGetsOneAndABackupFromBeforeIsRecognised() throws {
        let backup = dir.file("backup.db")
        try StoreMigrationsTests.writeV1Store(at: path, utterances: [("alice", "m", [1, 0], 2)])
        try FileManager.default.copyItem(atPath: path, toPath: backup)
        do {
            let store = try SQLiteEnrollmentStore(path: path)
            #expect(try store.speaker(named: "alice", model: "m")?.utterances == 1)
        }
        let id = try #require(try storeID(path))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "voiceprint-store \(id)\n")
        // The pre-upgrade backup restored over the store has no identity: not silently adopted.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: backup, toPath: path)
        #expect(throws: StoreError.storeReplaced(store: path, marker: marker, storeID: nil, markerID: id)) {
            try SQLiteEnrollmentStore(path: path)
        }
    }

    @Test func aMalformedMarkerIsRefusedNamingIt() throws {
        try useStore()
        try Data("not a marker\n".utf8).write(to: URL(fileURLWithPath: marker))
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        guard case .marker(marker, let reason) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(reason.contains("remove it to adopt \(path) as it is"))
    }

    @Test func aMarkerWrittenByHandInUpperCaseWithoutANewlineStillMatches() throws {
        try useStore()
        let id = try #require(try storeID(path))
        try Data("voiceprint-store \(id.uppercased())".utf8).write(to: URL(fileURLWithPath: marker))
        #expect(try SQLiteEnrollmentStore(path: path).speakerCount() == 1)
    }

    /// A link at the store, its log, its index or its marker: refused with its
    /// target named, and the target's mode and contents untouched.
    @Test(arguments: ["", "-wal", "-shm", ".id"])
    func aSymbolicLinkAmongTheStoreFilesIsRefusedAndItsTargetLeftAlone(suffix: String) throws {
        try useStore()
        let target = dir.file("scratch")
        try Data("scratch contents".utf8).write(to: URL(fileURLWithPath: target))
        #expect(chmod(target, 0o644) == 0)
        let link = path + suffix
        if FileManager.default.fileExists(atPath: link) { try FileManager.default.removeItem(atPath: link) }
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        #expect(error == .unsafeFile(path: link, found: .symbolicLink(target: target)))
        #expect(error?.description == "\(link) is a symbolic link to \(target); refusing to use it")
        #expect(mode(target) == 0o644)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "scratch contents")
    }

    @Test func aDirectoryOrAPipeWhereAFileBelongsIsRefused() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        let error = #expect(throws: StoreError.self) { try SQLiteEnrollmentStore(path: path) }
        #expect(error?.description == "\(path) is a directory, not a regular file; refusing to use it")
        try FileManager.default.removeItem(atPath: path)
        // A pipe must be refused, not opened: opening one for reading waits for a writer.
        #expect(mkfifo(path + "-wal", 0o600) == 0)
        #expect(throws: StoreError.unsafeFile(path: path + "-wal", found: .namedPipe)) { try SQLiteEnrollmentStore(path: path) }
    }

    @Test func looseModesOnTheStoreAndItsLogAreTightened() throws {
        try useStore()
        try Data(repeating: 0, count: 0).write(to: URL(fileURLWithPath: path + "-wal"))
        #expect(chmod(path, 0o644) == 0 && chmod(path + "-wal", 0o666) == 0)
        let store = try SQLiteEnrollmentStore(path: path)
        // SQLite keeps using the log it found, so its mode is the one set before the open.
        #expect(mode(path) == 0o600 && mode(path + "-wal") == 0o600)
        #expect(try store.speakerCount() == 1)
    }
}
