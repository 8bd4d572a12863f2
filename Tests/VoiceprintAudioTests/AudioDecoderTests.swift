import Foundation
import Testing
import VoiceprintAudio
import VoiceprintTestSupport

@Suite struct AudioDecoderTests {
    let decoder = AudioDecoder()

    @Test func mixesStereoDownAndResamplesTo16kHz() throws {
        let rate = 44_100
        let left = TestSignals.tone(frequency: 1_000, seconds: 1, sampleRate: rate, amplitude: 0.4)
        let right = TestSignals.tone(frequency: 3_000, seconds: 1, sampleRate: rate, amplitude: 0.4)
        let bytes = try SoundFile.encode(zip(left, right).flatMap { [$0, $1] }, sampleRate: rate, channels: 2,
                                         format: .flac16)
        let decoded = try decoder.decode(bytes: bytes)
        #expect(decoded.original.sampleRate == 44_100 && decoded.original.channels == 2)
        #expect(decoded.audio.sampleRate == 16_000)
        #expect(decoded.audio.samples.count == 16_000)
        // Each channel arrives at half amplitude (averaged), so each tone's DFT magnitude is 0.1.
        let middle = Array(decoded.audio.samples[2_000..<14_000])
        let m1 = TestSignals.magnitude(of: middle, at: 1_000, sampleRate: 16_000)
        let m3 = TestSignals.magnitude(of: middle, at: 3_000, sampleRate: 16_000)
        #expect(abs(m1 - 0.1) < 0.005 && abs(m3 - 0.1) < 0.005, "magnitudes \(m1), \(m3)")
    }

    @Test(arguments: [8_000, 22_050, 48_000])
    func decodesEveryRateToTheSameTone(rate: Int) throws {
        let tone = TestSignals.tone(frequency: 500, seconds: 0.5, sampleRate: rate)
        let bytes = try SoundFile.encode(tone, sampleRate: rate, channels: 1, format: .wavPCM16)
        let audio = try decoder.decode(bytes: bytes).audio
        #expect(audio.samples.count == 8_000)
        let reference = TestSignals.tone(frequency: 500, seconds: 0.5, sampleRate: 16_000)
        // Away from the edges, where the resampler's filter has no past or future.
        let error = TestSignals.relativeError(Array(reference[800..<7_200]), Array(audio.samples[800..<7_200]))
        #expect(error < 0.01, "relative error \(error) at \(rate) Hz")
    }

    @Test func decodesFromPathAndMemoryAlike() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("a.ogg")
        let tone = TestSignals.tone(frequency: 700, seconds: 0.5, sampleRate: 16_000)
        try SoundFile.write(tone, sampleRate: 16_000, channels: 1, format: .oggVorbis, to: path)
        let fromPath = try decoder.decode(path: path)
        let fromMemory = try decoder.decode(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(fromPath.audio == fromMemory.audio)
        #expect(fromPath.original.encoding == "Vorbis")
    }

    @Test func floatAudioBeyondFullScaleIsScaledNotClipped() throws {
        let loud = TestSignals.tone(frequency: 200, seconds: 0.2, sampleRate: 16_000, amplitude: 4)
        let bytes = try SoundFile.encode(loud, sampleRate: 16_000, channels: 1, format: .wavFloat)
        let decoded = try decoder.decode(bytes: bytes)
        #expect(abs(decoded.gainApplied - 0.25) < 1e-3)
        #expect((decoded.audio.samples.map(abs).max() ?? 0) <= 1.0001)
    }

    // MARK: errors, one per case

    @Test func emptyInputIsRefused() throws {
        #expect(throws: AudioError.emptyInput(source: "<memory: 0 bytes>")) { try decoder.decode(bytes: []) }
        let dir = try TemporaryDirectory()
        let path = dir.file("empty.wav")
        FileManager.default.createFile(atPath: path, contents: Data())
        #expect(throws: AudioError.emptyInput(source: path)) { try decoder.decode(path: path) }
    }

    @Test func missingFileAndDirectoryAreNamed() throws {
        let error = #expect(throws: AudioError.self) { try decoder.decode(path: "/nonexistent/x.wav") }
        #expect(error == .cannotOpen(source: "/nonexistent/x.wav", reason: "No such file or directory"))
        let dir = try TemporaryDirectory()
        #expect(throws: AudioError.cannotOpen(source: dir.path, reason: "not a regular file")) {
            try decoder.decode(path: dir.path)
        }
    }

    @Test func bytesThatAreNotAudioAreAnUnsupportedFormat() {
        let text = Array("this is a text file, not audio at all\n".utf8)
        let error = #expect(throws: AudioError.self) { try decoder.decode(bytes: text, label: "notes.txt") }
        guard case .unsupportedFormat(let source, _) = error else {
            Issue.record("expected unsupportedFormat, got \(String(describing: error))"); return
        }
        #expect(source == "notes.txt")
        #expect(error?.description.contains("notes.txt: not a recognised audio format") == true)
    }

    @Test func truncatedWAVIsCorrupt() throws {
        let tone = TestSignals.tone(frequency: 300, seconds: 1, sampleRate: 16_000)
        let bytes = try SoundFile.encode(tone, sampleRate: 16_000, channels: 1, format: .wavPCM16)
        let cut = Array(bytes.prefix(bytes.count / 3))
        let error = #expect(throws: AudioError.self) { try decoder.decode(bytes: cut, label: "cut.wav") }
        guard case .corrupt(let source, let detail) = error else {
            Issue.record("expected corrupt, got \(String(describing: error))"); return
        }
        #expect(source == "cut.wav")
        #expect(detail.contains("32000 bytes"), "detail: \(detail)")
    }

    @Test func wavCutInsideItsHeaderIsRefused() throws {
        let bytes = try SoundFile.encode([0.1, 0.2, 0.3], sampleRate: 16_000, channels: 1, format: .wavPCM16)
        #expect(throws: AudioError.self) { try decoder.decode(bytes: Array(bytes.prefix(20))) }
    }

    @Test func streamedWAVWithPlaceholderSizeIsAccepted() throws {
        // arecord and espeak-ng write to pipes with a data size of about 2³¹ that they cannot fix up.
        var bytes = try SoundFile.encode(TestSignals.tone(frequency: 300, seconds: 0.5, sampleRate: 16_000),
                                         sampleRate: 16_000, channels: 1, format: .wavPCM16)
        let dataOffset = 40 // canonical 44-byte header: size field of the data chunk
        #expect(Array(bytes[36..<40]) == Array("data".utf8))
        for (i, byte) in [UInt8(0x00), 0xF0, 0xFF, 0x7F].enumerated() { bytes[dataOffset + i] = byte }
        let audio = try decoder.decode(bytes: bytes).audio
        #expect(audio.samples.count == 8_000)
    }

    @Test func fileWithoutSamplesIsRefused() throws {
        let bytes = try SoundFile.encode([], sampleRate: 16_000, channels: 1, format: .wavPCM16)
        #expect(throws: AudioError.noSamples(source: "<memory: \(bytes.count) bytes>")) {
            try decoder.decode(bytes: bytes)
        }
    }

    @Test func nonFiniteSamplesAreRefusedWithTheirFrame() throws {
        var samples = [Float](repeating: 0.1, count: 100)
        samples[42] = .nan
        let bytes = try SoundFile.encode(samples, sampleRate: 16_000, channels: 1, format: .wavFloat)
        #expect(throws: AudioError.nonFiniteSamples(source: "nan.wav", frame: 42)) {
            try decoder.decode(bytes: bytes, label: "nan.wav")
        }
        samples[42] = 0.1
        samples[7] = .infinity
        let inf = try SoundFile.encode(samples, sampleRate: 16_000, channels: 1, format: .wavFloat)
        #expect(throws: AudioError.nonFiniteSamples(source: "inf.wav", frame: 7)) {
            try decoder.decode(bytes: inf, label: "inf.wav")
        }
    }

    @Test func audioLongerThanTheLimitIsRefusedBeforeDecoding() throws {
        var options = AudioDecoderOptions()
        options.maximumSeconds = 1
        let bytes = try SoundFile.encode(TestSignals.silence(seconds: 2.5, sampleRate: 8_000), sampleRate: 8_000,
                                         channels: 1, format: .wavPCM16)
        let error = #expect(throws: AudioError.self) { try AudioDecoder(options: options).decode(bytes: bytes, label: "long.wav") }
        #expect(error == .tooLong(source: "long.wav", seconds: 2.5, maximum: 1))
        #expect(error?.description == "long.wav: audio lasts 2.50 s, more than the maximum of 1.00 s")
    }
}
