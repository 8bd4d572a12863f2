import Foundation

/// Why a safetensors file was refused or could not be written. Every message
/// starts with the file and names the tensor, field or value at fault, so a
/// user handed a bad model knows what to fix without a hex editor.
public enum SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotRead(source: String, reason: String)
    case cannotWrite(path: String, reason: String)
    /// Fewer than the 8 bytes of the header-length word.
    case tooShort(source: String, byteCount: Int)
    /// The header length exceeds the bytes after the length word, or the 100 MB cap.
    case headerLength(source: String, length: UInt64, available: Int)
    /// The header is not UTF-8, not JSON, or not a JSON object.
    case invalidHeader(source: String, reason: String)
    case missingField(source: String, tensor: String, field: String)
    /// An entry or one of its fields has the wrong JSON type or an impossible value.
    case invalidField(source: String, tensor: String, field: String, reason: String)
    case unsupportedDType(source: String, tensor: String, dtype: String)
    /// The shape's element count × 4 differs from the data_offsets span.
    case sizeMismatch(source: String, tensor: String, shape: [Int], expectedBytes: Int, spanBytes: Int)
    /// The tensor's data runs past the end of the file.
    case truncated(source: String, tensor: String, expectedBytes: Int, presentBytes: Int)
    case overlap(source: String, tensor: String, begin: Int, previous: String, previousEnd: Int)
    /// Unused bytes in the data section before `tensor`.
    case gap(source: String, tensor: String, begin: Int, end: Int)
    /// Unused bytes after the last tensor (`lastTensor` is nil when there are no tensors).
    case trailingData(source: String, lastTensor: String?, dataEnd: Int, presentBytes: Int)
    /// `__metadata__` is not an object, or `key`'s value is not a string.
    case invalidMetadata(source: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(source, reason):
            return "\(source): cannot read file: \(reason)"
        case let .cannotWrite(path, reason):
            return "\(path): cannot write file: \(reason)"
        case let .tooShort(source, count):
            return "\(source): file is \(count) bytes, shorter than the 8-byte safetensors header length"
        case let .headerLength(source, length, available):
            if length > SafeTensors.maxHeaderLength {
                return "\(source): header length \(length) exceeds the \(SafeTensors.maxHeaderLength)-byte limit (corrupt file?)"
            }
            return "\(source): header length \(length) is larger than the \(available) bytes that follow it (truncated file?)"
        case let .invalidHeader(source, reason):
            return "\(source): invalid header: \(reason)"
        case let .missingField(source, tensor, field):
            return "\(source): tensor \"\(tensor)\": missing field \"\(field)\""
        case let .invalidField(source, tensor, field, reason):
            return "\(source): tensor \"\(tensor)\": field \"\(field)\" \(reason)"
        case let .unsupportedDType(source, tensor, dtype):
            return "\(source): tensor \"\(tensor)\": dtype \(dtype) is not supported; expected \(SafeTensors.dtype)"
        case let .sizeMismatch(source, tensor, shape, expected, span):
            return "\(source): tensor \"\(tensor)\": shape \(shape) needs \(expected) bytes but data_offsets span \(span) bytes"
        case let .truncated(source, tensor, expected, present):
            return "\(source): tensor \"\(tensor)\": data ends at byte \(expected) of the data section, "
                + "but only \(present) bytes are present (truncated file?)"
        case let .overlap(source, tensor, begin, previous, previousEnd):
            return "\(source): tensor \"\(tensor)\": data begins at \(begin), overlapping tensor \"\(previous)\" which ends at \(previousEnd)"
        case let .gap(source, tensor, begin, end):
            return "\(source): tensor \"\(tensor)\": \(end - begin) unused bytes at data offsets \(begin)..<\(end) before it"
        case let .trailingData(source, last, dataEnd, present):
            let after = last.map { "after the last tensor \"\($0)\"" } ?? "with no tensors in the header"
            return "\(source): \(present - dataEnd) unused bytes at data offsets \(dataEnd)..<\(present) \(after)"
        case let .invalidMetadata(source, key, reason):
            return "\(source): metadata \"\(key)\": \(reason)"
        }
    }
}

extension SafeTensors {
    /// One tensor's header entry, checked on its own; `checkLayout` then
    /// checks the entries against each other and the data section.
    struct Entry {
        let name: String
        let shape: [Int]
        let begin: Int
        let end: Int
        var byteCount: Int { end - begin }
    }

    /// The parsed, per-entry-validated JSON header.
    struct Header {
        var entries: [Entry] = []
        var metadata: [String: String] = [:]

        init(_ bytes: ArraySlice<UInt8>, source: String) throws(SafeTensorsError) {
            guard String(validating: bytes, as: UTF8.self) != nil else {
                throw .invalidHeader(source: source, reason: "not valid UTF-8")
            }
            let root: JSONValue
            do {
                root = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            } catch {
                throw .invalidHeader(source: source, reason: "not valid JSON (\(Self.reason(error)))")
            }
            guard case .object(let fields) = root else {
                throw .invalidHeader(source: source, reason: "expected a JSON object, got \(root.rendered)")
            }
            // Sorted so that a file with several faults always reports the same one.
            for key in fields.keys.sorted() {
                if key == SafeTensors.metadataKey {
                    metadata = try Self.metadata(fields[key]!, source: source)
                } else {
                    entries.append(try Self.entry(key, fields[key]!, source: source))
                }
            }
        }

        /// The tensors must tile the data section exactly, as the reference
        /// reader demands: a gap or overlap means offsets were miscomputed, and
        /// accepting it would load garbage weights without complaint.
        func checkLayout(dataByteCount: Int, source: String) throws(SafeTensorsError) {
            let ordered = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
            var cursor = 0
            var previous: String?
            for entry in ordered {
                if entry.begin > cursor {
                    throw .gap(source: source, tensor: entry.name, begin: cursor, end: entry.begin)
                }
                if entry.begin < cursor, let previous {
                    throw .overlap(source: source, tensor: entry.name, begin: entry.begin, previous: previous, previousEnd: cursor)
                }
                if entry.end > dataByteCount {
                    throw .truncated(source: source, tensor: entry.name, expectedBytes: entry.end, presentBytes: dataByteCount)
                }
                cursor = entry.end
                previous = entry.name
            }
            if cursor < dataByteCount {
                throw .trailingData(source: source, lastTensor: previous, dataEnd: cursor, presentBytes: dataByteCount)
            }
        }

        private static func metadata(_ value: JSONValue, source: String) throws(SafeTensorsError) -> [String: String] {
            guard case .object(let pairs) = value else {
                throw .invalidMetadata(source: source, key: SafeTensors.metadataKey,
                                       reason: "expected an object of strings, got \(value.rendered)")
            }
            var metadata: [String: String] = [:]
            for key in pairs.keys.sorted() {
                let value = pairs[key]!
                guard case .string(let text) = value else {
                    throw .invalidMetadata(source: source, key: key, reason: "value \(value.rendered) is not a string")
                }
                metadata[key] = text
            }
            return metadata
        }

        private static func entry(_ name: String, _ value: JSONValue, source: String) throws(SafeTensorsError) -> Entry {
            guard case .object(let fields) = value else {
                throw .invalidField(source: source, tensor: name, field: "entry",
                                    reason: "must be an object with dtype, shape and data_offsets, got \(value.rendered)")
            }
            func field(_ key: String) throws(SafeTensorsError) -> JSONValue {
                guard let value = fields[key] else { throw .missingField(source: source, tensor: name, field: key) }
                return value
            }
            func invalid(_ key: String, _ expected: String) -> SafeTensorsError {
                .invalidField(source: source, tensor: name, field: key, reason: "must be \(expected), got \(fields[key]!.rendered)")
            }

            let dtypeValue = try field("dtype")
            guard case .string(let dtype) = dtypeValue else { throw invalid("dtype", "a string") }
            let shapeValue = try field("shape")
            guard case .array(let dims) = shapeValue, let shape = Self.naturals(dims) else {
                throw invalid("shape", "an array of non-negative integers")
            }
            let offsetsValue = try field("data_offsets")
            guard case .array(let ends) = offsetsValue, let offsets = Self.naturals(ends), offsets.count == 2,
                  offsets[0] <= offsets[1]
            else { throw invalid("data_offsets", "[begin, end] with 0 <= begin <= end") }

            guard dtype == SafeTensors.dtype else { throw .unsupportedDType(source: source, tensor: name, dtype: dtype) }
            let span = offsets[1] - offsets[0]
            let (count, countOverflow) = shape.reduce((1, false)) { acc, dim in
                let product = acc.0.multipliedReportingOverflow(by: dim)
                return (product.partialValue, acc.1 || product.overflow)
            }
            let (bytes, bytesOverflow) = count.multipliedReportingOverflow(by: SafeTensors.bytesPerValue)
            guard !countOverflow, !bytesOverflow else { throw invalid("shape", "a shape whose size fits in memory") }
            guard bytes == span else {
                throw .sizeMismatch(source: source, tensor: name, shape: shape, expectedBytes: bytes, spanBytes: span)
            }
            return Entry(name: name, shape: shape, begin: offsets[0], end: offsets[1])
        }

        private static func naturals(_ values: [JSONValue]) -> [Int]? {
            var out: [Int] = []
            out.reserveCapacity(values.count)
            for value in values {
                guard case .int(let n) = value, n >= 0 else { return nil }
                out.append(n)
            }
            return out
        }

        private static func reason(_ error: any Error) -> String {
            guard case DecodingError.dataCorrupted(let context) = error else { return "\(error)" }
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return context.debugDescription + underlying
        }
    }

    /// A JSON value with its type kept exact (JSONSerialization's NSNumber
    /// would let `true` or `2.5` pass as a dimension).
    enum JSONValue: Decodable {
        case null, bool(Bool), int(Int), double(Double), string(String)
        case array([JSONValue]), object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int.self) { self = .int(value) }
            else if let value = try? container.decode(Double.self) { self = .double(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
            else { self = .object(try container.decode([String: JSONValue].self)) }
        }

        /// Compact JSON-like text for error messages, cut short so a huge
        /// value cannot flood a log line.
        var rendered: String {
            let text: String
            switch self {
            case .null: text = "null"
            case .bool(let value): text = String(value)
            case .int(let value): text = String(value)
            case .double(let value): text = String(value)
            case .string(let value): text = SafeTensors.jsonString(value)
            case .array(let values): text = "[" + values.map(\.rendered).joined(separator: ",") + "]"
            case .object(let fields):
                text = "{" + fields.keys.sorted().map { SafeTensors.jsonString($0) + ":" + fields[$0]!.rendered }
                    .joined(separator: ",") + "}"
            }
            return text.count > 80 ? String(text.prefix(77)) + "..." : text
        }
    }
}
