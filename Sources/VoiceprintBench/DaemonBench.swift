import ArgumentParser
import Foundation
import VoiceprintAudio
import VoiceprintDaemon
import VoiceprintEngine
import VoiceprintProtocol
import VoiceprintStore

/// End-to-end service figures through the real socket: verify latency at
/// several concurrency levels, identify against large enrolled populations,
/// start-to-ready time and resident memory. Every loop is bounded in count and time.
struct DaemonBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon", abstract: "Latency and throughput of voiceprintd through its Unix socket.")

    @Option(help: "The daemon binary (release build).") var binary = ".build/release/voiceprintd"
    @Option(help: "Model file.") var model = "Models/default.safetensors"
    @Option(help: "Concurrent clients for verify, comma-separated.") var concurrency = "1,8,32"
    @Option(help: "Verify requests per concurrency level (upper bound).") var requests = 600
    @Option(help: "Seconds per concurrency level (upper bound).") var seconds = 20.0
    @Option(help: "Enrolled population sizes for identify, comma-separated.") var speakers = "1000,10000,100000"
    @Option(help: "Write the measurements as JSON here.") var json: String?
    @Option(parsing: .upToNextOption, help: "Extra voiceprintd flags for the verify load (e.g. --batch-max-wait-ms 1).")
    var daemonFlags: [String] = []
    @Option(help: "Verify with the clip-*.wav files in this folder (from `clips`) instead of one synthetic clip; each speaker is enrolled with the first three.")
    var clips: String?
    @Flag(help: "Also time verify among each identify population with score_normalization = as-norm-enrolled beside cosine.")
    var enrolledCohort = false

    func run() throws {
        let work = FileManager.default.temporaryDirectory.path + "/voiceprint-daemon-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rows = [[String: String]]()
        func row(_ name: String, _ median: String, _ range: String, _ value: Double) {
            rows.append(["name": name, "median": median, "range": range, "value": String(value)])
            print(name.padding(toLength: 60, withPad: " ", startingAt: 0) + " " + median + "  (" + range + ")")
        }

        // Start-to-ready, five times, on an empty store.
        var readies = [Double]()
        for i in 0..<5 {
            let daemon = try DaemonUnderTest(binary: binary, model: model, directory: work + "/start\(i)")
            readies.append(daemon.readyAfter! * 1000)
            daemon.stop()
        }
        readies.sort()
        row("start to READY=1 (empty store)", String(format: "%.0f ms", readies[2]), String(format: "%.0f – %.0f ms", readies[0], readies[4]), readies[2])

        // Verify under load.
        let daemon = try DaemonUnderTest(binary: binary, model: model, directory: work + "/load", arguments: daemonFlags)
        row("resident memory, idle", String(format: "%.1f MB", daemon.residentMB), "", daemon.residentMB)
        var rng = SeededGenerator(seed: 5)
        let voice = SyntheticVoice.random(using: &rng)
        let clip = { (r: inout SeededGenerator) in
            Data(try! SoundFile.encode(voice.utterance(seconds: 3, using: &r), sampleRate: 16_000, channels: 1, format: .wavPCM16))
        }
        let client = BenchClient(path: daemon.socket)!
        // One speaker per client: the daemon runs one verify per (speaker, peer uid) at a time
        // (attempt limits), and every client here is the same uid.
        let levels = concurrency.split(separator: ",").compactMap { Int($0) }
        var enrollment = (0..<3).map { _ in [UInt8](clip(&rng)) }
        var verifyAudio = [[UInt8](clip(&rng))]
        if let clips {
            verifyAudio = try ClipsBench.read(clips)
            enrollment = Array(verifyAudio.prefix(3))
        }
        for i in 0..<(levels.max() ?? 1) {
            for audio in enrollment { _ = client.request(Array((Request.enroll(speaker: "bench\(i)", audio: .data(audio)).encoded() + "\n").utf8)) }
        }
        for level in levels {
            // Client i verifies speaker bench<i> with clips i, i + level, i + 2 level, … in turn: every clip is sent.
            let verifyLines = (0..<level).map { i in
                stride(from: i, to: max(verifyAudio.count, level), by: level).map { j in
                    Array((Request.verify(speaker: "bench\(i)", audio: .data(verifyAudio[j % verifyAudio.count]), threshold: nil).encoded() + "\n").utf8)
                }
            }
            let result = Self.load(socket: daemon.socket, lines: verifyLines, clients: level, requests: requests, seconds: seconds)
            let s = result.latencies.sorted()
            func pct(_ p: Double) -> Double { s.isEmpty ? .nan : s[min(s.count - 1, Int(Double(s.count) * p))] * 1000 }
            row("verify 3 s, \(level) client(s): p50", String(format: "%.1f ms", pct(0.5)), "\(s.count) requests, \(result.errors) errors", pct(0.5))
            row("verify 3 s, \(level) client(s): p95", String(format: "%.1f ms", pct(0.95)), "", pct(0.95))
            row("verify 3 s, \(level) client(s): p99", String(format: "%.1f ms", pct(0.99)), "", pct(0.99))
            row("verify 3 s, \(level) client(s): throughput", String(format: "%.0f/s", result.throughput), "", result.throughput)
        }
        row("resident memory after the load", String(format: "%.1f MB", daemon.residentMB), "", daemon.residentMB)
        daemon.stop()

        // Identify against large populations inserted straight into the store, in the
        // model's own dimension (rows of another dimension are another model's, and the
        // daemon would index none of them).
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: model)))
        let modelID = VoiceprintEngine.fingerprint(bytes)
        let dimension = try VoiceprintEngine(modelBytes: bytes, source: model).dimension
        let identifyLine = Array((Request.identify(audio: .data([UInt8](clip(&rng))), top: 5).encoded() + "\n").utf8)
        for count in speakers.split(separator: ",").compactMap({ Int($0) }) {
            let directory = work + "/identify\(count)"
            try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
            let store = try SQLiteEnrollmentStore(path: directory + "/state/enrollments.sqlite")
            try RandomPopulation.store(count, dimension: dimension, model: modelID, seed: UInt64(count), into: store)
            store.close()
            let daemon = try DaemonUnderTest(binary: binary, model: model, directory: directory)
            // A figure for an index that holds fewer speakers than claimed would be a lie.
            let status = BenchClient(path: daemon.socket)?.request(Array(#"{"op":"status"}\#n"#.utf8))
            let indexed = status.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["speakers"] as? Int
            guard indexed == count else {
                daemon.stop()
                throw ValidationErrorText("the daemon indexed \(indexed.map(String.init) ?? "no") speakers of the \(count) stored")
            }
            let result = Self.load(socket: daemon.socket, lines: [[identifyLine]], clients: 1, requests: 50, seconds: seconds)
            let s = result.latencies.sorted()
            let median = s.isEmpty ? .nan : s[s.count / 2] * 1000
            row("identify among \(count) speakers (one client): median", String(format: "%.1f ms", median),
                String(format: "%.1f – %.1f ms", (s.first ?? .nan) * 1000, (s.last ?? .nan) * 1000), median)
            row("start to READY=1 with \(count) speakers", String(format: "%.0f ms", daemon.readyAfter! * 1000), "", daemon.readyAfter! * 1000)
            row("resident memory with \(count) speakers", String(format: "%.1f MB", daemon.residentMB), "", daemon.residentMB)
            daemon.stop()
            if enrolledCohort { try verifyCost(population: count, directory: directory, audio: [UInt8](clip(&rng)), row: row) }
        }
        if let json {
            try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: json))
        }
    }

    /// What `score_normalization = as-norm-enrolled` adds to a verify among `population`
    /// speakers (two index scans and their candidates' exact rescoring), beside plain
    /// cosine on the same store, one client.
    func verifyCost(population: Int, directory: String, audio: [UInt8], row: (String, String, String, Double) -> Void) throws {
        guard population >= 20 else { return }  // the default's enrolled cohort starts at 20 speakers
        let line = Array((Request.verify(speaker: "speaker1", audio: .data(audio), threshold: nil).encoded() + "\n").utf8)
        for (normalization, label) in [("none", "cosine"), ("as-norm-enrolled", "enrolled cohort")] {
            // DaemonUnderTest turns replay refusals and lockouts off.
            let daemon = try DaemonUnderTest(binary: binary, model: model, directory: directory, arguments: ["--score-normalization", normalization])
            let result = Self.load(socket: daemon.socket, lines: [[line]], clients: 1, requests: 100, seconds: seconds)
            daemon.stop()
            let s = result.latencies.sorted()
            let median = s.isEmpty ? .nan : s[s.count / 2] * 1000
            row("verify among \(population) speakers, \(label): median", String(format: "%.1f ms", median),
                "\(s.count) requests, \(result.errors) errors", median)
        }
    }

    struct LoadResult {
        var latencies: [Double]
        var errors: Int
        var throughput: Double
    }

    /// `clients` connections, client i sending the lines of `lines[i]` in turn, back to back,
    /// until `requests` in total have been answered or `seconds` have passed.
    static func load(socket: String, lines: [[[UInt8]]], clients: Int, requests: Int, seconds: Double) -> LoadResult {
        let lock = NSLock()
        nonisolated(unsafe) var latencies = [Double]()
        nonisolated(unsafe) var errors = 0
        nonisolated(unsafe) var issued = 0
        let deadline = Date().addingTimeInterval(seconds)
        let start = Date()
        // One thread per client: concurrentPerform would run only one per core at a time.
        let done = DispatchGroup()
        for index in 0..<clients {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                runClient(lines[index % lines.count])
            }
        }
        done.wait()
        @Sendable func runClient(_ lines: [[UInt8]]) {
            guard let client = BenchClient(path: socket) else { lock.withLock { errors += 1 }; return }
            var next = 0
            while Date() < deadline {
                let line = lines[next % lines.count]
                next += 1
                let go = lock.withLock { () -> Bool in
                    guard issued < requests else { return false }
                    issued += 1
                    return true
                }
                guard go else { return }
                let t0 = DispatchTime.now().uptimeNanoseconds
                let response = client.request(line)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                lock.withLock {
                    if let response, response.contains("\"ok\":true") { latencies.append(elapsed) } else { errors += 1 }
                }
            }
        }
        let wall = Date().timeIntervalSince(start)
        return LoadResult(latencies: latencies, errors: errors, throughput: Double(latencies.count) / wall)
    }
}
