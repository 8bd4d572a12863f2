import Foundation

/// The enrollment store's files on disk: SQLite's main file, its write-ahead
/// log (`-wal`) and shared-memory index (`-shm`), and the identity marker
/// beside them (`<store>.id`), checked before SQLite opens any of them.
///
/// Why a marker: SQLite opens a missing or 0-byte file as a new, empty
/// database, so a store truncated by a full disk, a bad restore or a mistaken
/// `> enrollments.sqlite` came back as a daemon that had silently forgotten
/// every enrollment (DESIGN.md §6: such a store is refused, never recreated).
/// The store records a random id in its `store_identity` table; the marker
/// holds the same id outside it, so a store that is gone, empty or another
/// one is recognised as such.
///
/// Marker format: one line, `voiceprint-store <uuid>\n` (the UUID in lower
/// case), mode 0600, written to a temporary file, fsynced and renamed over.
///
/// Why no symbolic links: every file here is biometric data or guards it, and
/// the daemon may run as root. A link planted as `enrollments.sqlite ->
/// /dev/null` once had its target chmodded to 0600. Each file is opened with
/// O_NOFOLLOW and its mode set on the descriptor; a link, a directory or a
/// device where a file belongs is refused with what it is.
///
/// Why check-then-open is good enough: SQLite opens the files by name after
/// this (GRDB gives no way to pass SQLITE_OPEN_NOFOLLOW). The state directory
/// is 0700 (`StateDirectory`), so only its owner could swap a file in between,
/// and `confirmUnchanged` notices a main file that changed under the open.
struct StoreFiles {
    let store: String
    var wal: String { store + "-wal" }
    var shm: String { store + "-shm" }
    var marker: String { store + ".id" }

    static let markerPrefix = "voiceprint-store "

    /// Checks every file and sets the store's and its companions' modes to
    /// 0600, creating the main file when this is a new store. Returns the id the
    /// marker holds (nil: no marker yet, so a new store or one from before
    /// markers) and the main file as checked, for `confirmUnchanged`.
    func check() throws(StoreError) -> (recordedID: String?, main: FileStatus) {
        let main = try regularFile(store), wal = try regularFile(self.wal), shm = try regularFile(self.shm)
        let recordedID = try readMarker()
        let logBytes = wal?.size ?? 0
        // Refused before SQLite sees them: opened, a 0-byte file becomes a new database,
        // and a log beside it would be replayed onto that or deleted.
        if main == nil || main?.size == 0 {
            if recordedID != nil {
                var problem = main == nil ? "is missing" : "is empty (0 bytes)"
                if logBytes > 0 { problem += " while its write-ahead log \(self.wal) holds \(logBytes) bytes" }
                throw .storeLost(store: store, marker: marker, problem: problem)
            }
            if logBytes > 0 { throw .orphanedLog(store: store, storeMissing: main == nil, log: self.wal, logBytes: logBytes) }
        }
        let secured: FileStatus
        do throws(StoreError) {
            secured = try secure(store, seen: main)
        } catch {
            if case .cannotOpen(_, let reason) = error { throw unreadable(recordedID: recordedID, reason: reason) }
            throw error
        }
        // SQLite creates these with the main file's mode; ones left by an older, laxer run are tightened.
        if let wal { try secure(self.wal, seen: wal) }
        if let shm { try secure(self.shm, seen: shm) }
        return (recordedID, secured)
    }

    /// After SQLite opened the store by name: the main file must still be the
    /// one `check` looked at (not swapped, not deleted and recreated empty).
    func confirmUnchanged(_ checked: FileStatus) throws(StoreError) {
        guard let now = try regularFile(store), now.isSameFile(as: checked) else {
            throw .cannotOpen(path: store, reason: "the file was replaced while the store was being opened")
        }
    }

    /// A store that cannot be opened is lost when the marker says one was kept here.
    func unreadable(recordedID: String?, reason: String) -> StoreError {
        recordedID == nil ? .cannotOpen(path: store, reason: reason)
                          : .storeLost(store: store, marker: marker, problem: "cannot be read: \(reason)")
    }

    /// The id in the marker, or nil when there is none.
    func readMarker() throws(StoreError) -> String? {
        guard let seen = try regularFile(marker) else { return nil }
        let fd = open(marker, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw refusal(marker, errno: errno) }
        defer { close(fd) }
        let opened = try descriptorStatus(fd, path: marker, seen: seen)
        // A marker is one short line; anything much longer is not one.
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { throw .marker(path: marker, reason: String(cString: strerror(errno))) }
        guard opened.size < buffer.count, let id = Self.parseMarker(String(decoding: buffer[0..<count], as: UTF8.self)) else {
            throw .marker(path: marker, reason: """
                it does not hold a store id (expected one line "\(Self.markerPrefix)<uuid>"); restore it from a \
                backup, or remove it to adopt \(store) as it is
                """)
        }
        return id
    }

    /// The id from a marker's text, lower case; nil unless the text is exactly one marker line.
    static func parseMarker(_ text: String) -> String? {
        guard text.hasPrefix(markerPrefix) else { return nil }
        var id = text.dropFirst(markerPrefix.count)
        if id.hasSuffix("\n") { id = id.dropLast() }
        guard UUID(uuidString: String(id)) != nil else { return nil }
        return id.lowercased()
    }

    /// Replaces the marker atomically: a crash leaves the old one or the new
    /// one, never a half-written one that would refuse a healthy store.
    func writeMarker(id: String) throws(StoreError) {
        // Unique per writer: a daemon and `--check-config` adopting the same store at once
        // must not write into each other's temporary file.
        let temporary = marker + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func fail(_ what: String) -> StoreError {
            let reason = "\(what): \(String(cString: strerror(errno)))"
            unlink(temporary)
            return .marker(path: marker, reason: reason)
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("cannot create \(temporary)") }
        let bytes = Array((Self.markerPrefix + id + "\n").utf8)
        // The umask may have narrowed 0600 further (harmless) but never widened it; set it outright anyway.
        let written = fchmod(fd, 0o600) == 0 && bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
        let synced = written && fsync(fd) == 0
        close(fd)
        guard synced else { throw fail("cannot write \(temporary)") }
        guard rename(temporary, marker) == 0 else { throw fail("cannot rename \(temporary) to it") }
        // The rename itself reaches the disk only with the directory's own fsync.
        let directory = (store as NSString).deletingLastPathComponent
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// lstat of `path`: nil when absent, refused unless a regular file.
    private func regularFile(_ path: String) throws(StoreError) -> FileStatus? {
        let found: FileStatus?
        do throws(FileStatus.Failure) {
            found = try FileStatus(at: path)
        } catch {
            throw .cannotOpen(path: path, reason: error.reason)
        }
        if let found, found.kind != .regularFile { throw .unsafeFile(path: path, found: found.kind) }
        return found
    }

    /// Opens `path` without following a link (creating it when `seen` is nil),
    /// checks it is the regular file lstat saw, and sets mode 0600 on the
    /// descriptor. Runs before SQLite opens the store: closing a descriptor
    /// drops every POSIX lock the process holds on the file, SQLite's included.
    @discardableResult
    private func secure(_ path: String, seen: FileStatus?) throws(StoreError) -> FileStatus {
        // O_NONBLOCK: should a named pipe be swapped in after lstat, open must not wait for a writer.
        let flags = seen == nil ? O_RDWR | O_CREAT | O_EXCL : O_RDONLY | O_NONBLOCK
        let fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw refusal(path, errno: errno) }
        defer { close(fd) }
        let opened = try descriptorStatus(fd, path: path, seen: seen)
        guard opened.permissions == 0o600 || fchmod(fd, 0o600) == 0 else {
            throw .cannotOpen(path: path, reason: "cannot set mode 0600: \(String(cString: strerror(errno)))")
        }
        return opened
    }

    /// fstat of a descriptor just opened: a regular file, and the one lstat saw.
    private func descriptorStatus(_ fd: Int32, path: String, seen: FileStatus?) throws(StoreError) -> FileStatus {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let opened = FileStatus(info, path: path)
        guard opened.kind == .regularFile else { throw .unsafeFile(path: path, found: opened.kind) }
        if let seen, !opened.isSameFile(as: seen) {
            throw .cannotOpen(path: path, reason: "the file was replaced while it was being checked")
        }
        return opened
    }

    /// open(2) failed: ELOOP is O_NOFOLLOW meeting a link that appeared since lstat.
    private func refusal(_ path: String, errno code: Int32) -> StoreError {
        if code == ELOOP, let now = try? FileStatus(at: path), now.kind.isSymbolicLink {
            return .unsafeFile(path: path, found: now.kind)
        }
        let reason = String(cString: strerror(code))
        return path == marker ? .marker(path: path, reason: reason) : .cannotOpen(path: path, reason: reason)
    }
}
