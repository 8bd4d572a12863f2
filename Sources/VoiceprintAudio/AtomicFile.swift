import Foundation

/// Whole-file writes that a crash never leaves half done: a temporary file
/// beside the target, fsync, then rename(2) over it.
///
/// Why not `Data.write(options: .atomic)`: swift-corelibs-foundation leaves an
/// empty `/tmp/TemporaryDirectory.XXXXXX` folder behind on every such write
/// (one per `voiceprint evaluate --scores`, thousands over a test campaign).
public enum AtomicFile {
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        var ok = true
        Array(bytes).withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 { if errno == EINTR { continue }; ok = false; break }
                offset += n
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }
}
