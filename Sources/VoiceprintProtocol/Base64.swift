/// Standard base64 (RFC 4648 §4, padded) decoded straight into the one array
/// that carries the audio to the decoder: no Data, no intermediate copies, one
/// pass that validates as it goes. Line breaks (CR, LF) are skipped, as MIME
/// encoders insert them; any other byte outside the alphabet, a wrong length or
/// misplaced padding means a corrupted upload and gives nil.
public enum Base64 {
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode($0) }
    }

    public static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        table.withUnsafeBufferPointer { decode(input, table: $0) }
    }

    private static func decode(_ input: UnsafeBufferPointer<UInt8>, table: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        // First pass: validate and count, so the output is allocated once at its exact size.
        var symbols = 0, padding = 0, breaks = 0
        for byte in input {
            if byte == 0x0A || byte == 0x0D { breaks += 1; continue }
            if byte == UInt8(ascii: "=") {
                padding += 1
            } else {
                // A data symbol after padding: the padding was not at the end.
                guard padding == 0, table[Int(byte)] != invalid else { return nil }
            }
            symbols += 1
        }
        guard symbols % 4 == 0, padding <= 2, padding == 0 || symbols >= 4 else { return nil }
        let data = symbols - padding
        let count = data / 4 * 3 + (data % 4 == 0 ? 0 : data % 4 - 1)
        guard data % 4 != 1 else { return nil }
        return [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            var quad: UInt32 = 0, filled = 0, written = 0
            // Second pass: whole quads of four symbols become three bytes.
            var i = 0
            let end = input.count
            if breaks == 0 {
                // No line breaks (what every client here sends): straight runs of four.
                while i + 4 <= end - padding - (data % 4 == 0 ? 0 : data % 4) {
                    let v = UInt32(table[Int(input[i])]) << 18 | UInt32(table[Int(input[i + 1])]) << 12
                        | UInt32(table[Int(input[i + 2])]) << 6 | UInt32(table[Int(input[i + 3])])
                    out[written] = UInt8(truncatingIfNeeded: v >> 16)
                    out[written + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    out[written + 2] = UInt8(truncatingIfNeeded: v)
                    written += 3
                    i += 4
                }
            }
            while i < end {
                let byte = input[i]
                i += 1
                if byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: "=") { continue }
                quad = quad << 6 | UInt32(table[Int(byte)])
                filled += 1
                if filled == 4 {
                    out[written] = UInt8(truncatingIfNeeded: quad >> 16)
                    out[written + 1] = UInt8(truncatingIfNeeded: quad >> 8)
                    out[written + 2] = UInt8(truncatingIfNeeded: quad)
                    written += 3
                    quad = 0
                    filled = 0
                }
            }
            switch filled {
            case 2:
                out[written] = UInt8(truncatingIfNeeded: quad >> 4)
                written += 1
            case 3:
                out[written] = UInt8(truncatingIfNeeded: quad >> 10)
                out[written + 1] = UInt8(truncatingIfNeeded: quad >> 2)
                written += 2
            default: break
            }
            initialized = written
        }
    }

    private static let invalid: UInt8 = 0xFF
    /// Symbol value of each byte, `invalid` outside the alphabet.
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, symbol) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(symbol)] = UInt8(value)
        }
        return table
    }()
}
