import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Tensor data is copied to and from the file as raw bytes; the format is
// little-endian, so a big-endian host would silently scramble every weight.
#if !_endian(little)
#error("SafeTensors copies float32 data as raw bytes and needs a little-endian host")
#endif

/// A safetensors file of float32 tensors plus string metadata: the model
/// file format (DESIGN.md §3), chosen so PyTorch's tools read our models.
///
/// ref: https://github.com/huggingface/safetensors (README, "Format"): an
/// 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each
/// tensor name to {dtype, shape, data_offsets} plus an optional
/// "__metadata__" string map, then the tensors' bytes, which must tile the
/// data section exactly.
///
/// Only F32 is supported: every Voiceprint layer computes in Float, and
/// converting other dtypes silently would hide a mismatched model.
public struct SafeTensors: Sendable, Equatable {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    /// The header key reserved for metadata; no tensor may use it.
    static let metadataKey = "__metadata__"
    /// Same cap as the reference implementation: anything larger is a corrupt
    /// length word, and refusing it avoids a huge allocation.
    static let maxHeaderLength: UInt64 = 100_000_000
    static let dtype = "F32"
    static let bytesPerValue = MemoryLayout<Float>.size

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    // MARK: Writing

    /// The complete file. Keys are sorted and the JSON carries no whitespace,
    /// so equal content always gives equal bytes (models can be compared by
    /// checksum). The header is space-padded so the data starts on an 8-byte
    /// boundary, which lets readers that map the file use it in place.
    public func encoded() -> [UInt8] {
        precondition(tensors[Self.metadataKey] == nil, "\"\(Self.metadataKey)\" is reserved and cannot name a tensor")
        let names = tensors.keys.sorted()
        var entries: [String] = []
        entries.reserveCapacity(names.count + 1)
        // Python's save_file omits an empty metadata map; doing the same keeps
        // files byte-comparable with its output.
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { Self.jsonString($0) + ":" + Self.jsonString(metadata[$0]!) }
            entries.append(Self.jsonString(Self.metadataKey) + ":{" + pairs.joined(separator: ",") + "}")
        }
        var dataLength = 0
        for name in names {
            let tensor = tensors[name]!
            let end = dataLength + tensor.count * Self.bytesPerValue
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append(Self.jsonString(name)
                + ":{\"dtype\":\"\(Self.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(dataLength),\(end)]}")
            dataLength = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header.append(contentsOf: repeatElement(0x20, count: (8 - header.count % 8) % 8))

        let dataStart = 8 + header.count
        let total = dataStart + dataLength
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let file = UnsafeMutableRawBufferPointer(buffer)
            file.storeBytes(of: UInt64(header.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            header.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: file[8..<dataStart]).copyMemory(from: $0) }
            var cursor = dataStart
            for name in names {
                tensors[name]!.storage.withUnsafeBytes { values in
                    UnsafeMutableRawBufferPointer(rebasing: file[cursor..<(cursor + values.count)]).copyMemory(from: values)
                    cursor += values.count
                }
            }
            initialized = total
        }
    }

    /// Writes the file so that a reader (or a daemon reloading on SIGHUP)
    /// sees either the old file or the complete new one, never a torn write:
    /// a temporary file in the same directory (so rename cannot cross file
    /// systems) is fsynced, then renamed over `path`.
    public func write(to path: String) throws(SafeTensorsError) {
        let bytes = encoded()
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = (directory == "/" ? "" : directory) + "/.\(base).\(UUID().uuidString).tmp"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotWrite(path: path, reason: "cannot create \(temporary): \(Self.errnoText())") }
        var failure: String?
        let written = bytes.withUnsafeBytes { Self.writeAll(fd, $0) }
        if !written { failure = "cannot write \(temporary): \(Self.errnoText())" }
        if failure == nil, fsync(fd) != 0 { failure = "cannot sync \(temporary): \(Self.errnoText())" }
        if close(fd) != 0, failure == nil { failure = "cannot close \(temporary): \(Self.errnoText())" }
        if failure == nil, rename(temporary, path) != 0 { failure = "cannot rename \(temporary): \(Self.errnoText())" }
        if let failure {
            unlink(temporary)
            throw .cannotWrite(path: path, reason: failure)
        }
        // The rename itself is durable only once the directory entry is synced;
        // a failure here loses durability, not data, so it is not reported.
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            _ = close(directoryFD)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            // pwrite, not write: inside this type `write` names the method above.
            let n = pwrite(fd, bytes.baseAddress! + offset, bytes.count - offset, off_t(offset))
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false } // 0 would otherwise spin forever (a full disk reports ENOSPC, not 0)
            offset += n
        }
        return true
    }

    // MARK: Reading

    /// Reads and validates the file at `path`; errors name `path`.
    public init(path: String) throws(SafeTensorsError) {
        try self.init(bytes: Self.readFile(path), source: path)
    }

    /// Parses complete file bytes. `source` names the file in error messages.
    public init(bytes: [UInt8], source: String) throws(SafeTensorsError) {
        guard bytes.count >= 8 else { throw .tooShort(source: source, byteCount: bytes.count) }
        let headerLength = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let available = bytes.count - 8
        guard headerLength <= Self.maxHeaderLength, headerLength <= UInt64(available) else {
            throw .headerLength(source: source, length: headerLength, available: available)
        }
        let dataStart = 8 + Int(headerLength)
        let header = try Header(bytes[8..<dataStart], source: source)
        try header.checkLayout(dataByteCount: bytes.count - dataStart, source: source)

        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(header.entries.count)
        bytes.withUnsafeBytes { file in
            for entry in header.entries {
                let range = (dataStart + entry.begin)..<(dataStart + entry.end)
                let count = entry.byteCount / Self.bytesPerValue
                let storage = [Float](unsafeUninitializedCapacity: count) { values, initialized in
                    UnsafeMutableRawBufferPointer(values).copyMemory(from: UnsafeRawBufferPointer(rebasing: file[range]))
                    initialized = count
                }
                tensors[entry.name] = Tensor(shape: entry.shape, storage: storage)
            }
        }
        self.init(tensors: tensors, metadata: header.metadata)
    }

    private static func readFile(_ path: String) throws(SafeTensorsError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotRead(source: path, reason: errnoText()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotRead(source: path, reason: errnoText()) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw .cannotRead(source: path, reason: "is a directory") }
        let size = Int(info.st_size)
        var readError: Int32 = 0
        // Reads straight into the array's storage: model files are megabytes,
        // and a zero-fill or an intermediate Data would double the work.
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let n = read(fd, buffer.baseAddress! + initialized, size - initialized)
                if n < 0, errno == EINTR { continue }
                if n < 0 { readError = errno; break }
                if n == 0 { break } // the file shrank since fstat; what was read is validated as is
                initialized += n
            }
        }
        guard readError == 0 else { throw .cannotRead(source: path, reason: String(cString: strerror(readError))) }
        return bytes
    }

    // MARK: Helpers

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    /// A JSON string literal. Non-ASCII passes through as UTF-8 (valid JSON,
    /// and readable in a hex dump); only what JSON requires is escaped.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
