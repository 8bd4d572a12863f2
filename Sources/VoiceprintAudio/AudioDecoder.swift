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
    /// Lowest accepted input sample rate in Hz. Default 8 000 (telephone audio).
    /// Resampling cost grows with the output/input ratio: a 100-frame file that
    /// claims 1 Hz would be stretched 16 000-fold, seconds of CPU for a few bytes.
    public var minimumSampleRate: Int = 8_000
    /// Highest accepted input sample rate in Hz. Default 192 000, the highest rate
    /// recorders and studio files use; decode cost grows with it.
    public var maximumSampleRate: Int = 192_000
    /// Most channels accepted. Default 8 (7.1 surround); every channel is
    /// decoded before mixdown, so the cost grows with the count.
    public var maximumChannels: Int = 8

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
        let maxFrames = try checkBudget(file)
        let channels = info.channels
        // Decode, mix down and resample chunk by chunk: only the 16 kHz output is
        // held, never the signal at the input rate (2 min at 192 kHz × 8 ch is 737 MB of Float).
        let resampler = Resampler(from: Double(info.sampleRate), to: Double(options.sampleRate),
                                  quality: options.resamplerQuality,
                                  expectedInputCount: min(file.announcedFrames ?? 0, maxFrames))
        let chunkFrames = 16_384
        var mono = [Float](repeating: 0, count: channels == 1 ? 0 : chunkFrames)
        var framesRead = 0
        var peak: Float = 0
        try file.readChunks(maxFrames: maxFrames, chunkFrames: chunkFrames) { (chunk) throws(AudioError) in
            // Branch-free scan first (it vectorises); find the offending frame only on failure.
            var chunkPeak: Float = 0
            var allFinite = true
            for sample in chunk {
                chunkPeak = max(chunkPeak, abs(sample))
                allFinite = allFinite && sample.isFinite
            }
            guard allFinite else {
                let index = chunk.firstIndex { !$0.isFinite }!
                throw .nonFiniteSamples(source: file.source, frame: framesRead + index / channels)
            }
            peak = max(peak, chunkPeak)
            let frames = chunk.count / channels
            if channels == 1 {
                resampler.process(chunk)
            } else {
                mono.withUnsafeMutableBufferPointer { AudioBuffer.mixdown(chunk, channels: channels, into: $0) }
                mono.withUnsafeBufferPointer { resampler.process(UnsafeBufferPointer(rebasing: $0[0..<frames])) }
            }
            framesRead += frames
        }
        // Before `noSamples`: a file cut right after its header is corrupt, not empty.
        if let truncation = file.truncation(framesRead: framesRead) {
            throw .corrupt(source: file.source, detail: truncation)
        }
        guard framesRead > 0 else { throw .noSamples(source: file.source) }

        var samples = resampler.finish()
        // The peak is only known at the end. Averaging and resampling are linear,
        // so scaling their output equals scaling every channel (up to float rounding).
        var gain: Float = 1
        if peak > 1 {
            gain = 1 / peak
            for index in samples.indices { samples[index] *= gain }
        }
        return DecodedAudio(
            audio: AudioBuffer(samples: samples, sampleRate: options.sampleRate),
            original: info,
            gainApplied: gain)
    }

    /// The decode budget, judged from the header before any sample is decoded:
    /// a hostile peer must not buy seconds of CPU or megabytes of memory with a
    /// few bytes. Returns the most frames reading may deliver.
    private func checkBudget(_ file: SoundFile) throws(AudioError) -> Int {
        let info = file.info
        let (low, high) = (options.minimumSampleRate, options.maximumSampleRate)
        guard info.sampleRate >= low && info.sampleRate <= high else {
            throw .invalidParameters(source: file.source,
                                     detail: "sample rate \(info.sampleRate) Hz is outside \(low)–\(high) Hz")
        }
        guard info.channels <= options.maximumChannels else {
            throw .invalidParameters(source: file.source,
                                     detail: "channel count \(info.channels) is outside 1–\(options.maximumChannels)")
        }
        // MP3 and Ogg only estimate this; `readChunks` holds the limit again while reading.
        if let announced = file.announcedFrames, Double(announced) > options.maximumSeconds * Double(info.sampleRate) {
            throw .tooLong(source: file.source, seconds: info.seconds, maximum: options.maximumSeconds)
        }
        return Int(options.maximumSeconds * Double(info.sampleRate))
    }
}
