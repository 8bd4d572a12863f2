import Foundation

/// What a path names, looked at with lstat(2): a symbolic link is reported as
/// one, never as what it points to. The daemon's state directory, socket and
/// store files are each checked with this before anything touches them, so
/// that a planted or mistaken symbolic link (`enrollments.sqlite -> /dev/null`)
/// is refused instead of followed: following it is how a chmod meant for the
/// store once landed on /dev/null.
public struct FileStatus: Sendable, Equatable {
    public var kind: FileKind
    /// Bytes, for a regular file.
    public var size: Int64
    /// Permission bits only (`st_mode & 0o7777`).
    public var permissions: mode_t
    /// Device and inode together say whether two looks saw the same file.
    public var device: UInt64
    public var inode: UInt64

    /// nil when nothing is at `path`.
    public init?(at path: String) throws(FileStatus.Failure) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw Failure(path: path, reason: String(cString: strerror(errno)))
        }
        self.init(info, path: path)
    }

    /// From fstat(2) of a descriptor opened with O_NOFOLLOW, or from lstat(2) of `path`.
    public init(_ info: stat, path: String) {
        kind = FileKind(mode: info.st_mode, path: path)
        size = Int64(info.st_size)
        permissions = info.st_mode & 0o7777
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// Whether `other` is the same file (not merely one with the same contents).
    public func isSameFile(as other: FileStatus) -> Bool {
        device == other.device && inode == other.inode
    }

    /// lstat(2) failed for a reason other than the path not existing (a
    /// directory on the way that cannot be searched, a name too long).
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): cannot look at it: \(reason)" }
    }
}

/// The kinds of file a path can name, in the words refusals use:
/// "… is a symbolic link to /dev/null; refusing to use it".
public enum FileKind: Sendable, Equatable, CustomStringConvertible {
    case regularFile
    case directory
    case socket
    /// The target as the link holds it (possibly relative, possibly dangling).
    case symbolicLink(target: String)
    case namedPipe
    case characterDevice
    case blockDevice
    case unknown

    /// `path` is only read when `mode` says it is a symbolic link, for its target.
    public init(mode: mode_t, path: String) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regularFile
        case S_IFDIR: self = .directory
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink(target: Self.target(of: path))
        case S_IFIFO: self = .namedPipe
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .unknown
        }
    }

    public var description: String {
        switch self {
        case .regularFile: return "a regular file"
        case .directory: return "a directory"
        case .socket: return "a socket"
        case .symbolicLink(let target): return "a symbolic link to \(target)"
        case .namedPipe: return "a named pipe"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .unknown: return "a file of unknown type"
        }
    }

    public var isSymbolicLink: Bool {
        if case .symbolicLink = self { return true }
        return false
    }

    /// "is a symbolic link to /dev/null" or "is a directory, not a regular file":
    /// the middle of a refusal, given the kind that was expected.
    public func refusal(expected: FileKind) -> String {
        isSymbolicLink ? "is \(self)" : "is \(self), not \(expected)"
    }

    private static func target(of path: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        // Gone or changed since lstat: still a link when it was looked at, and so still refused.
        guard count >= 0 else { return "an unreadable target (\(String(cString: strerror(errno))))" }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
