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
        var symbols = 0, padding = 0
        for byte in input {
            if byte == 0x0A || byte == 0x0D { continue }
            if byte == UInt8(ascii: "=") {
                padding += 1
            } else {
                // A data symbol after padding: the padding was not at the end.
                guard padding == 0, table[Int(byte)] != invalid else { return nil }
            }
            symbols += 1
        }
        guard symbols % 4 == 0, padding <= 2 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(symbols / 4 * 3 - padding)
        var quad: UInt32 = 0, filled = 0
        for byte in input where byte != 0x0A && byte != 0x0D && byte != UInt8(ascii: "=") {
            quad = quad << 6 | UInt32(table[Int(byte)])
            filled += 1
            if filled == 4 {
                output.append(UInt8(truncatingIfNeeded: quad >> 16))
                output.append(UInt8(truncatingIfNeeded: quad >> 8))
                output.append(UInt8(truncatingIfNeeded: quad))
                quad = 0
                filled = 0
            }
        }
        switch filled {
        case 0: break
        case 2: output.append(UInt8(truncatingIfNeeded: quad >> 4))
        case 3:
            output.append(UInt8(truncatingIfNeeded: quad >> 10))
            output.append(UInt8(truncatingIfNeeded: quad >> 2))
        default: return nil
        }
        return output
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
