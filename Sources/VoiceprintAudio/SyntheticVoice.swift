import Foundation

/// A crude source–filter voice: a jittered glottal pulse train through four
/// formant resonators, voiced syllables separated by pauses. Each `SyntheticVoice`
/// is a reproducible "speaker" (its pitch and vocal-tract resonances), which makes
/// it a test signal for the front end and a toy speaker set for training tests
/// and benchmarks. It is not meant to sound natural, and it is never used to
/// train shipped models (see scripts/build-corpus for that).
public struct SyntheticVoice: Sendable, Equatable {
    /// Mean fundamental frequency in Hz.
    public var pitch: Double
    /// Formant centre frequencies in Hz (F1…F4).
    public var formants: [Double]
    /// Formant bandwidths in Hz.
    public var bandwidths: [Double]
    /// Aspiration noise relative to the pulses.
    public var breathiness: Double
    /// Cycle-to-cycle pitch jitter (fraction).
    public var jitter: Double

    public init(pitch: Double, formants: [Double], bandwidths: [Double] = [80, 100, 140, 180],
                breathiness: Double = 0.05, jitter: Double = 0.01) {
        self.pitch = pitch
        self.formants = formants
        self.bandwidths = bandwidths
        self.breathiness = breathiness
        self.jitter = jitter
    }

    /// A random but plausible voice.
    public static func random(using rng: inout SeededGenerator) -> SyntheticVoice {
        let tract = 0.8 + 0.4 * rng.unit()   // vocal-tract length factor scales every formant
        return SyntheticVoice(
            pitch: 85 + 170 * rng.unit(),
            formants: [500, 1500, 2500, 3500].map { $0 * tract * (0.9 + 0.2 * rng.unit()) },
            bandwidths: [60, 90, 120, 160].map { $0 * (0.7 + 0.6 * rng.unit()) },
            breathiness: 0.02 + 0.15 * rng.unit(),
            jitter: 0.005 + 0.02 * rng.unit())
    }

    /// `seconds` of speech-like audio with pauses, peak level about −12 dBFS.
    public func utterance(seconds: Double, sampleRate: Int = 16_000, using rng: inout SeededGenerator) -> [Float] {
        let fs = Double(sampleRate)
        let count = Int(seconds * fs)
        var out = [Float](repeating: 0, count: count)
        var t = 0
        while t < count {
            let syllable = Int((0.12 + 0.2 * rng.unit()) * fs)
            let pause = Int((0.03 + 0.15 * rng.unit()) * fs)
            // Each syllable moves pitch and vowel, as speech does: the vowel lives in F1
            // and F2, while F3, F4 and the pitch range stay close to the speaker's own.
            let f0 = pitch * (0.92 + 0.16 * rng.unit())
            let vowel = formants.enumerated().map { k, f in f * (k < 2 ? 0.85 + 0.3 * rng.unit() : 0.97 + 0.06 * rng.unit()) }
            var resonators = zip(vowel, bandwidths).map { Resonator(frequency: $0, bandwidth: $1, sampleRate: fs) }
            var phase = 0.0
            var period = 1.0
            for i in 0..<min(syllable, count - t) {
                phase += f0 / fs / period
                var excitation = 0.0
                if phase >= 1 {
                    phase -= 1
                    excitation = 1
                    period = 1 + jitter * (rng.unit() * 2 - 1)
                }
                excitation += breathiness * (rng.unit() - 0.5)
                var y = 0.0
                for k in resonators.indices { y += resonators[k].process(excitation) / Double(k + 1) }
                let envelope = sin(Double.pi * Double(i) / Double(syllable))
                out[t + i] = Float(0.05 * y * envelope)
            }
            t += syllable + pause
        }
        // Normalise to a fixed peak so level carries no identity.
        let peak = out.reduce(0) { max($0, abs($1)) }
        if peak > 0 { for i in out.indices { out[i] *= 0.25 / peak } }
        return out
    }

    /// Two-pole resonator (a formant).
    private struct Resonator {
        var a1: Double, a2: Double, gain: Double
        var y1 = 0.0, y2 = 0.0
        init(frequency: Double, bandwidth: Double, sampleRate: Double) {
            let r = exp(-Double.pi * bandwidth / sampleRate)
            a1 = 2 * r * cos(2 * Double.pi * frequency / sampleRate)
            a2 = -r * r
            gain = 1 - r
        }
        mutating func process(_ x: Double) -> Double {
            let y = gain * x + a1 * y1 + a2 * y2
            y2 = y1
            y1 = y
            return y
        }
    }
}
