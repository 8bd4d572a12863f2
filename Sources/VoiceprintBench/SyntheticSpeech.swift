import Foundation
import VoiceprintAudio

/// A speech-like test signal: voiced syllables (a glottal pulse train through
/// moving formant resonators) separated by pauses with faint noise. Good enough
/// to exercise VAD and features the way speech does; not meant to sound natural.
enum SyntheticSpeech {
    static func make(seconds: Double, sampleRate: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        let count = Int(seconds * Double(sampleRate))
        var out = [Float](repeating: 0, count: count)
        var t = 0
        let fs = Double(sampleRate)
        while t < count {
            let syllable = Int((0.15 + 0.25 * rng.unit()) * fs)
            let pause = Int((0.05 + 0.3 * rng.unit()) * fs)
            let f0 = 90 + 150 * rng.unit()
            let formants = [300 + 600 * rng.unit(), 900 + 1500 * rng.unit(), 2300 + 800 * rng.unit()]
            var phase = 0.0
            var states = [(Double, Double)](repeating: (0, 0), count: 3)
            for i in 0..<min(syllable, count - t) {
                phase += f0 * (1 + 0.02 * sin(Double(i) / fs * 30)) / fs
                let pulse: Double = phase >= 1 ? 1 : 0
                if phase >= 1 { phase -= 1 }
                var y = pulse + 0.01 * (rng.unit() - 0.5)
                var sum = 0.0
                for (k, f) in formants.enumerated() {
                    let r = 0.97, w = 2 * Double.pi * f / fs
                    let v = y + 2 * r * cos(w) * states[k].0 - r * r * states[k].1
                    states[k] = (v, states[k].0)
                    sum += v / Double(k + 1)
                }
                y = sum
                let envelope = sin(Double.pi * Double(i) / Double(syllable))
                out[t + i] = Float(0.05 * y * envelope)
            }
            t += syllable
            for i in 0..<min(pause, max(0, count - t)) { out[t + i] = Float(0.0005 * (rng.unit() - 0.5)) }
            t += pause
        }
        return out
    }
}

