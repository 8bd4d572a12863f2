import Foundation
import Testing
import VoiceprintDaemon
import VoiceprintEngine
import VoiceprintTestSupport

@Suite struct ConfigurationTests {
    @Test func fileSetsEveryKindOfValue() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("voiceprintd.conf")
        try """
            # comment
            socket = /run/voiceprint/voiceprintd.sock
            socket_mode = 0600
            admin_group = "voiceprint-admin"   # trailing comment
            self_service = yes
            max_line_bytes = 65536
            min_speech_seconds = 1.5
            threshold = 0.42
            score_normalization = as-norm

            """.write(toFile: path, atomically: false, encoding: .utf8)
        var c = Configuration()
        try c.load(file: path)
        #expect(c.socket == "/run/voiceprint/voiceprintd.sock" && c.socketMode == 0o600)
        #expect(c.adminGroup == "voiceprint-admin" && c.selfService && c.maxLineBytes == 65536)
        #expect(c.minSpeechSeconds == 1.5 && c.threshold == 0.42 && c.scoreNormalization == "as-norm")
        #expect(c.maxConnections == Configuration().maxConnections, "unset keys keep their defaults")
    }

    @Test func theStoreIsSQLiteUnlessAPostgreSQLURLIsGivenAndItsPasswordIsNeverShown() throws {
        var c = Configuration()
        #expect(c.store == nil && c.storeDescription == "sqlite   # ./state/enrollments.sqlite")
        try c.set("store", "postgresql://vp:hunter2@db.example.org/fleet?sslmode=require", source: "--store")
        #expect(c.store != nil && c.storeDescription == "postgresql://vp:***@db.example.org:5432/fleet?sslmode=require")
        try c.set("store", "sqlite", source: "--store")
        #expect(c.store == nil)
        let bad = #expect(throws: ConfigurationError.self) {
            try c.set("store", "postgresql://vp:hunter2@db/fleet?sslmode=verify-full", source: "voiceprintd.conf:3")
        }
        let message = bad?.description ?? ""
        #expect(message.hasPrefix("voiceprintd.conf:3: store = postgresql://vp:***@db/fleet?sslmode=verify-full: sslmode"), "\(message)")
        #expect(!message.contains("hunter2"))
    }

    @Test func errorsNameTheFileLineKeyAndExpectation() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("bad.conf")
        try "workers = 2\nmax_queue = lots\n".write(toFile: path, atomically: false, encoding: .utf8)
        var c = Configuration()
        #expect(throws: ConfigurationError.invalidValue(source: "\(path):2", key: "max_queue", value: "lots",
                                                        expected: "an integer from 0 to 100000")) { try c.load(file: path) }
        try "colour = blue\n".write(toFile: path, atomically: false, encoding: .utf8)
        let unknown = #expect(throws: ConfigurationError.self) { try c.load(file: path) }
        #expect(unknown?.description.hasPrefix("\(path):1: unknown key \"colour\"; known keys: socket,") == true)
        try "just words\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: ConfigurationError.syntax(source: "\(path):1", line: "just words")) { try c.load(file: path) }
        #expect(throws: ConfigurationError.self) { try c.set("socket_mode", "999", source: "--socket-mode") }
        #expect(throws: ConfigurationError.self) { try c.set("threshold", "2", source: "--threshold") }
    }

    /// Precision and batching: checked values, and batching resolved by the precision in force.
    @Test func precisionAndBatchingKeys() throws {
        var c = Configuration()
        #expect(c.precision == .auto && c.batchMaxUtterances == 0)
        try c.set("precision", "float32", source: "test")
        #expect(c.resolvedBatchMaxUtterances == 16)
        #expect(c.resolvedPoolThreads == c.resolvedWorkers + 16)
        try c.set("precision", "bf16", source: "test")
        #expect(c.resolvedBatchMaxUtterances == 1 && c.resolvedPoolThreads == c.resolvedWorkers)
        try c.set("batch_max_utterances", "4", source: "test")
        #expect(c.resolvedBatchMaxUtterances == 4 && c.resolvedPoolThreads == c.resolvedWorkers + 4)
        #expect(throws: ConfigurationError.self) { try c.set("precision", "fp16", source: "test") }
        #expect(throws: ConfigurationError.self) { try c.set("batch_max_utterances", "300", source: "test") }
        #expect(throws: ConfigurationError.self) { try c.set("batch_max_wait_ms", "-1", source: "test") }
    }
}
