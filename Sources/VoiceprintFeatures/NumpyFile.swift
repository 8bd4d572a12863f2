import Foundation
import VoiceprintAudio

/// Reads and writes NumPy `.npy` files (format version 1.0) of little-endian
/// float32, so features and embeddings open with `numpy.load`.
///
/// ref: numpy/lib/format.py — magic "\x93NUMPY", version 1.0, a 2-byte header
/// length, a Python-dict header padded with spaces and a newline so that the
/// data starts on a 64-byte boundary.
public enum NumpyFile {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case notNumpy(path: String)
        case unsupported(path: String, header: String)
        case truncated(path: String, expectedBytes: Int, actualBytes: Int)

        public var description: String {
            switch self {
            case .notNumpy(let path): return "\(path): not a NumPy .npy file (bad magic)"
            case .unsupported(let path, let header):
                return "\(path): unsupported .npy header \(header); expected little-endian float32 ('<f4'), C order"
            case .truncated(let path, let expected, let actual):
                return "\(path): truncated .npy data: expected \(expected) bytes, found \(actual)"
            }
        }
    }

    /// The complete file contents for a float32 array of `shape`.
    public static func encode(_ values: [Float], shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == values.count, "npy shape \(shape) does not match \(values.count) values")
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let preamble = 10 // magic (6) + version (2) + header length (2)
        let padding = 64 - (preamble + header.utf8.count + 1) % 64
        header += String(repeating: " ", count: padding % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { buffer in
            // Little-endian hosts only (x86-64, arm64), which is all Voiceprint targets.
            data.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                            count: buffer.count * 4))
        }
        return data
    }

    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try AtomicFile.write(encode(values, shape: shape), to: path)
    }

    /// Reads a float32, C-order `.npy` file: its shape and values.
    public static func read(path: String) throws -> (shape: [Int], values: [Float]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw Error.notNumpy(path: path)
        }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        guard bytes.count >= 10 + headerLength else { throw Error.notNumpy(path: path) }
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw Error.unsupported(path: path, header: header.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let count = shape.reduce(1, *)
        let start = 10 + headerLength
        guard bytes.count - start >= count * 4 else {
            throw Error.truncated(path: path, expectedBytes: count * 4, actualBytes: bytes.count - start)
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + count * 4)]))
            }
        }
        return (shape, values)
    }
}
