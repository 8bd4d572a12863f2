import Foundation

/// Finds a request line's `"id"` without parsing the rest of it.
///
/// A line too big to parse on the event loop (it carries audio) may be refused
/// `busy` before any worker parses it; its answer must still carry its id. This
/// walks the top-level object only, stepping over each value: strings with
/// `memchr` for their closing quote (a megabyte of base64 costs a memchr, not a
/// parse), nested values by bracket depth. Anything unexpected gives nil: the
/// line is then answered without an id, as an unparsable line is.
public enum RequestIDScanner {
    public static func id(in line: [UInt8]) -> RequestID? {
        line.withUnsafeBufferPointer { bytes in
            var scanner = Scanner(bytes: bytes)
            return scanner.topLevelID()
        }
    }

    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var structureBytes = 0

        mutating func topLevelID() -> RequestID? {
            skipWhitespace()
            guard next() == UInt8(ascii: "{") else { return nil }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\""), let keyEnd = stringEnd(from: index) else { return nil }
                let key = bytes[(index + 1)..<(keyEnd - 1)]
                index = keyEnd
                skipWhitespace()
                guard next() == UInt8(ascii: ":") else { return nil }
                skipWhitespace()
                let valueStart = index
                guard skipValue() else { return nil }
                if key.elementsEqual("id".utf8) {
                    guard index - valueStart <= RequestParser.maximumIDBytes + 2 else { return nil }
                    let text = Array(bytes[valueStart..<index])
                    guard let parsed = try? JSONValue.parseKeepingID(Array(#"{"id":"#.utf8) + text + [UInt8(ascii: "}")]),
                          case .object(let fields) = parsed.value else { return nil }
                    switch fields["id"] {
                    case .string(let s)?: return .string(s)
                    case .number?: return parsed.idNumberText.map(RequestID.number)
                    default: return nil
                    }
                }
                skipWhitespace()
                switch next() {
                case UInt8(ascii: ","): continue
                default: return nil
                }
            }
        }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func next() -> UInt8? {
            defer { index += 1 }
            return peek()
        }

        mutating func skipWhitespace() {
            while let b = peek(), b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
        }

        /// The index just past the string starting at `start` (a quote), or nil if it never ends.
        func stringEnd(from start: Int) -> Int? {
            var position = start + 1
            while position < bytes.count {
                guard let found = memchr(bytes.baseAddress! + position, Int32(UInt8(ascii: "\"")), bytes.count - position) else { return nil }
                let quote = UnsafePointer(found.assumingMemoryBound(to: UInt8.self)) - bytes.baseAddress!
                var backslashes = 0
                while quote - 1 - backslashes > start, bytes[quote - 1 - backslashes] == UInt8(ascii: "\\") { backslashes += 1 }
                if backslashes % 2 == 0 { return quote + 1 }
                position = quote + 1
            }
            return nil
        }

        /// Bytes outside strings one scan may step over byte by byte: this runs on the event
        /// loop, and audio is one string (a memchr); megabytes of anything else are not a request.
        static let structureBudget = 64 << 10

        /// Steps over one JSON value (not validated: the real parser does that later).
        mutating func skipValue() -> Bool {
            var depth = 0
            repeat {
                guard let b = peek(), structureBytes < Self.structureBudget else { return false }
                structureBytes += 1
                switch b {
                case UInt8(ascii: "\""):
                    guard let end = stringEnd(from: index) else { return false }
                    index = end
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    index += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard depth > 0 else { return true }
                    depth -= 1
                    index += 1
                case UInt8(ascii: ","):
                    if depth == 0 { return true }
                    index += 1
                default:
                    index += 1
                }
            } while depth > 0 || (peek().map { $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "}") && $0 != 0x20 && $0 != 0x0A && $0 != 0x09 && $0 != 0x0D } ?? false)
            return true
        }
    }
}
