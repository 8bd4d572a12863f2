import Foundation
import Testing
import VoiceprintAudio
import VoiceprintCalibration
import VoiceprintDaemon
import VoiceprintEngine
import VoiceprintModel
import VoiceprintTestSupport

/// Security levels end to end: the offline enrollment protocol (what
/// `evaluate-enrollment` and `calibrate` run) decides exactly as the daemon does
/// for the same files, and the level in use changes the daemon's decisions.
@Suite(.serialized) struct OperatingPointsDaemonTests {
    static let speakers = 4
    static let utterancesEach = 5
    static let enrolled = 2

    /// ROOT/vN/uMM.wav for the fixture's four synthetic voices.
    static func corpus(in directory: TemporaryDirectory) throws -> String {
        let root = directory.file("corpus")
        for v in 0..<speakers {
            try FileManager.default.createDirectory(atPath: root + "/v\(v)", withIntermediateDirectories: true)
            for u in 0..<utterancesEach {
                let bytes = Data(base64Encoded: DaemonFixture.audio(voice: v, seconds: 2.5, seed: UInt64(500 + u)))!
                try bytes.write(to: URL(fileURLWithPath: root + "/v\(v)/u\(String(format: "%02d", u)).wav"))
            }
        }
        return root
    }

    /// The fixture's random model, calibrated on `root` for K = 1 … enrolled, written to `path`.
    static func calibratedModel(corpus root: String, at path: String, directory: TemporaryDirectory) throws -> (OperatingPoints, EnrollmentProtocol) {
        let plain = directory.file("plain.safetensors")
        try DaemonFixture.writeModel(to: plain)
        let engine = try VoiceprintEngine(modelPath: plain)
        let trials = EnrollmentProtocol.embed(try EnrollmentCorpus(root: root), engine: engine, threads: 2)
        #expect(trials.failures.isEmpty, "\(trials.failures)")
        let scores = (1...enrolled).map { trials.scores(enrolling: $0, scorer: engine.scorer) }
        // Targets far apart, so that the three levels give different thresholds even on 60 impostor trials.
        let calibrator = OperatingPointCalibrator(targets: [.low: 0.5, .standard: 0.2, .high: 0.001])
        let table = try calibrator.calibrate([.init(name: "synthetic", scores: scores)], scoring: "cosine", description: "test corpus")
        var file = try SafeTensors(path: plain)
        file.metadata["operating_points"] = table.encoded()
        try file.write(to: path)
        return (table, trials)
    }

    static func fixture(model: String, _ adjust: @escaping (inout Configuration) -> Void = { _ in }) async throws -> DaemonFixture {
        try await DaemonFixture { c in
            c.model = model
            c.threshold = nil
            // Every trial is an attempt: no lockout, no replay refusal of a file verified against several speakers.
            c.maxFailedAttempts = 1000
            c.replayWindowSeconds = 0
            adjust(&c)
        }
    }

    static func verify(_ client: LineClient, _ speaker: String, _ path: String, level: String? = nil) throws -> [String: Any] {
        let audio = try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString()
        return try client.request(#"{"op":"verify","speaker":"\#(speaker)","audio":{"data":"\#(audio)"}\#(level.map { ",\"security_level\":\"\($0)\"" } ?? "")}"#)
    }

    @Test func theEnrollmentProtocolDecidesAsTheDaemonDoesAtEveryLevel() async throws {
        let directory = try TemporaryDirectory("operating-points")
        let root = try Self.corpus(in: directory)
        let model = directory.file("calibrated.safetensors")
        let (table, trials) = try Self.calibratedModel(corpus: root, at: model, directory: directory)
        #expect(try ModelFile.load(path: model).metadata.operatingPoints == table, "the thresholds load from the model file")
        let fixture = try await Self.fixture(model: model)
        let client = try fixture.client()
        for speaker in trials.corpus.speakers {
            for file in speaker.utterances.prefix(Self.enrolled) {
                let audio = try Data(contentsOf: URL(fileURLWithPath: file)).base64EncodedString()
                let r = try client.request(#"{"op":"enroll","speaker":"\#(speaker.name)","audio":{"data":"\#(audio)"}}"#)
                #expect(r["ok"] as? Bool == true, "\(r)")
            }
        }
        let engine = try VoiceprintEngine(modelPath: model)
        let offline = trials.trials(enrolling: Self.enrolled, scorer: engine.scorer)
        #expect(offline.count == Self.speakers * (Self.utterancesEach - Self.enrolled) + Self.speakers * (Self.speakers - 1) * Self.utterancesEach)
        var decisions = [OperatingPoints.Level: Int]()
        for level in OperatingPoints.Level.allCases {
            let threshold = table.threshold(level, utterances: Self.enrolled)
            for trial in offline {
                // The configured level (standard) when none is asked for, else the admin's per-request level.
                let r = try Self.verify(client, trial.enrolled, trial.test, level: level == .standard ? nil : level.rawValue)
                let expected = trial.score >= threshold
                #expect(r["accepted"] as? Bool == expected, "\(level) \(trial.enrolled) ← \(trial.test): offline \(trial.score) vs \(threshold); daemon \(r)")
                #expect(abs((r["score"] as? Double ?? 9) - Double(trial.score)) < 1e-4, "\(r)")
                #expect(abs((r["threshold"] as? Double ?? 9) - Double(threshold)) < 1e-4, "\(r)")
                if expected { decisions[level, default: 0] += 1 }
            }
        }
        // A stricter level accepts no more, and these targets make the levels differ.
        #expect(decisions[.low, default: 0] >= decisions[.standard, default: 0])
        #expect(decisions[.standard, default: 0] >= decisions[.high, default: 0])
        #expect(decisions[.low, default: 0] > decisions[.high, default: 0], "\(decisions)")
        await fixture.stop()
    }

    @Test func statusReportsTheLevelItsTargetAndThreshold() async throws {
        let directory = try TemporaryDirectory("operating-points")
        let root = try Self.corpus(in: directory)
        let model = directory.file("calibrated.safetensors")
        let (table, _) = try Self.calibratedModel(corpus: root, at: model, directory: directory)
        for level in OperatingPoints.Level.allCases {
            let fixture = try await Self.fixture(model: model) { $0.securityLevel = level }
            let status = try fixture.client().request(#"{"op":"status"}"#)["model"] as! [String: Any]
            #expect(status["security_level"] as? String == level.rawValue)
            #expect(status["target_far"] as? Double == table.point(level).targetFAR)
            // K = 3 is past this table's K range: its last threshold.
            #expect(abs((status["threshold"] as? Double ?? 9) - Double(table.threshold(level, utterances: 3))) < 1e-6, "\(status)")
            #expect((status["thresholds_by_utterances"] as? [Double])?.map { Float($0) } == table.point(level).thresholds)
            await fixture.stop()
        }
        // An explicit threshold overrides the levels; so does a model without them.
        let overridden = try await Self.fixture(model: model) { $0.threshold = 0.25 }
        let o = try overridden.client().request(#"{"op":"status"}"#)["model"] as! [String: Any]
        #expect(o["security_level"] is NSNull && o["target_far"] is NSNull && o["threshold"] as? Double == 0.25, "\(o)")
        await overridden.stop()
        let plain = try await DaemonFixture()
        let p = try plain.client().request(#"{"op":"status"}"#)["model"] as! [String: Any]
        #expect(p["security_level"] is NSNull && p["threshold"] as? Double == 0.5, "\(p)")
        await plain.stop()
    }

    @Test func aBadSecurityLevelIsABadRequest() async throws {
        let fixture = try await DaemonFixture { $0.threshold = nil }
        let r = try fixture.client().request(#"{"op":"verify","speaker":"a","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"},"security_level":"lax"}"#)
        #expect(code(r) == "bad_request", "\(r)")
        #expect(((r["error"] as? [String: Any])?["message"] as? String)?.contains("lax") == true)
        // A valid level for a model without levels is refused, not silently the single threshold.
        let unavailable = try fixture.client().request(#"{"op":"verify","speaker":"a","audio":{"data":"\#(DaemonFixture.audio(voice: 0))"},"security_level":"high"}"#)
        #expect(code(unavailable) == "bad_request", "\(unavailable)")
        #expect(((unavailable["error"] as? [String: Any])?["message"] as? String)?.contains("no security levels") == true, "\(unavailable)")
        await fixture.stop()
    }
}

extension OperatingPointsDaemonTests {
    /// `calibrate` edits the container's metadata only: a fusion file keeps its encoders
    /// and fusion description, and the daemon's engine loads it with its levels.
    @Test func aFusionFileKeepsItsFusionWhenCalibrated() throws {
        let directory = try TemporaryDirectory("operating-points")
        let path = directory.file("fusion.safetensors")
        try DaemonFixture.writeFusion(to: path)
        let before = try SafeTensors(path: path)
        var file = before
        let table = OperatingPoints(scoring: "cosine", levels: Dictionary(uniqueKeysWithValues: OperatingPoints.Level.allCases.enumerated().map { i, level in
            (level, OperatingPoints.Point(targetFAR: level.defaultTargetFAR, thresholds: [0.5 + Float(i) / 10], falseAcceptRates: [0], falseRejectRates: [0]))
        }), calibration: "test", impostorTrials: [1], targetTrials: [1])
        file.metadata["operating_points"] = table.encoded()
        try file.write(to: path)
        let loaded = try ModelFile.load(path: path)
        #expect(loaded.metadata.fusion != nil && loaded.encoders.count == 2)
        #expect(loaded.metadata.operatingPoints == table)
        let after = try SafeTensors(path: path)
        #expect(after.tensors == before.tensors)
        #expect(after.metadata.filter { $0.key != "operating_points" } == before.metadata)
        #expect(try VoiceprintEngine(modelPath: path).metadata?.operatingPoints == table)
    }
}

extension OperatingPointsDaemonTests {
    static func voiceprint(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLIEndToEndTests.cli)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// The commands a deployer runs: calibrate writes a model whose levels
    /// evaluate-enrollment then reports, per K, at the thresholds in the file.
    @Test func calibrateAndEvaluateEnrollmentFromTheCommandLine() throws {
        let directory = try TemporaryDirectory("operating-points")
        let root = try Self.corpus(in: directory)
        let plain = directory.file("plain.safetensors"), calibrated = directory.file("calibrated.safetensors")
        try DaemonFixture.writeModel(to: plain)
        let calibrate = try Self.voiceprint(["calibrate", "--model", plain, "--data", root, "--out", calibrated, "--max-utterances", "2"])
        #expect(calibrate.status == 0, "\(calibrate.output)")
        let table = try #require(try ModelFile.load(path: calibrated).metadata.operatingPoints)
        #expect(table.maximumUtterances == 2 && table.calibration.contains("corpus (4 speakers"), "\(table.calibration)")
        let evaluate = try Self.voiceprint(["evaluate-enrollment", "--model", calibrated, "--data", root, "--k", "1,2", "--json"])
        #expect(evaluate.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(evaluate.output.utf8)) as! [String: Any]
        let rows = object["results"] as! [[String: Any]]
        #expect(rows.map { $0["k"] as? Int } == [1, 2])
        for row in rows {
            let k = row["k"] as! Int
            let thresholds = row["thresholds"] as! [[String: Any]]
            #expect(thresholds.map { $0["name"] as? String } == ["model", "low", "standard", "high"])
            for level in OperatingPoints.Level.allCases {
                let reported = thresholds.first { $0["name"] as? String == level.rawValue }!["threshold"] as! Double
                #expect(Float(reported) == table.threshold(level, utterances: k))
                // The calibration set itself: the realised rate is the table's, at most the target.
                let far = thresholds.first { $0["name"] as? String == level.rawValue }!["far"] as! Double
                #expect(far == table.point(level).falseAcceptRates[k - 1] && far <= table.point(level).targetFAR)
            }
        }
        // Too few utterances for the K range asked: a usage error naming the fix.
        #expect(try Self.voiceprint(["calibrate", "--model", plain, "--data", root, "--out", calibrated, "--max-utterances", "5"]).status == 2)
    }
}

extension OperatingPointsDaemonTests {
    /// Calibrating a deployed model (on the deployment's own speakers, say) changes
    /// thresholds, not embeddings: after a reload the enrolled speakers are still
    /// enrolled for it, and the new levels decide.
    @Test func aRecalibratedModelKeepsEveryEnrollmentAcrossAReload() async throws {
        let directory = try TemporaryDirectory("operating-points")
        let root = try Self.corpus(in: directory)
        let live = directory.file("live.safetensors")
        try DaemonFixture.writeModel(to: live)
        let fixture = try await Self.fixture(model: live)
        let client = try fixture.client()
        let speaker = try EnrollmentCorpus(root: root).speakers[0]
        for file in speaker.utterances.prefix(Self.enrolled) {
            let audio = try Data(contentsOf: URL(fileURLWithPath: file)).base64EncodedString()
            #expect(try client.request(#"{"op":"enroll","speaker":"\#(speaker.name)","audio":{"data":"\#(audio)"}}"#)["ok"] as? Bool == true)
        }
        let before = try client.request(#"{"op":"status"}"#)["model"] as! [String: Any]
        #expect(before["security_level"] is NSNull)

        let (table, _) = try Self.calibratedModel(corpus: root, at: live, directory: directory)
        fixture.daemon.reload()
        let status = try client.request(#"{"op":"status"}"#)
        let after = status["model"] as! [String: Any]
        #expect(after["id"] as? String == before["id"] as? String, "the same embeddings: the same model id")
        #expect(after["security_level"] as? String == "standard", "the new levels are in use: \(after)")
        #expect(status["speakers"] as? Int == 1)
        let r = try Self.verify(client, speaker.name, speaker.utterances[Self.enrolled])
        #expect(r["ok"] as? Bool == true && r["score"] is Double, "still enrolled, not stale: \(r)")
        #expect(abs((r["threshold"] as? Double ?? 9) - Double(table.threshold(.standard, utterances: Self.enrolled))) < 1e-4)
        await fixture.stop()
    }
}
