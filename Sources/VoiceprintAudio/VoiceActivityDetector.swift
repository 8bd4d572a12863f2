import Foundation

/// Settings of the energy voice-activity detector. Frame geometry matches the
/// feature front end's defaults, so frame *t* here is feature frame *t*.
public struct VoiceActivityOptions: Sendable, Equatable {
    /// Samples per analysis frame. Default 400 (25 ms at 16 kHz).
    public var frameLength: Int = 400
    /// Samples between frame starts. Default 160 (10 ms at 16 kHz).
    public var frameShift: Int = 160
    /// Frames quieter than this (mean-square level, dB re full scale) are never
    /// speech, however quiet the rest of the file is. Default −55 dBFS, below any
    /// usable recording of a voice but above dither and idle-microphone hiss.
    public var absoluteFloorDB: Double = -55
    /// A frame is loud when its level is within this many dB of the utterance's
    /// reference level. Default 30 dB.
    public var dynamicRangeDB: Double = 30
    /// The reference level is this percentile of frame levels. Default 0.9:
    /// robust to a few clicks, yet set by the voice whenever it fills ≥ 10 % of the file.
    public var referencePercentile: Double = 0.9
    /// Frames on each side that vote on a frame's label. Default 2 (a 5-frame window).
    public var context: Int = 2
    /// Fraction of loud frames in the window needed to call a frame speech. Default 0.6.
    public var proportionThreshold: Double = 0.6
    /// Runs of speech shorter than this many frames are dropped. Default 5 (50 ms,
    /// shorter than any syllable): a click or a tapped microphone lights up two or
    /// three overlapping frames and must not count as speech.
    public var minimumSpeechFrames: Int = 5

    public init() {}
}

/// Which frames of an utterance hold speech.
public struct SpeechActivity: Sendable, Equatable {
    /// One flag per frame.
    public var isSpeech: [Bool]
    /// Seconds between frame starts.
    public var frameShiftSeconds: Double
    /// Mean level of speech frames minus mean level of the other frames, in dB:
    /// a rough signal-to-noise ratio. Nil unless both kinds of frame exist.
    public var snrEstimateDB: Double? = nil

    public var frameCount: Int { isSpeech.count }
    public var speechFrameCount: Int { isSpeech.reduce(0) { $0 + ($1 ? 1 : 0) } }
    /// Speech duration: speech frames × frame shift.
    public var speechSeconds: Double { Double(speechFrameCount) * frameShiftSeconds }
    public var hasSpeech: Bool { isSpeech.contains(true) }
}

/// Energy-based voice activity detection in the spirit of Kaldi's `compute-vad`:
/// a threshold set relative to the utterance's own energy, smoothed by a vote
/// over a small context window.
///
/// ref: Kaldi src/ivector/voice-activity-detection.cc (threshold relative to the
/// mean log energy, proportion vote over ±context frames). Two changes: the
/// reference is a high percentile rather than the mean, so that long pauses do not
/// lower the bar, and an absolute floor makes silence and faint noise "no speech"
/// where Kaldi's purely relative rule would call stationary noise speech.
public struct VoiceActivityDetector: Sendable {
    public var options: VoiceActivityOptions

    public init(options: VoiceActivityOptions = VoiceActivityOptions()) {
        self.options = options
    }

    public func detect(_ audio: AudioBuffer) -> SpeechActivity {
        let levels = frameLevels(audio.samples)
        let shift = Double(options.frameShift) / Double(audio.sampleRate)
        guard !levels.isEmpty else { return SpeechActivity(isSpeech: [], frameShiftSeconds: shift) }

        let sorted = levels.sorted()
        let rank = Int((Double(sorted.count - 1) * options.referencePercentile).rounded())
        let threshold = max(options.absoluteFloorDB, sorted[rank] - options.dynamicRangeDB)
        let loud = levels.map { $0 > threshold }

        // Vote over the window with a running count of loud frames.
        let count = loud.count
        let context = options.context
        var prefix = [Int](repeating: 0, count: count + 1)
        for t in 0..<count { prefix[t + 1] = prefix[t] + (loud[t] ? 1 : 0) }
        var speech = [Bool](repeating: false, count: count)
        for t in 0..<count {
            let lo = max(0, t - context), hi = min(count - 1, t + context)
            let votes = prefix[hi + 1] - prefix[lo]
            speech[t] = Double(votes) >= options.proportionThreshold * Double(hi - lo + 1)
        }
        dropShortRuns(&speech)
        var activity = SpeechActivity(isSpeech: speech, frameShiftSeconds: shift)
        let speechLevels = zip(levels, speech).filter(\.1).map(\.0)
        let pauseLevels = zip(levels, speech).filter { !$0.1 }.map(\.0)
        if !speechLevels.isEmpty, !pauseLevels.isEmpty {
            // Digital silence sits at −200 dB; cap the floor so the estimate stays meaningful.
            let floor = max(pauseLevels.reduce(0, +) / Double(pauseLevels.count), -100)
            activity.snrEstimateDB = speechLevels.reduce(0, +) / Double(speechLevels.count) - floor
        }
        return activity
    }

    private func dropShortRuns(_ speech: inout [Bool]) {
        var t = 0
        while t < speech.count {
            guard speech[t] else { t += 1; continue }
            var end = t
            while end < speech.count && speech[end] { end += 1 }
            if end - t < options.minimumSpeechFrames {
                for i in t..<end { speech[i] = false }
            }
            t = end
        }
    }

    /// Number of whole frames in `sampleCount` samples (Kaldi's snip-edges rule).
    public func frameCount(sampleCount: Int) -> Int {
        sampleCount < options.frameLength ? 0 : 1 + (sampleCount - options.frameLength) / options.frameShift
    }

    /// Mean-square level of each frame in dB re full scale (a full-scale sine is −3 dB).
    func frameLevels(_ samples: [Float]) -> [Double] {
        let frames = frameCount(sampleCount: samples.count)
        let length = options.frameLength
        return samples.withUnsafeBufferPointer { x in
            (0..<frames).map { t in
                let start = t * options.frameShift
                var sum: Float = 0
                for i in start..<(start + length) { sum += x[i] * x[i] }
                return 10 * log10(Double(sum) / Double(length) + 1e-20)
            }
        }
    }
}
