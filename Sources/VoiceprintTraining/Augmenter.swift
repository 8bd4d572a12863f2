import Foundation
import VoiceprintAudio

/// On-the-fly waveform augmentation for training: each training crop hears the
/// speaker through a slightly different channel, so the network learns the
/// voice rather than the recording.
public struct AugmentationOptions: Codable, Sendable, Equatable {
    /// Probability that an utterance is augmented at all. Default 0.6.
    public var probability: Double = 0.6
    /// Gain range in dB. Default ±6 dB. (Mean normalisation removes a constant
    /// gain from log-mel features, but gain changes how noise and the VAD floor
    /// interact, so it is kept.)
    public var gainDB: ClosedRange<Double> = -6...6
    /// Probability of additive noise, given augmentation. Default 0.7.
    public var noiseProbability: Double = 0.7
    /// Signal-to-noise ratio range in dB. Default 5–30 dB.
    public var snrDB: ClosedRange<Double> = 5...30
    /// Probability of speed perturbation, given augmentation. Default 0.3.
    public var speedProbability: Double = 0.3
    /// Speed factors. Default 0.95–1.05: speed perturbation shifts pitch and
    /// formants too, and beyond about ±5 % it starts to sound like another person.
    public var speed: ClosedRange<Double> = 0.95...1.05
    /// Probability of a synthetic room (ChannelSimulator.reverberate), given augmentation. Default 0.
    public var reverbProbability: Double = 0
    /// Reverberation time range in seconds. Default 0.2–0.8 s (living room to hall).
    public var rt60: ClosedRange<Double> = 0.2...0.8
    /// Wet share range of the reverberated mix. Default 0.2–0.6.
    public var wet: ClosedRange<Double> = 0.2...0.6
    /// Probability of a band-limited microphone, given augmentation. Default 0.
    public var bandLimitProbability: Double = 0
    /// Probability of a codec, given augmentation. Default 0.
    public var codecProbability: Double = 0
    /// Codecs drawn from, uniformly. Default all.
    public var codecs: [ChannelSimulator.Codec] = ChannelSimulator.Codec.allCases

    public init() {}

    /// Rooms, microphones and codecs on top of the defaults (`voiceprint train --channel-augmentation`).
    public static let withChannels: AugmentationOptions = {
        var o = AugmentationOptions()
        o.probability = 0.8
        o.reverbProbability = 0.3
        o.bandLimitProbability = 0.3
        o.codecProbability = 0.3
        return o
    }()

    enum CodingKeys: String, CodingKey {
        case probability, gainDB, noiseProbability, snrDB, speedProbability, speed
        case reverbProbability, rt60, wet, bandLimitProbability, codecProbability, codecs
    }

    // Options recorded before the channel fields existed decode with them off.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AugmentationOptions()
        probability = try c.decodeIfPresent(Double.self, forKey: .probability) ?? d.probability
        gainDB = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .gainDB) ?? d.gainDB
        noiseProbability = try c.decodeIfPresent(Double.self, forKey: .noiseProbability) ?? d.noiseProbability
        snrDB = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .snrDB) ?? d.snrDB
        speedProbability = try c.decodeIfPresent(Double.self, forKey: .speedProbability) ?? d.speedProbability
        speed = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .speed) ?? d.speed
        reverbProbability = try c.decodeIfPresent(Double.self, forKey: .reverbProbability) ?? d.reverbProbability
        rt60 = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .rt60) ?? d.rt60
        wet = try c.decodeIfPresent(ClosedRange<Double>.self, forKey: .wet) ?? d.wet
        bandLimitProbability = try c.decodeIfPresent(Double.self, forKey: .bandLimitProbability) ?? d.bandLimitProbability
        codecProbability = try c.decodeIfPresent(Double.self, forKey: .codecProbability) ?? d.codecProbability
        codecs = try c.decodeIfPresent([ChannelSimulator.Codec].self, forKey: .codecs) ?? d.codecs
    }

    /// No augmentation.
    public static let none: AugmentationOptions = {
        var o = AugmentationOptions()
        o.probability = 0
        return o
    }()
}

public struct Augmenter: Sendable {
    public var options: AugmentationOptions

    public init(options: AugmentationOptions = AugmentationOptions()) { self.options = options }

    /// A randomly augmented copy of `samples` (16 kHz mono), or the input itself.
    public func augment(_ samples: [Float], using rng: inout SeededGenerator) -> [Float] {
        guard rng.unit() < options.probability else { return samples }
        var out = samples
        if rng.unit() < options.speedProbability {
            out = Self.changeSpeed(out, factor: Self.uniform(options.speed, &rng))
        }
        // Room first, then noise in the room, then what the microphone and the codec do to both.
        // Channel draws happen only when enabled, so recipes without them keep their random streams.
        if options.reverbProbability > 0 && rng.unit() < options.reverbProbability {
            out = ChannelSimulator.reverberate(out, rt60: Self.uniform(options.rt60, &rng), wet: Self.uniform(options.wet, &rng))
        }
        if rng.unit() < options.noiseProbability {
            Self.addNoise(&out, snrDB: Self.uniform(options.snrDB, &rng), colour: rng.unit(), using: &rng)
        }
        if options.bandLimitProbability > 0 && rng.unit() < options.bandLimitProbability {
            out = ChannelSimulator.bandLimit(out, low: Self.uniform(80...400, &rng), high: Self.uniform(3_400...7_000, &rng))
        }
        Self.applyGain(&out, dB: Self.uniform(options.gainDB, &rng))
        if options.codecProbability > 0 && !options.codecs.isEmpty && rng.unit() < options.codecProbability {
            out = ChannelSimulator.transcode(out, codec: options.codecs[Int(rng.next() % UInt64(options.codecs.count))])
        }
        return out
    }

    /// Plays the signal `factor` times faster (Kaldi-style speed perturbation: tempo
    /// and pitch together) by resampling and keeping the nominal rate.
    public static func changeSpeed(_ samples: [Float], factor: Double) -> [Float] {
        Resampler.resample(samples, from: 16_000 * factor, to: 16_000, quality: .medium)
    }

    public static func applyGain(_ samples: inout [Float], dB: Double) {
        let gain = Float(pow(10, dB / 20))
        for i in samples.indices { samples[i] = max(-1, min(1, samples[i] * gain)) }
    }

    /// Adds noise at the given SNR relative to the signal's mean power.
    /// `colour` in [0, 1) blends white noise (0) towards brown-ish noise (1)
    /// through a one-pole low-pass, covering hiss through rumble.
    public static func addNoise(_ samples: inout [Float], snrDB: Double, colour: Double, using rng: inout SeededGenerator) {
        guard !samples.isEmpty else { return }
        let signalPower = samples.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(samples.count)
        guard signalPower > 0 else { return }
        let pole = 0.95 * colour
        var noise = [Double](repeating: 0, count: samples.count)
        var state = 0.0
        for i in noise.indices {
            state = pole * state + rng.gaussian()
            noise[i] = state
        }
        let noisePower = noise.reduce(0) { $0 + $1 * $1 } / Double(noise.count)
        let scale = (signalPower / (noisePower * pow(10, snrDB / 10))).squareRoot()
        for i in samples.indices { samples[i] += Float(noise[i] * scale) }
    }

    static func uniform(_ range: ClosedRange<Double>, _ rng: inout SeededGenerator) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * rng.unit()
    }
}
