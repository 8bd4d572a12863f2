import ArgumentParser
import Foundation
import Logging
import VoiceprintAudio
import VoiceprintEngine
import VoiceprintPostgres
import VoiceprintProtocol
import VoiceprintStore

/// The fleet store against the embedded one, in the same run (docs/benchmarks.md):
/// a daemon over N enrolled speakers on SQLite and on PostgreSQL, start-to-ready,
/// resident memory, identify and verify latency; then two daemons on the one
/// database, and how long after A acknowledges an enrollment or a deletion B's
/// index has it (B's `status` speaker count, polled every millisecond).
/// `scripts/bench-fleet` runs the throwaway PostgreSQL server and passes its URL.
struct FleetBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet", abstract: "voiceprintd on SQLite and on a shared PostgreSQL store, side by side.")

    @Option(help: "The daemon binary (release build).") var binary = ".build/release/voiceprintd"
    @Option(help: "Model file.") var model = "Models/default.safetensors"
    @Option(help: "PostgreSQL URL of an empty database (libpq syntax).") var store: String
    @Option(help: "Enrolled speakers.") var speakers = 100_000
    @Option(help: "Identify and verify requests per store, over three rounds (upper bound).") var requests = 150
    @Option(help: "Enrollments and deletions timed from daemon A to daemon B.") var syncRounds = 20
    @Option(help: "Write the measurements as JSON here.") var json: String?

    func run() throws {
        let work = FileManager.default.temporaryDirectory.path + "/voiceprint-fleet-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work + "/sqlite/state", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rows = [[String: String]]()
        func row(_ name: String, _ shown: String, _ range: String, _ value: Double) {
            rows.append(["name": name, "median": shown, "range": range, "value": String(value)])
            print(name.padding(toLength: 64, withPad: " ", startingAt: 0) + " " + shown + (range.isEmpty ? "" : "  (" + range + ")"))
        }

        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: model)))
        let modelID = VoiceprintEngine.fingerprint(bytes)
        let dimension = try VoiceprintEngine(modelBytes: bytes, source: model).dimension
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let postgres = try PostgresEnrollmentStore(url: PostgresURL(store), logger: logger)
        let sqlite = try SQLiteEnrollmentStore(path: work + "/sqlite/state/enrollments.sqlite")
        for (name, target) in [("SQLite", sqlite as any EnrollmentStoring), ("PostgreSQL", postgres)] {
            let start = Date()
            try RandomPopulation.store(speakers, dimension: dimension, model: modelID, seed: UInt64(speakers), into: target)
            row("\(name): storing \(speakers) speakers (bulk, 10 000 a transaction)",
                String(format: "%.1f s", Date().timeIntervalSince(start)), "", Date().timeIntervalSince(start))
        }
        postgres.close()

        var rng = SeededGenerator(seed: 5)
        let voice = SyntheticVoice.random(using: &rng)
        let clip = { (r: inout SeededGenerator) in
            [UInt8](try! SoundFile.encode(voice.utterance(seconds: 3, using: &r), sampleRate: 16_000, channels: 1, format: .wavPCM16))
        }
        let enrollment = (0..<3).map { _ in clip(&rng) }
        let probe = clip(&rng)
        func line(_ request: Request) -> [UInt8] { Array((request.encoded() + "\n").utf8) }

        // Three rounds, the engines taking turns within each: the cores are shared, and a load
        // that drifts during the run then weighs on both alike.
        let engines = [("SQLite", [String]()), ("PostgreSQL", ["--store", store])]
        var ready = [String: [Double]](), memory = [String: [Double]](), latency = [String: [Double]](), errors = [String: Int]()
        for _ in 0..<3 {
            for (name, flags) in engines {
                let daemon = try DaemonUnderTest(binary: binary, model: model, directory: work + "/" + name.lowercased(), arguments: flags)
                ready[name, default: []].append(daemon.readyAfter! * 1000)
                memory[name, default: []].append(daemon.residentMB)
                let client = BenchClient(path: daemon.socket)!
                for audio in enrollment { _ = client.request(line(.enroll(speaker: "bench", audio: .data(audio)))) }
                for (op, request) in [("identify (top 5)", Request.identify(audio: .data(probe), top: 5)),
                                      ("verify", Request.verify(speaker: "bench", audio: .data(probe), threshold: nil))] {
                    let result = DaemonBench.load(socket: daemon.socket, lines: [[line(request)]], clients: 1,
                                                  requests: max(1, requests / 3), seconds: 60)
                    latency[name + " " + op, default: []] += result.latencies.map { $0 * 1000 }
                    errors[name + " " + op, default: 0] += result.errors
                }
                _ = client.request(line(.delete(speaker: "bench")))
                daemon.stop()
            }
        }
        func spread(_ values: [Double], _ unit: String, _ format: String) -> (String, String, Double) {
            let s = values.sorted()
            return (String(format: format, s[s.count / 2]) + " " + unit,
                    String(format: format + " – " + format, s.first!, s.last!) + " " + unit, s[s.count / 2])
        }
        for (name, _) in engines {
            let r = spread(ready[name]!, "ms", "%.0f"), m = spread(memory[name]!, "MB", "%.1f")
            row("\(name): start to READY=1 with \(speakers) speakers (3 starts)", r.0, r.1, r.2)
            row("\(name): resident memory with \(speakers) speakers (3 starts)", m.0, m.1, m.2)
        }
        for op in ["identify (top 5)", "verify"] {
            for (name, _) in engines {
                let l = spread(latency[name + " " + op]!, "ms", "%.1f")
                row("\(name): \(op) among \(speakers + 1) speakers, one client: median", l.0,
                    l.1 + ", \(latency[name + " " + op]!.count) requests, \(errors[name + " " + op]!) errors", l.2)
            }
        }

        // Two daemons on the one database: A's acknowledgement to B's index.
        let a = try DaemonUnderTest(binary: binary, model: model, directory: work + "/a", arguments: ["--store", store])
        let b = try DaemonUnderTest(binary: binary, model: model, directory: work + "/b", arguments: ["--store", store])
        defer { a.stop(); b.stop() }
        let ca = BenchClient(path: a.socket)!, cb = BenchClient(path: b.socket)!
        func speakersOnB() -> Int {
            guard let text = cb.request(line(.status)), let data = text.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return -1 }
            return object["speakers"] as? Int ?? -1
        }
        var enrolls = [Double](), deletes = [Double]()
        for round in 0..<syncRounds {
            let before = speakersOnB()
            for (expected, action) in [(before + 1, Request.enroll(speaker: "sync\(round)", audio: .data(enrollment[round % 3]))),
                                       (before, Request.delete(speaker: "sync\(round)"))] {
                guard let answer = ca.request(line(action)), answer.contains("\"ok\":true") else {
                    throw ValidationErrorText("daemon A refused \(action.operation.rawValue)")
                }
                let acknowledged = Date()
                while speakersOnB() != expected {
                    guard Date().timeIntervalSince(acknowledged) < 10 else { throw ValidationErrorText("daemon B never saw round \(round)") }
                    usleep(1000)
                }
                let ms = Date().timeIntervalSince(acknowledged) * 1000
                if expected > before { enrolls.append(ms) } else { deletes.append(ms) }
            }
        }
        for (what, values) in [("enrollment", enrolls.sorted()), ("deletion", deletes.sorted())] {
            let median = values[values.count / 2]
            row("\(what) on A to B's index (\(values.count) rounds): median", String(format: "%.1f ms", median),
                String(format: "%.1f – %.1f ms", values.first!, values.last!), median)
        }
        if let json {
            try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: json))
        }
    }
}
