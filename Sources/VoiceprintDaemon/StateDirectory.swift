import Foundation
import VoiceprintStore

/// The daemon's state directory: created owner-only, and checked before the
/// store inside it is opened.
///
/// Why the directory itself may not be a symbolic link: the daemon may run as
/// root and sets the directory's mode; a chmod by name through a link planted
/// at `state_dir` would land on whatever it points to. The directory is opened
/// with O_NOFOLLOW and its mode set on the descriptor instead. Links further up
/// the path (`/var/lib` on some systems) are the administrator's layout and
/// are left alone.
enum StateDirectory {
    static func prepare(_ configured: String) throws {
        // "state/" would make the kernel follow a link named "state" despite O_NOFOLLOW.
        var path = configured
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let found: FileStatus?
        do throws(FileStatus.Failure) {
            found = try FileStatus(at: path)
        } catch {
            throw ConfigurationError.invalid("state_dir \(configured): \(error.reason)")
        }
        if let found {
            guard found.kind == .directory else { throw refusal(configured, found: found.kind) }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigurationError.invalid("state_dir \(configured): cannot create: \((error as NSError).localizedDescription)")
            }
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            // A link or a file put there since the look above.
            let code = errno
            if code == ELOOP || code == ENOTDIR, let now = try? FileStatus(at: path) { throw refusal(configured, found: now.kind) }
            throw ConfigurationError.invalid("state_dir \(configured): cannot open: \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ConfigurationError.invalid("state_dir \(configured): \(String(cString: strerror(errno)))")
        }
        // Voiceprints are biometric data: owner only, whatever the umask said.
        guard info.st_mode & 0o7777 == 0o700 || fchmod(fd, 0o700) == 0 else {
            throw ConfigurationError.invalid("state_dir \(configured): cannot set mode 0700: \(String(cString: strerror(errno)))")
        }
    }

    private static func refusal(_ path: String, found: FileKind) -> ConfigurationError {
        .invalid("state_dir \(path) \(found.refusal(expected: .directory)); refusing to use it")
    }
}
