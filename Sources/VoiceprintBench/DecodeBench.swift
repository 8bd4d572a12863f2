import ArgumentParser
import Foundation
import VoiceprintAudio

/// The cost of the worst audio a peer may send: the largest legal header
/// (192 kHz × 8 channels for the daemon's 120 s) and what the decode budget
/// refuses. Each case runs in a fresh process, so its peak RSS is its own.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Wall time, CPU time and peak memory of decoding hostile audio, one fresh process per case.")

    enum Case: String, ExpressibleByArgument, CaseIterable {
        /// Silence compresses to almost nothing: the most decoding per byte sent.
        case silence = "silence-flac"
        /// Noise hardly compresses, so a request line holds only its first seconds: refused as cut short, after decoding them.
        case noise = "noise-flac-cut"
        /// 100 frames that claim 1 Hz: refused from the header.
        case slow = "one-hertz-wav"
        /// The same file with the sample-rate floor lifted, to show what the budget saves.
        case slowUnbudgeted = "one-hertz-wav-unbudgeted"
    }

    @Option(help: "Audio length in seconds for the FLAC cases and the decoder's limit (the daemon's max_audio_seconds).")
    var seconds: Double = 120
    @Option(help: "Request line limit in bytes (the daemon's max_line_bytes); the audio must fit in it as base64.")
    var lineBytes: Int = 16 << 20
    @Option(help: "Folder for the generated files (reused when present).")
    var workDir: String = "/tmp/voiceprint-bench"
    @Option(name: .customLong("case"), help: "Run only this case, in this process (the driver's child mode).")
    var only: Case?

    static let rate = 192_000, channels = 8

    func run() throws {
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        if let only { return try measure(only) }
        try prepare()
        print("libsndfile \(SoundFile.libraryVersion); \(cpuModel); limit \(Int(seconds)) s, line \(lineBytes) bytes")
        print("case".padding(toLength: 26, withPad: " ", startingAt: 0)
              + "     bytes    wall s   CPU s  peak RSS +MB  outcome")
        fflush(nil) // every stream: the children write to the same stdout
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        for item in Case.allCases {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = ["decode", "--case", item.rawValue, "--seconds", String(seconds), "--line-bytes", String(lineBytes),
                               "--work-dir", workDir]
            // OpenBLAS (linked, unused here) otherwise starts spinning threads that count as our CPU time;
            // the daemon's workers run it single-threaded too.
            child.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 }
            try child.run()
            child.waitUntilExit()
        }
    }

    private func path(_ item: Case) -> String {
        switch item {
        case .silence: return workDir + "/silence-192k-8ch-\(Int(seconds))s.flac"
        case .noise: return workDir + "/noise-192k-8ch-\(Int(seconds))s-first-\(fits)-bytes.flac"
        case .slow, .slowUnbudgeted: return workDir + "/one-hertz-100-frames.wav"
        }
    }

    /// Audio bytes that fit in a request line: base64 turns 3 bytes into 4, and the JSON around it needs room.
    private var fits: Int { (lineBytes - 1_024) / 4 * 3 }

    /// Writes the test files once; the full noise FLAC (≈ 350 MB) is cut and removed.
    private func prepare() throws {
        let frames = Int(seconds) * Self.rate
        let chunkFrames = Self.rate / 4
        if !FileManager.default.fileExists(atPath: path(.silence)) {
            var written = 0
            try SoundFile.write(sampleRate: Self.rate, channels: Self.channels, format: .flac16, to: path(.silence)) {
                guard written < frames else { return nil }
                written += chunkFrames
                return [Float](repeating: 0, count: chunkFrames * Self.channels)
            }
        }
        if !FileManager.default.fileExists(atPath: path(.noise)) {
            let full = workDir + "/noise-full.flac"
            var rng = SeededGenerator(seed: 11)
            var written = 0
            try SoundFile.write(sampleRate: Self.rate, channels: Self.channels, format: .flac16, to: full) {
                guard written < frames else { return nil }
                written += chunkFrames
                return (0..<(chunkFrames * Self.channels)).map { _ in Float(rng.unit() * 0.6 - 0.3) }
            }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
            try bytes.prefix(fits).write(to: URL(fileURLWithPath: path(.noise)))
            try FileManager.default.removeItem(atPath: full)
        }
        if !FileManager.default.fileExists(atPath: path(.slow)) {
            try SoundFile.write([Float](repeating: 0.1, count: 100), sampleRate: 1, channels: 1, format: .wavPCM16,
                                to: path(.slow))
        }
    }

    /// Decodes one case from memory, as the daemon does with bytes from the socket.
    private func measure(_ item: Case) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(item))))
        var options = AudioDecoderOptions()
        options.maximumSeconds = seconds
        if item == .slowUnbudgeted { options.minimumSampleRate = 1 }
        let decoder = AudioDecoder(options: options)
        // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
        let reset = (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
        let rssBefore = Self.status(reset ? "VmRSS" : "VmHWM")
        let cpuBefore = Self.cpuSeconds()
        let start = DispatchTime.now().uptimeNanoseconds
        let outcome: String
        do {
            let decoded = try decoder.decode(bytes: bytes, label: "audio")
            outcome = "ok: \(decoded.audio.samples.count) samples at 16 kHz"
        } catch {
            outcome = String("\(error)".dropFirst("audio: ".count))
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let cpu = Self.cpuSeconds() - cpuBefore
        let growth = Double(Self.status("VmHWM") - rssBefore) / 1024
        print(item.rawValue.padding(toLength: 26, withPad: " ", startingAt: 0)
              + String(format: "%10d %9.3f %7.3f %13.1f  ", bytes.count, wall, cpu, growth) + outcome
              + (reset ? "" : " (VmHWM not reset: growth over the earlier peak)"))
    }

    /// A "kB" field of /proc/self/status.
    private static func status(_ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private var cpuModel: String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("model name") } ?? "model name: unknown"
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }
}
