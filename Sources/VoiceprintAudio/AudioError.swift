import Foundation

/// Everything that can be wrong with audio handed to Voiceprint.
///
/// Each case names its source (a file path or "<memory: N bytes>") so that a
/// message read in a log or on a terminal says which input was at fault.
public enum AudioError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input has no bytes at all.
    case emptyInput(source: String)
    /// The file does not exist or cannot be opened by the operating system.
    case cannotOpen(source: String, reason: String)
    /// libsndfile recognises no container or codec in the bytes.
    case unsupportedFormat(source: String, detail: String)
    /// The container was recognised but its contents are damaged or cut short.
    case corrupt(source: String, detail: String)
    /// The file decodes but holds no sample frames.
    case noSamples(source: String)
    /// A float file contains NaN or infinity.
    case nonFiniteSamples(source: String, frame: Int)
    /// The audio lasts longer than the configured maximum.
    case tooLong(source: String, seconds: Double, maximum: Double)
    /// The header states a sample rate or channel count we cannot use.
    case invalidParameters(source: String, detail: String)
    /// Encoding audio (writing a file) failed.
    case encodingFailed(destination: String, detail: String)

    public var description: String {
        switch self {
        case .emptyInput(let source):
            return "\(source): empty input (0 bytes); expected a complete audio file"
        case .cannotOpen(let source, let reason):
            return "\(source): cannot open: \(reason)"
        case .unsupportedFormat(let source, let detail):
            return "\(source): not a recognised audio format (\(detail)); expected WAV, FLAC, Ogg/Opus, MP3 or another format libsndfile reads"
        case .corrupt(let source, let detail):
            return "\(source): corrupt or truncated audio: \(detail)"
        case .noSamples(let source):
            return "\(source): the file holds no audio samples"
        case .nonFiniteSamples(let source, let frame):
            return "\(source): non-finite sample (NaN or infinity) at frame \(frame)"
        case .tooLong(let source, let seconds, let maximum):
            return "\(source): audio lasts \(Self.format(seconds)) s, more than the maximum of \(Self.format(maximum)) s"
        case .invalidParameters(let source, let detail):
            return "\(source): invalid audio parameters: \(detail)"
        case .encodingFailed(let destination, let detail):
            return "\(destination): cannot encode audio: \(detail)"
        }
    }

    private static func format(_ seconds: Double) -> String {
        String(format: "%.2f", seconds)
    }
}
