import Foundation

/// Settings for turning an audio file into Voiceprint's working signal.
public struct AudioDecoderOptions: Sendable, Equatable {
    /// Output sample rate in Hz. Default 16 000, the rate of the feature front end.
    public var sampleRate: Int = 16_000
    /// Longest accepted input in seconds, checked before and while decoding so a
    /// hostile file cannot exhaust memory. Default 300 s (5 minutes).
    public var maximumSeconds: Double = 300
    /// Resampling quality. Default `.high` (libsoxr HQ, 20-bit).
    public var resamplerQuality: Resampler.Quality = .high

    public init() {}
}

/// Audio decoded to mono at the target rate, with what we learned on the way.
public struct DecodedAudio: Sendable {
    public var audio: AudioBuffer
    /// The file as libsndfile described it before mixdown and resampling.
    public var original: AudioFileInfo
    /// Float files may exceed full scale; such a file is scaled down by this
    /// factor (1 when untouched) rather than clipped, which would distort it.
    public var gainApplied: Float
}

/// Decodes any format libsndfile reads, from a path or from memory, to mono at
/// 16 kHz (DESIGN.md §1). Stateless and `Sendable`: share one across threads.
public struct AudioDecoder: Sendable {
    public var options: AudioDecoderOptions

    public init(options: AudioDecoderOptions = AudioDecoderOptions()) {
        self.options = options
    }

    public func decode(path: String) throws(AudioError) -> DecodedAudio {
        try decode(try SoundFile(path: path))
    }

    /// Decodes a complete audio file held in memory. `label` names it in errors.
    public func decode(bytes: [UInt8], label: String? = nil) throws(AudioError) -> DecodedAudio {
        try decode(try SoundFile(bytes: bytes, label: label))
    }

    private func decode(_ file: SoundFile) throws(AudioError) -> DecodedAudio {
        let info = file.info
        let channels = info.channels
        let maxFrames = Int(options.maximumSeconds * Double(info.sampleRate))
        // Mix down chunk by chunk: never hold the interleaved signal.
        var mono = [Float]()
        mono.reserveCapacity(min(max(info.frames, 0), maxFrames))
        var peak: Float = 0
        try file.readChunks(maxFrames: maxFrames) { (chunk) throws(AudioError) in
            // Branch-free scan first (it vectorises); find the offending frame only on failure.
            var chunkPeak: Float = 0
            var allFinite = true
            for sample in chunk {
                chunkPeak = max(chunkPeak, abs(sample))
                allFinite = allFinite && sample.isFinite
            }
            guard allFinite else {
                let index = chunk.firstIndex { !$0.isFinite }!
                throw .nonFiniteSamples(source: file.source, frame: mono.count + index / channels)
            }
            peak = max(peak, chunkPeak)
            mono.append(contentsOf: channels == 1 ? Array(chunk) : AudioBuffer.mixdown(interleaved: Array(chunk), channels: channels))
        }
        guard !mono.isEmpty else { throw .noSamples(source: file.source) }

        // A header that promises more than the data delivers means a cut-off file.
        // Compressed streams only estimate their length, so only PCM-like
        // encodings are held to it.
        if Self.hasExactLength(info), info.frames > mono.count {
            throw .corrupt(source: file.source, detail: "header announces \(info.frames) frames, data holds \(mono.count)")
        }
        if let truncation = Self.truncationNote(in: file.parserLog) {
            throw .corrupt(source: file.source, detail: truncation)
        }

        // Scaling commutes with averaging, so the mono signal is scaled instead of every channel.
        var gain: Float = 1
        if peak > 1 {
            gain = 1 / peak
            for index in mono.indices { mono[index] *= gain }
        }
        let resampled = Resampler(quality: options.resamplerQuality)
            .resample(mono, from: Double(info.sampleRate), to: Double(options.sampleRate))
        return DecodedAudio(
            audio: AudioBuffer(samples: resampled, sampleRate: options.sampleRate),
            original: info,
            gainApplied: gain)
    }

    private static func hasExactLength(_ info: AudioFileInfo) -> Bool {
        let exact = ["PCM", "Float", "Double", "U-Law", "A-Law"]
        return exact.contains { info.encoding.contains($0) } && !info.container.contains("FLAC")
    }

    /// libsndfile opens a WAV/AIFF whose data chunk is cut short and quietly
    /// reads less; its parser log is the only place that says so, as
    /// "data : 178128 (should be 29956)". Programs that write to a pipe
    /// (`arecord`, `espeak-ng --stdout`) cannot seek back to fill in the size and
    /// leave a placeholder near 2³¹ or 2³², so those are taken as "until end of file".
    static func truncationNote(in log: String) -> String? {
        for line in log.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("data"), text.contains("(should be") else { continue }
            let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count >= 2 else { continue }
            let (claimed, present) = (numbers[0], numbers[1])
            if claimed > present && claimed < 0x7F00_0000 {
                return "data chunk announces \(claimed) bytes but only \(present) are present"
            }
        }
        return nil
    }
}
