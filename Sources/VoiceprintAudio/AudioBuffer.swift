import Foundation

/// Mono audio at a known sample rate: what the rest of Voiceprint consumes.
public struct AudioBuffer: Sendable, Equatable {
    /// Samples nominally in [-1, 1].
    public var samples: [Float]
    public var sampleRate: Int

    public init(samples: [Float], sampleRate: Int) {
        precondition(sampleRate > 0, "sample rate must be positive")
        self.samples = samples
        self.sampleRate = sampleRate
    }

    public var duration: Double { Double(samples.count) / Double(sampleRate) }

    /// Averages interleaved channels into one. Averaging (not summing) keeps a
    /// mono file copied to both stereo channels at its original level.
    public static func mixdown(interleaved: [Float], channels: Int) -> [Float] {
        precondition(channels > 0 && interleaved.count % channels == 0, "interleaved length must be a multiple of channels")
        if channels == 1 { return interleaved }
        var mono = [Float](repeating: 0, count: interleaved.count / channels)
        interleaved.withUnsafeBufferPointer { src in
            mono.withUnsafeMutableBufferPointer { mixdown(src, channels: channels, into: $0) }
        }
        return mono
    }

    /// The same average, written into `mono` (at least one slot per frame), so the
    /// decoder can mix each chunk down in a buffer it reuses.
    public static func mixdown(
        _ interleaved: UnsafeBufferPointer<Float>, channels: Int, into mono: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(channels > 0 && interleaved.count % channels == 0, "interleaved length must be a multiple of channels")
        let frames = interleaved.count / channels
        precondition(mono.count >= frames, "mono buffer holds \(mono.count) of \(frames) frames")
        let scale = 1 / Float(channels)
        for frame in 0..<frames {
            var sum: Float = 0
            let base = frame * channels
            for channel in 0..<channels { sum += interleaved[base + channel] }
            mono[frame] = sum * scale
        }
    }

    /// Level statistics for quality warnings (too quiet, clipped).
    public var levels: AudioLevels { AudioLevels(samples) }
}

/// Simple level measurements of a signal.
public struct AudioLevels: Sendable, Equatable {
    /// Largest absolute sample.
    public var peak: Float
    /// Root-mean-square level in dB relative to full scale (−∞ for silence).
    public var rmsDBFS: Double
    /// Fraction of samples at or beyond 0.999 full scale: a sign of clipping.
    public var clippedFraction: Double

    public init(_ samples: [Float]) {
        var peak: Float = 0
        var energy: Double = 0
        var clipped = 0
        for sample in samples {
            let magnitude = abs(sample)
            peak = max(peak, magnitude)
            energy += Double(sample) * Double(sample)
            if magnitude >= 0.999 { clipped += 1 }
        }
        self.peak = peak
        let meanSquare = samples.isEmpty ? 0 : energy / Double(samples.count)
        self.rmsDBFS = meanSquare > 0 ? 10 * log10(meanSquare) : -Double.infinity
        self.clippedFraction = samples.isEmpty ? 0 : Double(clipped) / Double(samples.count)
    }
}

