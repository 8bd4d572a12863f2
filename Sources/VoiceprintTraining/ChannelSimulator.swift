import Foundation
import VoiceprintAudio

/// Recording channels for training-time augmentation: what a voice goes
/// through between a mouth and our decoder that synthetic voices never went
/// through. Codecs run through the real encoders (libsndfile: µ-law, GSM 6.10,
/// Opus, Vorbis), band limits through biquad filters, rooms through a
/// Schroeder reverberator. All work on 16 kHz mono and return 16 kHz mono.
public enum ChannelSimulator {
    /// A codec path through which a signal can be sent.
    public enum Codec: String, Codable, Sendable, CaseIterable {
        /// G.711 µ-law at 8 kHz: a landline.
        case telephoneULaw = "telephone-ulaw"
        /// GSM 06.10 full rate at 8 kHz: an old mobile phone.
        case telephoneGSM = "telephone-gsm"
        /// Opus at 16 kHz (libsndfile's default bitrate): VoIP.
        case opus
        /// Vorbis at 16 kHz: compressed recordings.
        case vorbis

        var format: AudioFileFormat {
            switch self {
            case .telephoneULaw: return .wavULaw
            case .telephoneGSM: return .wavGSM
            case .opus: return .oggOpus
            case .vorbis: return .oggVorbis
            }
        }

        var sampleRate: Int { self == .telephoneULaw || self == .telephoneGSM ? 8_000 : 16_000 }
    }

    /// Encodes and decodes `samples` with `codec` (telephone codecs at 8 kHz,
    /// which also removes everything above 4 kHz). On an encoder failure the
    /// input comes back unchanged: augmentation must never stop training.
    public static func transcode(_ samples: [Float], codec: Codec) -> [Float] {
        guard samples.count > 320 else { return samples }
        let rate = codec.sampleRate
        let narrow = rate == 16_000 ? samples : Resampler.resample(samples, from: 16_000, to: Double(rate), quality: .medium)
        var options = AudioDecoderOptions()
        options.sampleRate = 16_000
        guard let bytes = try? SoundFile.encode(narrow.map { max(-1, min(1, $0)) }, sampleRate: rate, channels: 1,
                                                format: codec.format),
              let decoded = try? AudioDecoder(options: options).decode(bytes: bytes, label: codec.rawValue).audio.samples,
              !decoded.isEmpty else { return samples }
        return decoded
    }

    /// A band-pass channel: a 2nd-order Butterworth high-pass at `low` Hz and
    /// low-pass at `high` Hz (RBJ audio-EQ cookbook biquads), e.g. a cheap
    /// microphone (300 Hz – 3.4 kHz) or a laptop (150 Hz – 7 kHz).
    public static func bandLimit(_ samples: [Float], low: Double, high: Double, sampleRate: Double = 16_000) -> [Float] {
        var out = samples
        if low > 0 { Biquad(highPass: low, sampleRate: sampleRate).run(&out) }
        if high < sampleRate / 2 { Biquad(lowPass: high, sampleRate: sampleRate).run(&out) }
        return out
    }

    /// A room: four parallel feedback combs (delays 29.7–45.1 ms, as in
    /// Schroeder's reverberator, each with the feedback that decays 60 dB in
    /// `rt60` seconds) and two all-pass diffusers, mixed with the dry signal at
    /// `wet` (0…1). The tail is kept, so the output is longer by rt60.
    public static func reverberate(_ samples: [Float], rt60: Double, wet: Double, sampleRate: Double = 16_000) -> [Float] {
        guard rt60 > 0, !samples.isEmpty else { return samples }
        let length = samples.count + Int(rt60 * sampleRate)
        var reverb = [Float](repeating: 0, count: length)
        for delayMs in [29.7, 37.1, 41.1, 45.1] {
            let delay = Int(delayMs / 1000 * sampleRate)
            // g^(rt60 / delay) = 10^-3: the comb loses 60 dB over rt60.
            let g = Float(pow(10, -3 * Double(delay) / (rt60 * sampleRate)))
            var line = [Float](repeating: 0, count: length)
            for i in 0..<length {
                let input: Float = i < samples.count ? samples[i] : 0
                line[i] = input + (i >= delay ? g * line[i - delay] : 0)
                reverb[i] += line[i] * 0.25
            }
        }
        for (delayMs, g) in [(5.0, Float(0.7)), (1.7, Float(0.7))] {
            let delay = Int(delayMs / 1000 * sampleRate)
            var out = [Float](repeating: 0, count: length)
            for i in 0..<length {
                let delayedIn: Float = i >= delay ? reverb[i - delay] : 0
                let delayedOut: Float = i >= delay ? out[i - delay] : 0
                out[i] = -g * reverb[i] + delayedIn + g * delayedOut
            }
            reverb = out
        }
        // Mix at equal power of dry and wet parts so the level stays put.
        let dryPower = samples.reduce(0.0) { $0 + Double($1) * Double($1) }
        let wetPower = reverb.reduce(0.0) { $0 + Double($1) * Double($1) }
        let scale = wetPower > 0 ? Float((dryPower / wetPower).squareRoot()) : 0
        let w = Float(wet)
        return (0..<length).map { i in (1 - w) * (i < samples.count ? samples[i] : 0) + w * scale * reverb[i] }
    }
}

/// A direct-form-I biquad (RBJ cookbook), Q = 1/√2 (Butterworth).
struct Biquad {
    private var b0, b1, b2, a1, a2: Double

    init(lowPass frequency: Double, sampleRate: Double) {
        let w = 2 * Double.pi * frequency / sampleRate, alpha = sin(w) / (2 * 0.5.squareRoot()), c = cos(w)
        let a0 = 1 + alpha
        (b0, b1, b2) = ((1 - c) / 2 / a0, (1 - c) / a0, (1 - c) / 2 / a0)
        (a1, a2) = (-2 * c / a0, (1 - alpha) / a0)
    }

    init(highPass frequency: Double, sampleRate: Double) {
        let w = 2 * Double.pi * frequency / sampleRate, alpha = sin(w) / (2 * 0.5.squareRoot()), c = cos(w)
        let a0 = 1 + alpha
        (b0, b1, b2) = ((1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0)
        (a1, a2) = (-2 * c / a0, (1 - alpha) / a0)
    }

    func run(_ x: inout [Float]) {
        var (x1, x2, y1, y2) = (0.0, 0.0, 0.0, 0.0)
        for i in x.indices {
            let input = Double(x[i])
            let y = b0 * input + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            (x2, x1, y2, y1) = (x1, input, y1, y)
            x[i] = Float(y)
        }
    }
}
