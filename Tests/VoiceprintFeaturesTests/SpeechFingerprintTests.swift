import Foundation
import Testing
import VoiceprintAudio
import VoiceprintFeatures
import VoiceprintTestSupport

/// Replays must match and different takes must not, through the daemon's own
/// path: an encoded file, decoded and resampled to 16 kHz by `AudioDecoder`.
@Suite struct SpeechFingerprintTests {
    static let voices: [SyntheticVoice] = {
        var rng = SeededGenerator(seed: 31)
        return (0..<4).map { _ in SyntheticVoice.random(using: &rng) }
    }()

    /// Utterance `take` of synthetic speaker `voice`: other takes have other syllables and pauses.
    static func take(voice: Int, take: UInt64, seconds: Double = 3) -> [Float] {
        var rng = SeededGenerator(seed: take &* 7919 &+ UInt64(voice))
        return voices[voice].utterance(seconds: seconds, using: &rng)
    }

    /// What the daemon would fingerprint after a client uploaded `samples` as `format` at `rate`.
    static func uploaded(_ samples: [Float], as format: AudioFileFormat = .wavPCM16, rate: Int = 16_000) throws -> SpeechFingerprint {
        let atRate = Resampler.resample(samples, from: 16_000, to: Double(rate))
        let bytes = try SoundFile.encode(atRate, sampleRate: rate, channels: 1, format: format)
        return try SpeechFingerprint(try AudioDecoder().decode(bytes: bytes).audio)
    }

    static func fingerprint(_ samples: [Float]) throws -> SpeechFingerprint {
        try SpeechFingerprint(AudioBuffer(samples: samples, sampleRate: 16_000))
    }

    /// Asserts a replay verdict, with the numbers in the failure message.
    static func expectReplay(_ a: SpeechFingerprint, _ b: SpeechFingerprint, below limit: Double = SpeechFingerprint.threshold,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        // Bools and comparisons, not fingerprints, in the expectations: a failure prints its operands.
        let comparison = a.bitErrorRate(against: b), matches = a.matches(b)
        #expect(matches, "\(String(describing: comparison))", sourceLocation: sourceLocation)
        #expect((comparison?.rate ?? 1) < limit, "\(String(describing: comparison))", sourceLocation: sourceLocation)
    }

    /// Asserts a "different" verdict with margin: genuine takes measured ≥ 0.38.
    static func expectDifferent(_ a: SpeechFingerprint, _ b: SpeechFingerprint, sourceLocation: SourceLocation = #_sourceLocation) {
        let comparison = a.bitErrorRate(against: b), matches = a.matches(b)
        #expect(!matches, "\(String(describing: comparison))", sourceLocation: sourceLocation)
        #expect(comparison != nil && comparison!.rate > 0.33, "\(String(describing: comparison))", sourceLocation: sourceLocation)
    }

    // MARK: - Replays

    @Test func sameFileSentTwiceMatchesExactly() throws {
        let samples = Self.take(voice: 0, take: 1)
        let first = try Self.uploaded(samples), second = try Self.uploaded(samples)
        let equal = first == second
        #expect(equal)
        let comparison = try #require(first.bitErrorRate(against: second))
        #expect(comparison.rate == 0 && comparison.shift == 0)
        #expect(comparison.overlapSeconds > 1.5)
        let matches = first.matches(second)
        #expect(matches)
    }

    @Test(arguments: [AudioFileFormat.flac16, .wavPCM24, .wavFloat])
    func losslessReencodingMatches(format: AudioFileFormat) throws {
        for voice in 0..<2 {
            let samples = Self.take(voice: voice, take: 2)
            Self.expectReplay(try Self.uploaded(samples), try Self.uploaded(samples, as: format), below: 0.02)
        }
    }

    @Test(arguments: [-6.0, 6.0])
    func gainChangeMatches(decibels: Double) throws {
        let gain = Float(pow(10, decibels / 20))
        for voice in 0..<2 {
            let samples = Self.take(voice: voice, take: 3)
            Self.expectReplay(try Self.uploaded(samples), try Self.uploaded(samples.map { $0 * gain }), below: 0.02)
        }
        // Bits are signs of energy differences and silence is judged against the
        // utterance's own level: a power-of-two gain, exact in floating point, changes nothing.
        let samples = Self.take(voice: 2, take: 3)
        let equal = try Self.fingerprint(samples.map { $0 * 0.5 }) == Self.fingerprint(samples)
        #expect(equal)
    }

    /// Leading silence added or cut by any number of samples, whole hops or not,
    /// up to 300 ms (far beyond "a few ms", so that trimming is no way past the check).
    @Test(arguments: [-400, -80, -37, 8, 40, 120, 333, 4_800])
    func silenceAddedOrCutAtTheStartMatches(samplesAdded: Int) throws {
        let samples = Self.take(voice: 1, take: 4)
        let changed = samplesAdded >= 0
            ? [Float](repeating: 0, count: samplesAdded) + samples
            : Array(samples.dropFirst(-samplesAdded))
        let comparison = try #require(try Self.uploaded(samples).bitErrorRate(against: try Self.uploaded(changed)))
        #expect(comparison.rate < 0.1, "\(comparison)")
        // The best alignment is the offset itself, to within a hop.
        let expected = Double(samplesAdded) / Double(SpeechFingerprint.hop)
        #expect(abs(Double(comparison.shift) - expected) <= 1, "\(comparison), expected ≈ \(expected)")
    }

    @Test func resampledThrough44kHzMatches() throws {
        for voice in 0..<2 {
            let samples = Self.take(voice: voice, take: 5)
            let through44k = Resampler.resample(Resampler.resample(samples, from: 16_000, to: 44_100), from: 44_100, to: 16_000)
            Self.expectReplay(try Self.uploaded(samples), try Self.uploaded(through44k), below: 0.02)
            // And as a client would send it: a 44.1 kHz file the daemon resamples.
            Self.expectReplay(try Self.uploaded(samples), try Self.uploaded(samples, rate: 44_100), below: 0.02)
        }
    }

    /// Lossy codecs at libsndfile's default settings (about 40 kbit/s for 16 kHz
    /// MP3 and Vorbis, 85 kbit/s for 44.1 kHz MP3): measured worst 0.13 on 60 sources.
    @Test(arguments: [(AudioFileFormat.mp3, 16_000), (.mp3, 44_100), (.oggVorbis, 16_000), (.oggVorbis, 44_100)])
    func lossyReencodingMatches(format: AudioFileFormat, rate: Int) throws {
        for voice in 0..<2 {
            let samples = Self.take(voice: voice, take: 6)
            Self.expectReplay(try Self.uploaded(samples), try Self.uploaded(samples, as: format, rate: rate))
        }
    }

    // MARK: - Different takes

    @Test func differentUtterancesOfOneSpeakerDoNotMatch() throws {
        for voice in 0..<Self.voices.count {
            let first = try Self.uploaded(Self.take(voice: voice, take: 10))
            for take: UInt64 in 11...12 {
                Self.expectDifferent(first, try Self.uploaded(Self.take(voice: voice, take: take)))
            }
        }
    }

    @Test func differentSpeakersDoNotMatch() throws {
        let takes = try (0..<Self.voices.count).map { try Self.uploaded(Self.take(voice: $0, take: 20)) }
        for i in takes.indices {
            for j in takes.indices where j > i { Self.expectDifferent(takes[i], takes[j]) }
        }
    }

    static let sentence = "Please verify my voice, my voice is my password today."

    @Test(.enabled(if: Espeak.isInstalled)) func espeakSentenceSynthesisedTwiceIsAReplay() throws {
        // espeak-ng is deterministic: the same text and voice give the same samples, as a replay would.
        let first = try SpeechFingerprint(try Espeak.speak(Self.sentence))
        let second = try SpeechFingerprint(try Espeak.speak(Self.sentence))
        #expect(first.bitErrorRate(against: second)?.rate == 0)
        Self.expectReplay(first, try Self.uploaded(try Espeak.speak(Self.sentence).samples, as: .mp3))
    }

    /// The same sentence in the same voice, but said at another pitch or pace:
    /// the nearest thing to a person's second attempt that espeak-ng can make.
    @Test(.enabled(if: Espeak.isInstalled), arguments: [["-p", "55"], ["-p", "45"], ["-s", "165"], ["-s", "185"], ["-v", "en-us", "-s", "170"]])
    func espeakSentenceSaidDifferentlyDoesNotMatch(arguments: [String]) throws {
        let reference = try SpeechFingerprint(try Espeak.speak(Self.sentence))
        Self.expectDifferent(reference, try SpeechFingerprint(try Espeak.speak(Self.sentence, arguments: arguments)))
    }

    // MARK: - Edge cases and the stored form

    @Test func otherSampleRatesAreRefused() {
        let audio = AudioBuffer(samples: Self.take(voice: 0, take: 1), sampleRate: 22_050)
        #expect(throws: FeatureError.sampleRateMismatch(got: 22_050, expected: 16_000)) {
            _ = try SpeechFingerprint(audio)
        }
    }

    @Test func tooLittleSpeechGivesNoVerdict() throws {
        let silence = try Self.fingerprint(TestSignals.silence(seconds: 3, sampleRate: 16_000))
        #expect(silence.speechFrames == 0)
        // Digital silence would otherwise agree with digital silence on every bit.
        let silenceVerdict = (silence.bitErrorRate(against: silence), silence.matches(silence))
        #expect(silenceVerdict.0 == nil && !silenceVerdict.1)
        let short = try Self.fingerprint(Self.take(voice: 0, take: 1, seconds: 0.6))
        let shortVerdict = (short.bitErrorRate(against: short), short.matches(short))
        #expect(shortVerdict.0 == nil && !shortVerdict.1)
        let empty = try Self.fingerprint([])
        let emptyMatches = empty.matches(empty)
        #expect(empty.frames == 0 && !emptyMatches)
    }

    @Test func onlyTheFirst30SecondsAreKept() throws {
        let long = try Self.fingerprint(TestSignals.noise(seconds: 45, sampleRate: 16_000, rmsDBFS: -20, seed: 3))
        #expect(long.frames == SpeechFingerprint.maximumFrames)
        #expect(long.serialized.count == 12 + 4 * 6000 + 750)
    }

    @Test func serializedFormRoundTrips() throws {
        // 584 and 388 frames: the speech mask fills its last byte, or leaves bits over.
        for (seconds, frames) in [(2.989, 584), (2.013, 388)] {
            let fingerprint = try Self.uploaded(Self.take(voice: 3, take: 7, seconds: seconds))
            #expect(fingerprint.frames == frames)
            let bytes = fingerprint.serialized
            #expect(Array(bytes[0..<8]) == Array("VPFP".utf8) + [1, 0, 0, 0])
            #expect(bytes.count == 12 + 4 * fingerprint.frames + (fingerprint.frames + 7) / 8)
            let restored = try SpeechFingerprint(serialized: bytes)
            let equal = restored == fingerprint, sameBytes = restored.serialized == bytes
            #expect(equal && sameBytes)
        }
        let empty = try Self.fingerprint([])
        let emptyRestored = try SpeechFingerprint(serialized: empty.serialized) == empty
        #expect(emptyRestored)
    }

    @Test func damagedSerializedFormsAreRefused() throws {
        let fingerprint = try Self.uploaded(Self.take(voice: 3, take: 8, seconds: 2.013))
        let bytes = fingerprint.serialized, frames = fingerprint.frames
        let silent = try #require((0..<frames).first { !fingerprint.isSpeech($0) })
        func refused(_ error: SpeechFingerprint.FormatError, _ change: (inout [UInt8]) -> Void) {
            var damaged = bytes
            change(&damaged)
            #expect(throws: error) { try SpeechFingerprint(serialized: damaged) }
        }
        refused(.tooShort(bytes: 5)) { $0 = Array($0[0..<5]) }
        refused(.badMagic(Array("RIFF".utf8))) { $0.replaceSubrange(0..<4, with: Array("RIFF".utf8)) }
        refused(.unsupportedVersion(2)) { $0[4] = 2 }
        refused(.nonCanonical("reserved header field is 256")) { $0[7] = 1 }
        refused(.tooManyFrames(0x0100_0000 + frames)) { $0[11] = 1 }
        refused(.lengthMismatch(bytes: bytes.count - 1, expected: bytes.count)) { $0.removeLast() }
        refused(.lengthMismatch(bytes: bytes.count + 4, expected: bytes.count)) { $0 += [0, 0, 0, 0] }
        refused(.nonCanonical("mask bits beyond frame \(frames - 1) are set")) { $0[$0.count - 1] |= 0x80 }
        refused(.nonCanonical("silent frame \(silent) has bits 0x1")) { $0[12 + 4 * silent] = 1 }
    }
}

/// espeak-ng, which scripts/install-deps installs for tests and samples.
enum Espeak {
    static let executable: String? = ProcessInfo.processInfo.environment["PATH", default: "/usr/bin"]
        .split(separator: ":").map { "\($0)/espeak-ng" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isInstalled: Bool { executable != nil }

    /// `text` spoken by espeak-ng, decoded the daemon's way (22.05 kHz → 16 kHz).
    static func speak(_ text: String, arguments: [String] = []) throws -> AudioBuffer {
        let directory = try TemporaryDirectory("fingerprint-espeak")
        let path = directory.file("speech.wav")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(executable))
        process.arguments = arguments + ["-w", path, text]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return try AudioDecoder().decode(path: path).audio
    }
}
