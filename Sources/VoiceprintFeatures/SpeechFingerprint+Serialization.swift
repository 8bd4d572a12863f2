/// The stored form of a fingerprint, little-endian:
///
///     offset 0   4 bytes  magic "VPFP"
///            4   UInt16   format version (1: the parameters in SpeechFingerprint)
///            6   UInt16   reserved, 0
///            8   UInt32   frames N (≤ SpeechFingerprint.maximumFrames)
///           12   N × UInt32  bits of each frame
///       12 + 4N  ⌈N/8⌉ bytes  speech mask, frame i in bit i % 8 of byte i / 8
///
/// 12 + 4.125·N bytes: about 1.6 KB for a 3 s utterance, 24.8 KB at the 30 s cap.
/// The version stands for every analysis parameter: a fingerprint made with
/// other bands or frames would compare as noise, so it is refused instead.
extension SpeechFingerprint {
    static let magic: [UInt8] = Array("VPFP".utf8)
    static let formatVersion: UInt16 = 1
    static let headerBytes = 12

    /// Why stored bytes are not a fingerprint this build can compare.
    public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
        case tooShort(bytes: Int)
        case badMagic([UInt8])
        case unsupportedVersion(UInt16)
        case tooManyFrames(Int)
        case lengthMismatch(bytes: Int, expected: Int)
        /// Silent frames hold 0 and unused mask bits are 0, so one value has one form.
        case nonCanonical(String)

        public var description: String {
            switch self {
            case .tooShort(let bytes):
                return "speech fingerprint of \(bytes) bytes is shorter than its \(SpeechFingerprint.headerBytes)-byte header"
            case .badMagic(let bytes):
                return "speech fingerprint starts with \(bytes) instead of \"VPFP\""
            case .unsupportedVersion(let version):
                return "speech fingerprint format version \(version) is not the supported version \(SpeechFingerprint.formatVersion)"
            case .tooManyFrames(let frames):
                return "speech fingerprint claims \(frames) frames; at most \(SpeechFingerprint.maximumFrames) are kept"
            case .lengthMismatch(let bytes, let expected):
                return "speech fingerprint is \(bytes) bytes; its header calls for \(expected)"
            case .nonCanonical(let detail):
                return "speech fingerprint is not in canonical form: \(detail)"
            }
        }
    }

    /// The bytes to store; `init(serialized:)` reads them back to an equal value.
    public var serialized: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.headerBytes + 4 * frames + (frames + 7) / 8)
        out += Self.magic
        Self.append(UInt32(Self.formatVersion), bytes: 2, to: &out)
        Self.append(0, bytes: 2, to: &out)
        Self.append(UInt32(frames), bytes: 4, to: &out)
        for word in bits { Self.append(word, bytes: 4, to: &out) }
        var byte: UInt8 = 0
        for i in 0..<frames {
            if isSpeech(i) { byte |= 1 << UInt8(i % 8) }
            if i % 8 == 7 || i == frames - 1 {
                out.append(byte)
                byte = 0
            }
        }
        return out
    }

    /// Reads stored bytes, checking every length and field before trusting them:
    /// the store is ours, but a damaged file must fail here, not in a comparison.
    public init(serialized bytes: [UInt8]) throws(FormatError) {
        guard bytes.count >= Self.headerBytes else { throw .tooShort(bytes: bytes.count) }
        guard Array(bytes[0..<4]) == Self.magic else { throw .badMagic(Array(bytes[0..<4])) }
        let version = UInt16(Self.read(bytes, at: 4, bytes: 2))
        guard version == Self.formatVersion else { throw .unsupportedVersion(version) }
        let reserved = Self.read(bytes, at: 6, bytes: 2)
        guard reserved == 0 else { throw .nonCanonical("reserved header field is \(reserved)") }
        let frames = Int(Self.read(bytes, at: 8, bytes: 4))
        guard frames <= Self.maximumFrames else { throw .tooManyFrames(frames) }
        let maskOffset = Self.headerBytes + 4 * frames
        let expected = maskOffset + (frames + 7) / 8
        guard bytes.count == expected else { throw .lengthMismatch(bytes: bytes.count, expected: expected) }

        var bits = [UInt32](repeating: 0, count: frames)
        var speech = [Bool](repeating: false, count: frames)
        for i in 0..<frames {
            bits[i] = Self.read(bytes, at: Self.headerBytes + 4 * i, bytes: 4)
            speech[i] = (bytes[maskOffset + i / 8] >> UInt8(i % 8)) & 1 == 1
            if !speech[i] && bits[i] != 0 {
                throw .nonCanonical("silent frame \(i) has bits 0x\(String(bits[i], radix: 16))")
            }
        }
        if frames % 8 != 0, bytes[expected - 1] >> UInt8(frames % 8) != 0 {
            throw .nonCanonical("mask bits beyond frame \(frames - 1) are set")
        }
        self.init(bits: bits, speech: speech)
    }

    private static func append(_ value: UInt32, bytes: Int, to out: inout [UInt8]) {
        for k in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(k)))) }
    }

    private static func read(_ bytes: [UInt8], at offset: Int, bytes count: Int) -> UInt32 {
        (0..<count).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
}
