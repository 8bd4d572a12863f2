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

    // MARK: decode budget, judged from the header

    @Test func oneHertzFileIsRefusedBeforeResampling() throws {
        // 100 frames that would be stretched 16 000-fold: seconds of CPU for a few hundred bytes.
        let bytes = try SoundFile.encode(TestSignals.silence(seconds: 100, sampleRate: 1), sampleRate: 1, channels: 1,
                                         format: .wavPCM16)
        let error = #expect(throws: AudioError.self) { try decoder.decode(bytes: bytes, label: "slow.wav") }
        #expect(error == .invalidParameters(source: "slow.wav", detail: "sample rate 1 Hz is outside 8000–192000 Hz"))
        #expect(error?.description == "slow.wav: invalid audio parameters: sample rate 1 Hz is outside 8000–192000 Hz")
    }

    @Test(arguments: [
        (7_999, 1, "sample rate 7999 Hz is outside 8000–192000 Hz"),
        (192_001, 1, "sample rate 192001 Hz is outside 8000–192000 Hz"),
        (768_000, 8, "sample rate 768000 Hz is outside 8000–192000 Hz"),
        (16_000, 9, "channel count 9 is outside 1–8"),
    ])
    func headersOutsideTheBudgetAreRefused(rate: Int, channels: Int, detail: String) throws {
        // WAV: libsndfile's FLAC encoder refuses such rates and channel counts, but a peer can send any header.
        let bytes = try SoundFile.encode(TestSignals.silence(seconds: 0.01, sampleRate: rate * channels),
                                         sampleRate: rate, channels: channels, format: .wavPCM16)
        #expect(throws: AudioError.invalidParameters(source: "x.wav", detail: detail)) {
            try decoder.decode(bytes: bytes, label: "x.wav")
        }
    }

    @Test func budgetLimitsAreOptions() throws {
        var options = AudioDecoderOptions()
        #expect(options.minimumSampleRate == 8_000 && options.maximumSampleRate == 192_000 && options.maximumChannels == 8)
        options.maximumChannels = 1
        let stereo = try SoundFile.encode(TestSignals.silence(seconds: 0.2, sampleRate: 16_000), sampleRate: 8_000,
                                          channels: 2, format: .wavPCM16)
        #expect(throws: AudioError.invalidParameters(source: "s.wav", detail: "channel count 2 is outside 1–1")) {
            try AudioDecoder(options: options).decode(bytes: stereo, label: "s.wav")
        }
    }

    @Test func worstLegalHeaderIsAccepted() throws {
        // 192 kHz × 8 channels: at both limits, so decoded (and mixed down) in full.
        let rate = 192_000
        let tone = TestSignals.tone(frequency: 440, seconds: 0.1, sampleRate: rate, amplitude: 0.4)
        let bytes = try SoundFile.encode(tone.flatMap { Array(repeating: $0, count: 8) }, sampleRate: rate, channels: 8,
                                         format: .flac16)
        let decoded = try decoder.decode(bytes: bytes)
        #expect(decoded.original.sampleRate == rate && decoded.original.channels == 8)
        #expect(decoded.audio.samples.count == 1_600)
        let m = TestSignals.magnitude(of: Array(decoded.audio.samples[200..<1_400]), at: 440, sampleRate: 16_000)
        #expect(abs(m - 0.2) < 0.01, "440 Hz magnitude \(m)")
    }

    @Test(arguments: [AudioFileFormat.wavPCM16, .flac16, .aiff16, .au16, .oggVorbis, .oggOpus, .mp3])
    func framesOverTheLimitAreRefusedFromTheHeader(format: AudioFileFormat) throws {
        var options = AudioDecoderOptions()
        options.maximumSeconds = 1
        let bytes = try SoundFile.encode(TestSignals.silence(seconds: 2.5, sampleRate: 48_000), sampleRate: 48_000,
                                         channels: 1, format: format)
        // Reading would stop after its first chunk and report that chunk's length;
        // the header's own duration in the error shows nothing was decoded.
        let announced = try SoundFile(bytes: bytes).info.seconds
        #expect(announced > 1)
        #expect(throws: AudioError.tooLong(source: "long", seconds: announced, maximum: 1)) {
            try AudioDecoder(options: options).decode(bytes: bytes, label: "long")
        }
    }

    @Test func flacOfUnknownLengthIsHeldToTheLimitWhileReading() throws {
        var bytes = try SoundFile.encode(TestSignals.silence(seconds: 3, sampleRate: 8_000), sampleRate: 8_000,
                                         channels: 1, format: .flac16)
        // STREAMINFO's 36-bit total_samples (bytes 21–25, low nibble first) = 0: "unknown", as a streaming encoder writes.
        bytes[21] &= 0xF0
        for index in 22..<26 { bytes[index] = 0 }
        #expect(try decoder.decode(bytes: bytes).audio.samples.count == 48_000)
        var options = AudioDecoderOptions()
        options.maximumSeconds = 1
        let error = #expect(throws: AudioError.self) { try AudioDecoder(options: options).decode(bytes: bytes) }
        guard case .tooLong(_, let seconds, let maximum) = error else {
            Issue.record("expected tooLong, got \(String(describing: error))"); return
        }
        #expect(maximum == 1 && seconds > 1 && seconds < 3)
    }

    // MARK: streaming decode

    @Test func decodingEqualsMixdownThenOneShotResampling() throws {
        for rate in [44_100, 48_000] {
            let left = TestSignals.noise(seconds: 1.7, sampleRate: rate, rmsDBFS: -12, seed: 5)
            let right = TestSignals.chirp(seconds: 1.7, sampleRate: rate)
            let bytes = try SoundFile.encode(zip(left, right).flatMap { [$0, $1] }, sampleRate: rate, channels: 2,
                                             format: .flac16)
            let interleaved = try SoundFile(bytes: bytes).readAllFrames(maxFrames: 10 * rate)
            let reference = Resampler.resample(AudioBuffer.mixdown(interleaved: interleaved, channels: 2),
                                               from: Double(rate), to: 16_000)
            let decoded = try decoder.decode(bytes: bytes).audio.samples
            #expect(decoded.count == reference.count)
            let worst = zip(decoded, reference).map { abs($0 - $1) }.max() ?? 1
            #expect(worst <= 1e-6, "max difference \(worst) at \(rate) Hz")
        }
    }

    @Test(arguments: [AudioFileFormat.oggVorbis, .oggOpus, .mp3])
    func lossyStreamsStillDecode(format: AudioFileFormat) throws {
        let tone = TestSignals.tone(frequency: 440, seconds: 1, sampleRate: 48_000)
        let bytes = try SoundFile.encode(tone, sampleRate: 48_000, channels: 1, format: format)
        let audio = try decoder.decode(bytes: bytes).audio
        #expect(abs(audio.samples.count - 16_000) < 1_600, "\(format): \(audio.samples.count) samples")
        let m = TestSignals.magnitude(of: Array(audio.samples[4_000..<12_000]), at: 440, sampleRate: 16_000)
        #expect(m > 0.2 && m < 0.3, "\(format): 440 Hz magnitude \(m)")
    }

    // MARK: truncation

    static let exactFormats: [AudioFileFormat] = [.flac16, .aiff16, .au16, .wavPCM16]

    /// One second of noise at 16 kHz: 16 000 frames, four FLAC blocks, 32 000 PCM bytes.
    static func complete(_ format: AudioFileFormat) throws -> [UInt8] {
        try SoundFile.encode(TestSignals.noise(seconds: 1, sampleRate: 16_000, rmsDBFS: -20, seed: 9),
                             sampleRate: 16_000, channels: 1, format: format)
    }

    static let cutDetailPrefix: [AudioFileFormat: String] = [
        .flac16: "FLAC stream ends after ", .aiff16: "SSND chunk announces ", .au16: "AU header announces ",
        .wavPCM16: "data chunk announces ",
    ]

    /// Where the first sample's bytes start.
    static func headerEnd(_ format: AudioFileFormat, _ bytes: [UInt8]) -> Int {
        func bigEndian(_ at: Int, _ count: Int) -> Int { bytes[at..<(at + count)].reduce(0) { $0 << 8 | Int($1) } }
        func offset(of tag: String) -> Int { (0...(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == Array(tag.utf8) }! }
        switch format {
        case .flac16:
            // "fLaC", then metadata blocks (1 byte flags/type, 3 bytes length) until one flagged last.
            var position = 4
            while true {
                let last = bytes[position] & 0x80 != 0
                position += 4 + bigEndian(position + 1, 3)
                if last { return position }
            }
        case .aiff16: return offset(of: "SSND") + 16 // id, size, offset, block size
        case .au16: return bigEndian(4, 4)
        default: return offset(of: "data") + 8
        }
    }

    @Test(arguments: exactFormats)
    func completeFilesAreNotMistakenForCutOnes(format: AudioFileFormat) throws {
        #expect(try decoder.decode(bytes: Self.complete(format)).audio.samples.count == 16_000)
    }

    @Test(arguments: exactFormats)
    func cutsAfterTheHeaderAreCorruptWithTheirSize(format: AudioFileFormat) throws {
        let bytes = try Self.complete(format)
        let start = Self.headerEnd(format, bytes)
        for cut in [start, (start + bytes.count) / 2, bytes.count - 1] {
            let error = #expect(throws: AudioError.self) { try decoder.decode(bytes: Array(bytes.prefix(cut)), label: "cut") }
            guard case .corrupt(let source, let detail) = error else {
                Issue.record("\(format) cut at \(cut): expected corrupt, got \(String(describing: error))"); continue
            }
            #expect(source == "cut")
            let present = cut - start
            switch format {
            case .flac16:
                // The decoder drops the cut block and everything after it: whole blocks of 4096 frames survive.
                let kept = detail.split(separator: " ").compactMap { Int($0) }.first ?? -1
                #expect(detail == "FLAC stream ends after \(kept) of 16000 frames" && kept % 4_096 == 0 && kept < 16_000,
                        "cut at \(cut): \(detail)")
            case .aiff16: #expect(detail == "SSND chunk announces 32008 bytes but only \(present + 8) are present")
            case .au16: #expect(detail == "AU header announces 32000 bytes but only \(present) are present")
            default: #expect(detail == "data chunk announces 32000 bytes but only \(present) are present")
            }
        }
    }

    @Test(arguments: exactFormats)
    func everyCutIsRefused(format: AudioFileFormat) throws {
        let bytes = try Self.complete(format)
        let start = Self.headerEnd(format, bytes)
        for cut in Array(stride(from: 1, to: bytes.count, by: 997)) + Array((start - 8)...(start + 8)) {
            let error = #expect(throws: AudioError.self, "\(format) cut at \(cut) of \(bytes.count)") {
                try decoder.decode(bytes: Array(bytes.prefix(cut)))
            }
            // Inside the header libsndfile may not even recognise the format; past it, the cut must be named.
            guard cut >= start else { continue }
            guard case .corrupt(_, let detail) = error else {
                Issue.record("\(format) cut at \(cut): expected corrupt, got \(String(describing: error))"); continue
            }
            // Some FLAC cuts also make libsndfile report "lost sync"; the frame count is still what is named.
            #expect(detail.hasPrefix(Self.cutDetailPrefix[format]!), "\(format) cut at \(cut): \(detail)")
        }
    }

    @Test func stereoFLACCutsAreNamedByTheirFrameCount() throws {
        // At 48 kHz stereo libsndfile also reports "flac decoder lost sync" for these cuts.
        let noise = TestSignals.noise(seconds: 2, sampleRate: 48_000, rmsDBFS: -15, seed: 12)
        let bytes = try SoundFile.encode(noise, sampleRate: 48_000, channels: 2, format: .flac16)
        for sixth in 1...5 {
            let error = #expect(throws: AudioError.self) { try decoder.decode(bytes: Array(bytes.prefix(bytes.count * sixth / 6))) }
            guard case .corrupt(_, let detail) = error else {
                Issue.record("expected corrupt, got \(String(describing: error))"); continue
            }
            #expect(detail.hasPrefix("FLAC stream ends after ") && detail.hasSuffix(" of 48000 frames"), "\(detail)")
        }
    }

    @Test(arguments: [(AudioFileFormat.aiff16, UInt32(0xFFFF_FFFF)), (.aiff16, 0x7FFF_FFFF), (.au16, 0xFFFF_FFFF)])
    func pipedAIFFAndAUWithPlaceholderSizesAreAccepted(format: AudioFileFormat, placeholder: UInt32) throws {
        // `sox … -t aiff -` and other writers to pipes cannot go back to fill in sizes.
        var bytes = try Self.complete(format)
        let fields = format == .au16 ? [8] : [4, Self.headerEnd(format, bytes) - 12] // AU data size; AIFF FORM and SSND sizes
        for field in fields {
            for i in 0..<4 { bytes[field + i] = UInt8(truncatingIfNeeded: placeholder >> (24 - 8 * i)) }
        }
        #expect(try decoder.decode(bytes: bytes).audio.samples.count == 16_000)
    }
}
