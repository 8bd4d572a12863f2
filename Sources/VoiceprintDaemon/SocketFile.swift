import Foundation
import VoiceprintProtocol

/// Checks and prepares the socket path before binding, and sets its owner
/// group and mode afterwards.
enum SocketFile {
    /// Removes a stale socket file; refuses when another daemon answers on it
    /// or when the path is something other than a socket.
    static func prepare(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ConfigurationError.invalid("\(path) exists and is not a socket; refusing to replace it")
        }
        if isLive(path) {
            throw ConfigurationError.invalid("another daemon is listening on \(path); refusing to start a second one")
        }
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

    static func setOwnership(_ path: String, mode: UInt16, group: String?) throws {
        if let group {
            guard let entry = getgrnam(group) else { throw ConfigurationError.invalid("socket_group \"\(group)\" does not exist") }
            guard chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                throw ConfigurationError.invalid("cannot give \(path) to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw ConfigurationError.invalid("cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))")
        }
    }
}
