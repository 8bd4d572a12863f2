import Foundation
@_exported import VoiceprintAudio

/// Deterministic test signals. Every generator is seeded so a failing test
/// fails the same way on every machine.
public enum TestSignals {
    /// A sine of `frequency` Hz at peak `amplitude`.
    public static func tone(frequency: Double, seconds: Double, sampleRate: Int, amplitude: Float = 0.5) -> [Float] {
        let count = Int(seconds * Double(sampleRate))
        let w = 2 * Double.pi * frequency / Double(sampleRate)
        return (0..<count).map { amplitude * Float(sin(w * Double($0))) }
    }

    /// Uniform white noise with the given RMS level in dBFS.
    public static func noise(seconds: Double, sampleRate: Int, rmsDBFS: Double, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        let count = Int(seconds * Double(sampleRate))
        // Uniform on [-a, a] has RMS a/√3.
        let a = Float(pow(10, rmsDBFS / 20) * 3.0.squareRoot())
        return (0..<count).map { _ in a * Float(rng.unit() * 2 - 1) }
    }

    /// A linear sweep from `from` to `to` Hz at peak `amplitude`: every part of a resampler's pass and transition bands.
    public static func chirp(from f0: Double = 50, to f1: Double = 15_000, seconds: Double, sampleRate: Int,
                             amplitude: Float = 0.5) -> [Float] {
        let count = Int(seconds * Double(sampleRate))
        let k = (f1 - f0) / seconds
        return (0..<count).map { n in
            let t = Double(n) / Double(sampleRate)
            return amplitude * Float(sin(2 * Double.pi * (f0 * t + k * t * t / 2)))
        }
    }

    /// Digital silence.
    public static func silence(seconds: Double, sampleRate: Int) -> [Float] {
        [Float](repeating: 0, count: Int(seconds * Double(sampleRate)))
    }

    /// `burst` seconds of a tone starting at `start`, inside `total` seconds of silence.
    public static func toneBurst(start: Double, burst: Double, total: Double, sampleRate: Int) -> [Float] {
        var out = silence(seconds: total, sampleRate: sampleRate)
        let tone = tone(frequency: 440, seconds: burst, sampleRate: sampleRate)
        let offset = Int(start * Double(sampleRate))
        out.replaceSubrange(offset..<(offset + tone.count), with: tone)
        return out
    }

    /// Root-mean-square difference between two equally long signals, relative to the first's RMS.
    public static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var diff = 0.0, ref = 0.0
        for i in a.indices {
            diff += Double(a[i] - b[i]) * Double(a[i] - b[i])
            ref += Double(a[i]) * Double(a[i])
        }
        return (diff / max(ref, 1e-30)).squareRoot()
    }

    /// Magnitude of the DFT of `x` at `frequency` Hz, normalised so a unit sine gives 0.5.
    public static func magnitude(of x: [Float], at frequency: Double, sampleRate: Int) -> Double {
        let w = 2 * Double.pi * frequency / Double(sampleRate)
        var re = 0.0, im = 0.0
        for (n, v) in x.enumerated() {
            re += Double(v) * cos(w * Double(n))
            im -= Double(v) * sin(w * Double(n))
        }
        return (re * re + im * im).squareRoot() / Double(x.count)
    }
}

/// A temporary folder removed when the value is released.
public final class TemporaryDirectory {
    public let path: String

    public init(_ label: String = "voiceprint-test") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
