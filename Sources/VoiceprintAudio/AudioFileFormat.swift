/// Encodings Voiceprint writes: test fixtures, generated corpora and codec
/// augmentation (a voice passed through Opus or GSM sounds like a phone call).
/// Reading accepts anything libsndfile recognises, not just these.
public enum AudioFileFormat: String, CaseIterable, Sendable, CustomStringConvertible {
    case wavPCM8 = "wav-pcm8"
    case wavPCM16 = "wav-pcm16"
    case wavPCM24 = "wav-pcm24"
    case wavPCM32 = "wav-pcm32"
    case wavFloat = "wav-float"
    case wavULaw = "wav-ulaw"
    case wavGSM = "wav-gsm"
    case flac16 = "flac16"
    case oggVorbis = "ogg-vorbis"
    case oggOpus = "ogg-opus"
    case mp3 = "mp3"
    case aiff16 = "aiff16"
    case au16 = "au16"

    public var description: String { rawValue }

    /// The usual file name extension.
    public var fileExtension: String {
        switch self {
        case .wavPCM8, .wavPCM16, .wavPCM24, .wavPCM32, .wavFloat, .wavULaw, .wavGSM: return "wav"
        case .flac16: return "flac"
        case .oggVorbis: return "ogg"
        case .oggOpus: return "opus"
        case .mp3: return "mp3"
        case .aiff16: return "aiff"
        case .au16: return "au"
        }
    }

    /// Lossy codecs change the waveform, so round-trip tests compare them loosely.
    public var isLossy: Bool {
        switch self {
        case .oggVorbis, .oggOpus, .mp3, .wavGSM, .wavULaw, .wavPCM8: return true
        default: return false
        }
    }
}
