import Foundation
import VoiceprintProtocol
import VoiceprintStore

/// Checks and prepares the socket path before binding, and sets its owner
/// group and mode afterwards.
///
/// Why nothing here follows a symbolic link: the daemon may run as root, and
/// a link planted at the socket path would otherwise have its target
/// unlinked as a "stale socket" or given the socket's group and mode.
enum SocketFile {
    /// Removes a stale socket file; refuses when another daemon answers on it
    /// or when the path is something other than a socket.
    static func prepare(_ path: String) throws {
        guard let found = try status(path) else { return }
        guard found.kind == .socket else {
            throw ConfigurationError.invalid("\(path) \(found.kind.refusal(expected: .socket)); refusing to replace it")
        }
        if isLive(path) {
            throw ConfigurationError.invalid("another daemon is listening on \(path); refusing to start a second one")
        }
        // unlink(2) removes the name itself, even should it have become a link meanwhile.
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ConfigurationError.invalid("cannot remove stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether something accepts connections on the socket.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let address = UnixSocketAddress(path: path) else { return false }
        return address.withSockaddr { connect(fd, $0, $1) } == 0
    }

    /// Sets the bound socket's group and mode. A socket cannot be opened to
    /// fchown/fchmod it, so it is checked with lstat right before, and both
    /// calls act on the name without following a link: lchown, and fchmodat
    /// with AT_SYMLINK_NOFOLLOW (which fails rather than follow one).
    static func setOwnership(_ path: String, mode: UInt16, group: String?) throws {
        let found = try status(path)
        guard let found, found.kind == .socket else {
            let what = found.map { $0.kind.refusal(expected: .socket) } ?? "is gone"
            throw ConfigurationError.invalid("\(path) \(what) after binding the socket there; refusing to use it")
        }
        if let group {
            guard let entry = getgrnam(group) else { throw ConfigurationError.invalid("socket_group \"\(group)\" does not exist") }
            guard lchown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                throw ConfigurationError.invalid("cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        guard fchmodat(AT_FDCWD, path, mode_t(mode), AT_SYMLINK_NOFOLLOW) == 0 else {
            let code = errno
            var reason = String(cString: strerror(code))
            // glibc answers EOPNOTSUPP both for a link and when /proc, which it works through, is not mounted.
            if code == EOPNOTSUPP, let now = try? FileStatus(at: path) {
                reason = now.kind == .socket ? reason + " (is /proc mounted?)" : "it \(now.kind.refusal(expected: .socket)) now"
            }
            throw ConfigurationError.invalid("cannot set mode \(String(mode, radix: 8)) on \(path): \(reason)")
        }
    }

    private static func status(_ path: String) throws -> FileStatus? {
        do throws(FileStatus.Failure) {
            return try FileStatus(at: path)
        } catch {
            throw ConfigurationError.invalid("socket \(path): \(error.reason)")
        }
    }
}
