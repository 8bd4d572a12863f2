import CSndFile
import Foundation

extension SoundFile {
    /// A growable in-memory file behind libsndfile's virtual I/O, so the daemon
    /// decodes bytes received on the socket without a temporary file.
    ///
    /// libsndfile calls the C callbacks below with `user_data` pointing at this
    /// object; `SoundFile` keeps it alive for as long as the handle is open.
    final class MemoryFile {
        private(set) var bytes: [UInt8]
        private var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        static var virtualIO: SF_VIRTUAL_IO {
            SF_VIRTUAL_IO(
                get_filelen: { user in MemoryFile.from(user).length },
                seek: { offset, whence, user in MemoryFile.from(user).seek(offset, whence: whence) },
                read: { pointer, count, user in MemoryFile.from(user).read(into: pointer, count: count) },
                write: { pointer, count, user in MemoryFile.from(user).write(pointer, count: count) },
                tell: { user in sf_count_t(MemoryFile.from(user).position) }
            )
        }

        private static func from(_ user: UnsafeMutableRawPointer?) -> MemoryFile {
            Unmanaged<MemoryFile>.fromOpaque(user!).takeUnretainedValue()
        }

        private var length: sf_count_t { sf_count_t(bytes.count) }

        private func seek(_ offset: sf_count_t, whence: Int32) -> sf_count_t {
            let base: Int
            switch whence {
            case SEEK_SET: base = 0
            case SEEK_CUR: base = position
            case SEEK_END: base = bytes.count
            default: return -1
            }
            let target = base + Int(offset)
            // Seeking past the end is legal (a writer may seek, then write); reads there return 0.
            guard target >= 0 else { return -1 }
            position = target
            return sf_count_t(position)
        }

        private func read(into pointer: UnsafeMutableRawPointer?, count: sf_count_t) -> sf_count_t {
            guard let pointer, count > 0, position < bytes.count else { return 0 }
            let n = min(Int(count), bytes.count - position)
            bytes.withUnsafeBytes { source in
                pointer.copyMemory(from: source.baseAddress! + position, byteCount: n)
            }
            position += n
            return sf_count_t(n)
        }

        private func write(_ pointer: UnsafeRawPointer?, count: sf_count_t) -> sf_count_t {
            guard let pointer, count > 0 else { return 0 }
            let n = Int(count)
            if position + n > bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: position + n - bytes.count))
            }
            bytes.withUnsafeMutableBytes { target in
                (target.baseAddress! + position).copyMemory(from: pointer, byteCount: n)
            }
            position += n
            return sf_count_t(n)
        }
    }
}
