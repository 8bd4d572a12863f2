import Foundation
import Testing
import VoiceprintAudio
import VoiceprintTestSupport

@Suite struct SoundFileTests {
    static let lossless: [AudioFileFormat] = [.wavPCM16, .wavPCM24, .wavPCM32, .wavFloat, .flac16, .aiff16, .au16]

    /// Worst-case error a lossless encoding may introduce: one quantisation step.
    static func quantisationStep(_ format: AudioFileFormat) -> Float {
        switch format {
        case .wavPCM24: return 1.0 / 8_388_608
        case .wavPCM32, .wavFloat: return 1e-7
        default: return 1.0 / 32_768
        }
    }

    @Test(arguments: lossless)
    func losslessFormatsRoundTripThroughDisk(format: AudioFileFormat) throws {
        let dir = try TemporaryDirectory()
        let tone = TestSignals.tone(frequency: 440, seconds: 0.5, sampleRate: 16_000)
        let path = dir.file("tone.\(format.fileExtension)")
        try SoundFile.write(tone, sampleRate: 16_000, channels: 1, format: format, to: path)
        let file = try SoundFile(path: path)
        #expect(file.info.sampleRate == 16_000)
        #expect(file.info.channels == 1)
        #expect(file.info.frames == tone.count)
        let back = try file.readAllFrames(maxFrames: 1_000_000)
        let worst = zip(tone, back).map { abs($0 - $1) }.max() ?? 1
        #expect(back.count == tone.count)
        #expect(worst <= Self.quantisationStep(format) * 1.01, "max error \(worst) for \(format)")
    }

    @Test(arguments: [AudioFileFormat.wavPCM8, .wavULaw, .wavGSM, .oggVorbis, .oggOpus, .mp3])
    func lossyFormatsKeepTheSignalThroughMemory(format: AudioFileFormat) throws {
        // Opus only runs at 8/12/16/24/48 kHz, so use 48 kHz for every lossy codec's
        // chance to keep a 440 Hz tone; GSM is narrow-band and needs 8 kHz.
        let rate = format == .wavGSM ? 8_000 : 48_000
        let tone = TestSignals.tone(frequency: 440, seconds: 1, sampleRate: rate)
        let bytes = try SoundFile.encode(tone, sampleRate: rate, channels: 1, format: format)
        #expect(bytes.count > 100)
        let file = try SoundFile(bytes: bytes)
        #expect(file.info.sampleRate == rate)
        let back = try file.readAllFrames(maxFrames: 10 * rate)
        // Codecs add priming delay; judge by the tone's energy, not sample-by-sample.
        #expect(abs(back.count - tone.count) < rate / 10, "\(format): \(back.count) frames for \(tone.count)")
        let middle = Array(back[(back.count / 4)..<(back.count * 3 / 4)])
        let magnitude = TestSignals.magnitude(of: middle, at: 440, sampleRate: rate)
        #expect(magnitude > 0.2 && magnitude < 0.3, "\(format): 440 Hz magnitude \(magnitude), expected ≈ 0.25")
    }

    @Test func stereoFramesAreInterleaved() throws {
        let left = TestSignals.tone(frequency: 300, seconds: 0.1, sampleRate: 8_000)
        let interleaved = left.flatMap { [$0, -$0] }
        let bytes = try SoundFile.encode(interleaved, sampleRate: 8_000, channels: 2, format: .wavFloat)
        let file = try SoundFile(bytes: bytes, label: "stereo")
        #expect(file.info.channels == 2)
        #expect(try file.readAllFrames(maxFrames: 10_000) == interleaved)
    }

    @Test func describesContainerAndEncoding() throws {
        let bytes = try SoundFile.encode([0.1, 0.2], sampleRate: 16_000, channels: 1, format: .flac16)
        let info = try SoundFile(bytes: bytes).info
        #expect(info.container.hasPrefix("FLAC"))
        #expect(info.encoding == "Signed 16 bit PCM")
        #expect(SoundFile.readableContainers.contains { $0.hasPrefix("WAV") })
        #expect(SoundFile.libraryVersion.hasPrefix("libsndfile"))
    }

    @Test func readStopsAtTheFrameLimit() throws {
        let bytes = try SoundFile.encode(TestSignals.silence(seconds: 2, sampleRate: 8_000), sampleRate: 8_000,
                                         channels: 1, format: .oggVorbis)
        // Vorbis only estimates its length, so the limit must also hold while reading.
        let error = #expect(throws: AudioError.self) { try SoundFile(bytes: bytes).readAllFrames(maxFrames: 4_000) }
        guard case .tooLong(_, let seconds, let maximum) = error else {
            Issue.record("expected tooLong, got \(String(describing: error))"); return
        }
        #expect(maximum == 0.5)
        #expect(seconds > 0.5)
    }

    @Test func refusesToWriteAnImpossibleFormat() {
        // Opus cannot run at 44.1 kHz.
        #expect(throws: AudioError.self) {
            try SoundFile.encode([0, 0, 0], sampleRate: 44_100, channels: 1, format: .oggOpus)
        }
    }

    @Test(arguments: [AudioFileFormat.wavPCM16, .flac16])
    func chunkedWritingMakesTheSameFile(format: AudioFileFormat) throws {
        let dir = try TemporaryDirectory()
        let noise = TestSignals.noise(seconds: 1, sampleRate: 16_000, rmsDBFS: -20, seed: 4)
        let whole = dir.file("whole.\(format.fileExtension)")
        let chunked = dir.file("chunked.\(format.fileExtension)")
        try SoundFile.write(noise, sampleRate: 16_000, channels: 1, format: format, to: whole)
        var start = 0
        try SoundFile.write(sampleRate: 16_000, channels: 1, format: format, to: chunked) {
            guard start < noise.count else { return nil }
            defer { start += 3_001 }
            return Array(noise[start..<min(noise.count, start + 3_001)])
        }
        #expect(FileManager.default.contents(atPath: whole) == FileManager.default.contents(atPath: chunked))
    }

    @Test func cutAIFFReportsOnlyThePresentFramesAndNamesTheCut() throws {
        let bytes = try SoundFile.encode(TestSignals.silence(seconds: 0.5, sampleRate: 16_000), sampleRate: 16_000,
                                         channels: 1, format: .aiff16)
        let file = try SoundFile(bytes: Array(bytes.prefix(bytes.count - 1_001)))
        // libsndfile shrinks the header's count to the bytes present, so only its log tells.
        #expect(file.info.frames == 7_499)
        let frames = try file.readAllFrames(maxFrames: 16_000).count
        #expect(frames == 7_499)
        #expect(file.truncation(framesRead: frames) == "SSND chunk announces 16008 bytes but only 15007 are present")
    }

    @Test func flacOfUnknownLengthAnnouncesNoFrameCount() throws {
        var bytes = try SoundFile.encode(TestSignals.silence(seconds: 0.5, sampleRate: 16_000), sampleRate: 16_000,
                                         channels: 1, format: .flac16)
        #expect(try SoundFile(bytes: bytes).announcedFrames == 8_000)
        bytes[21] &= 0xF0 // STREAMINFO total_samples = 0: unknown
        for index in 22..<26 { bytes[index] = 0 }
        let file = try SoundFile(bytes: bytes)
        #expect(file.announcedFrames == nil)
        let frames = try file.readAllFrames(maxFrames: 16_000).count
        #expect(frames == 8_000)
        #expect(file.truncation(framesRead: frames) == nil)
    }

    @Test func headerBeyondTheSanityLimitsIsRefused() throws {
        let fast = try SoundFile.encode([0, 0], sampleRate: 1_000_000, channels: 1, format: .wavPCM16)
        #expect(throws: AudioError.invalidParameters(source: "fast", detail: "sample rate 1000000 Hz is outside 1–768000 Hz")) {
            try SoundFile(bytes: fast, label: "fast")
        }
    }
}
