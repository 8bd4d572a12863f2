import Foundation

/// The daemon's state directory: created owner-only, and checked before the
/// store inside it is opened.
enum StateDirectory {
    static func prepare(_ path: String) throws {
        var info = stat()
        if stat(path, &info) != 0 {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigurationError.invalid("state_dir \(path): cannot create: \((error as NSError).localizedDescription)")
            }
        } else if (info.st_mode & S_IFMT) != S_IFDIR {
            throw ConfigurationError.invalid("state_dir \(path) exists and is not a directory")
        }
        // Voiceprints are biometric data: owner only, whatever the umask said.
        guard chmod(path, 0o700) == 0 else {
            throw ConfigurationError.invalid("state_dir \(path): cannot set mode 0700: \(String(cString: strerror(errno)))")
        }
    }
}
