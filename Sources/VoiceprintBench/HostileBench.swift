import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintProtocol

/// What hostile peers cost voiceprintd (issue: hostile peers): resident memory
/// while `max_connections` connections hold partial lines and pipeline requests
/// without reading, and a normal client's verify latency meanwhile. One uid
/// plays every attacker here, so the per-uid connection limit is raised to the
/// total: the worst case for the global bounds. Bounded in count and time.
struct HostileBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile", abstract: "Memory and latency of voiceprintd under max_connections hostile clients.")

    @Option(help: "The daemon binary (release build).") var binary = ".build/release/voiceprintd"
    @Option(help: "Model file.") var model = "Models/default.safetensors"
    @Option(help: "Hostile connections (the daemon's max_connections).") var connections = 256
    @Option(help: "Bytes of unfinished line each hostile connection tries to send.") var partialBytes = 1 << 20
    @Option(help: "Of the hostile connections, how many pipeline status and never read.") var pipeliners = 32
    @Option(help: "Seconds the attack runs.") var seconds = 8.0
    @Option(help: "Write the measurements as JSON here.") var json: String?

    func run() throws {
        let work = FileManager.default.temporaryDirectory.path + "/voiceprint-hostile-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rows = [[String: String]]()
        func row(_ name: String, _ median: String, _ range: String, _ value: Double) {
            rows.append(["name": name, "median": median, "range": range, "value": String(value)])
            print(name.padding(toLength: 60, withPad: " ", startingAt: 0) + " " + median + "  (" + range + ")")
        }
        let daemon = try DaemonUnderTest(binary: binary, model: model, directory: work, arguments: [
            "--max-connections", "\(connections + 4)", "--max-connections-per-uid", "\(connections + 4)", "--request-deadline", "60"])
        var rng = SeededGenerator(seed: 8)
        let voice = SyntheticVoice.random(using: &rng)
        let clip = { (r: inout SeededGenerator) in
            [UInt8](try! SoundFile.encode(voice.utterance(seconds: 3, using: &r), sampleRate: 16_000, channels: 1, format: .wavPCM16))
        }
        let client = BenchClient(path: daemon.socket)!
        for _ in 0..<3 { _ = client.request(Array((Request.enroll(speaker: "bench", audio: .data(clip(&rng))).encoded() + "\n").utf8)) }
        let verify = Array((Request.verify(speaker: "bench", audio: .data(clip(&rng)), threshold: nil).encoded() + "\n").utf8)
        func verifyLatencies(_ n: Int) -> [Double] {
            (0..<n).compactMap { _ in
                let start = Date()
                guard let answer = client.request(verify), answer.contains(#""ok":true"#) else { return nil }
                return Date().timeIntervalSince(start) * 1000
            }.sorted()
        }
        let unloaded = verifyLatencies(20)
        row("resident memory, idle", String(format: "%.1f MB", daemon.residentMB), "", daemon.residentMB)

        // The most expensive requests the limits let through, one at a time: their cost per worker.
        let longest = [UInt8](try SoundFile.encode(voice.utterance(seconds: 119, using: &rng), sampleRate: 16_000, channels: 1, format: .wavPCM16))
        var written = 0
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try SoundFile.write(sampleRate: 192_000, channels: 8, format: .flac16, to: work + "/widest.flac") {
            guard written < 119 * 192_000 else { return nil }
            written += 48_000
            return [Float](repeating: 0, count: 48_000 * 8)
        }
        let widest = [UInt8](try Data(contentsOf: URL(fileURLWithPath: work + "/widest.flac")))
        for (name, audio) in [("119 s of speech, 16 kHz WAV", longest), ("119 s of silence, 192 kHz × 8 ch FLAC", widest)] {
            let line = Array((Request.verify(speaker: "bench", audio: .data(audio), threshold: nil).encoded() + "\n").utf8)
            let before = daemon.residentMB
            daemon.resetPeak()
            let start = Date()
            let answer = client.request(line) ?? "no answer"
            let ms = Date().timeIntervalSince(start) * 1000
            let code = answer.contains(#""ok":true"#) ? "ok" : (answer.split(separator: "\"").dropFirst(5).first.map(String.init) ?? "error")
            row("worst legal request: \(name): time", String(format: "%.0f ms", ms), "\(line.count) bytes, answer \(code)", ms)
            row("worst legal request: \(name): peak memory growth", String(format: "%.1f MB", daemon.peakMB - before), "", daemon.peakMB - before)
        }
        daemon.resetPeak()

        // The attack: every connection starts a line it never finishes, or pipelines without reading.
        let status = Array(#"{"op":"status"}"#.utf8) + [0x0A]
        let pipeline = Array([[UInt8]](repeating: status, count: 2048).joined())
        let partial = Array(#"{"op":"verify","speaker":"bench","audio":{"data":""#.utf8) + [UInt8](repeating: 0x41, count: partialBytes)
        var sockets = [Int32]()
        for _ in 0..<connections {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard UnixSocketAddress(path: daemon.socket)!.withSockaddr({ connect(fd, $0, $1) }) == 0 else { close(fd); continue }
            sockets.append(fd)
        }
        var refused = 0, peak = 0.0, sent = [Int](repeating: 0, count: sockets.count)
        let deadline = Date().addingTimeInterval(seconds)
        var loaded = [Double]()
        while Date() < deadline {
            for (i, fd) in sockets.enumerated() where fd >= 0 {
                let bytes = i < pipeliners ? pipeline : Array(partial[min(sent[i], partial.count)...])
                guard !bytes.isEmpty else { continue }
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                if n > 0 { sent[i] += n } else if n < 0 && errno != EAGAIN { close(fd); sockets[i] = -1; refused += 1 }
            }
            peak = max(peak, daemon.peakMB)
            loaded += verifyLatencies(1)
        }
        loaded.sort()
        peak = max(peak, daemon.peakMB)
        func p50(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs[xs.count / 2] }
        row("hostile connections opened", "\(sockets.count)", "\(pipeliners) pipelining without reading, the rest holding partial lines", Double(sockets.count))
        row("hostile connections closed by the daemon (busy)", "\(refused)", "max_buffered_bytes reached", Double(refused))
        row("peak resident memory under the attack", String(format: "%.1f MB", peak), String(format: "%d × %d-byte partial lines tried", connections - pipeliners, partialBytes), peak)
        row("verify 3 s, one client, unloaded: p50", String(format: "%.1f ms", p50(unloaded)), "\(unloaded.count) requests", p50(unloaded))
        row("verify 3 s, one client, during the attack: p50", String(format: "%.1f ms", p50(loaded)), "\(loaded.count) requests", p50(loaded))
        let stopStart = Date()
        daemon.process.terminate()
        daemon.process.waitUntilExit()
        row("SIGTERM to exit with the attackers still connected", String(format: "%.2f s", Date().timeIntervalSince(stopStart)), "", Date().timeIntervalSince(stopStart))
        for fd in sockets where fd >= 0 { close(fd) }
        if let json { try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: json)) }
    }
}
