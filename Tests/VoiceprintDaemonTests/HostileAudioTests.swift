import Foundation
import Testing
import VoiceprintAudio
import VoiceprintTestSupport

/// Audio that costs far more to decode than to send is refused from its header,
/// over the socket, with `bad_audio` or `too_long`; cut files are `bad_audio`.
@Suite(.serialized) struct HostileAudioTests {
    /// A 16-bit PCM WAV whose header claims `rate` and `channels`, with `frames` frames of silence.
    static func wav(rate: UInt32, channels: UInt16, frames: Int, claimedFrames: Int? = nil) -> [UInt8] {
        var out = [UInt8]()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        let dataBytes = UInt32((claimedFrames ?? frames) * Int(channels) * 2)
        out += Array("RIFF".utf8); u32(36 + dataBytes); out += Array("WAVE".utf8)
        out += Array("fmt ".utf8); u32(16); u16(1); u16(channels); u32(rate); u32(rate * UInt32(channels) * 2)
        u16(channels * 2); u16(16)
        out += Array("data".utf8); u32(dataBytes)
        out += [UInt8](repeating: 0, count: frames * Int(channels) * 2)
        return out
    }

    func verify(_ c: LineClient, _ bytes: [UInt8]) throws -> [String: Any] {
        try c.request(#"{"op":"verify","speaker":"ann","audio":{"data":"\#(Data(bytes).base64EncodedString())"}}"#)
    }

    @Test func headersBeyondTheDecodeBudgetAreRefusedBeforeDecoding() async throws {
        let fixture = try await DaemonFixture { $0.maxAudioSeconds = 20 }
        let c = try fixture.client()
        #expect(try c.request(#"{"op":"enroll","speaker":"ann","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"}}"#)["ok"] as? Bool == true)
        // 100 frames claiming 1 Hz: 100 "seconds" to resample 16 000-fold (2.7 s of CPU before).
        let slow = try verify(c, Self.wav(rate: 1, channels: 1, frames: 100))
        #expect(code(slow) == "bad_audio" && "\(slow)".contains("1 Hz"), "\(slow)")
        let fast = try verify(c, Self.wav(rate: 768_000, channels: 8, frames: 1000))
        #expect(code(fast) == "bad_audio" && "\(fast)".contains("768000 Hz"), "\(fast)")
        let wide = try verify(c, Self.wav(rate: 16_000, channels: 9, frames: 16_000))
        #expect(code(wide) == "bad_audio" && "\(wide)".contains("9"), "\(wide)")
        // A compressed file longer than max_audio_seconds (30 s of silence in a few kB of FLAC):
        // refused as too long from its header's frame count, not after decoding it.
        let silence = try SoundFile.encode([Float](repeating: 0, count: 30 * 48_000), sampleRate: 48_000, channels: 1, format: .flac16)
        let long = try verify(c, silence)
        #expect(code(long) == "too_long" && "\(long)".contains("30.00 s"), "\(long)")
        // The worst legal header is decoded.
        let legal = try verify(c, Self.wav(rate: 192_000, channels: 8, frames: 192_000))
        #expect(code(legal) == "too_short", "silence at the limits decodes, then has no speech: \(legal)")
        await fixture.stop()
    }

    @Test func cutFilesOfEveryLosslessContainerAreBadAudio() async throws {
        // One utterance in four containers: replays on purpose, so the replay check is off.
        let fixture = try await DaemonFixture { $0.replayWindowSeconds = 0 }
        let c = try fixture.client()
        #expect(try c.request(#"{"op":"enroll","speaker":"ann","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"}}"#)["ok"] as? Bool == true)
        var rng = SeededGenerator(seed: 3)
        let samples = DaemonFixture.voices[0].utterance(seconds: 3, using: &rng)
        for format in [AudioFileFormat.wavPCM16, .flac16, .aiff16, .au16] {
            let whole = try SoundFile.encode(samples, sampleRate: 16_000, channels: 1, format: format)
            #expect(code(try verify(c, whole)) == nil, "\(format) whole")
            let cut = try verify(c, Array(whole.prefix(whole.count * 2 / 3)))
            #expect(code(cut) == "bad_audio", "\(format) cut to two thirds: \(cut)")
        }
        await fixture.stop()
    }
}
