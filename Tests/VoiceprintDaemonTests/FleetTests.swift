import Foundation
import Testing
import VoiceprintDaemon
import VoiceprintTestSupport

/// Daemons sharing one PostgreSQL store (docs/fleet.md), on a real throwaway
/// server: what one daemon is told, the others answer by, and a server restart
/// is survived. Waits poll with generous ceilings; the bench measures latency.
@Suite struct FleetTests {
    static func verify(_ client: LineClient, _ speaker: String, voice: Int, seed: UInt64) throws -> [String: Any] {
        try client.request(#"{"op":"verify","speaker":"\#(speaker)","audio":{"data":"\#(DaemonFixture.audio(voice: voice, seed: seed))"}}"#)
    }

    /// Polls `body` until it holds, for at most `seconds`.
    static func eventually(seconds: Double = 30, _ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try body() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try body()
    }

    @Test func whatOneDaemonEnrollsOrDeletesTheOthersAnswerBy() async throws {
        let cluster = try PostgresTestCluster.shared.get()
        let url = cluster.url(database: try cluster.createDatabase())
        let fleet: (inout Configuration) -> Void = { $0.store = url; $0.maxFailedAttempts = 1000 }
        let a = try await DaemonFixture(adjust: fleet)
        // The same model file (a fleet must share one: embeddings are tagged with its fingerprint,
        // and each fixture's file records when it was written).
        let b = try await DaemonFixture { fleet(&$0); $0.model = a.configuration.model }
        let ca = try a.client(), cb = try b.client()
        for seed: UInt64 in 1...2 {
            let enroll = try ca.request(#"{"op":"enroll","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: seed))"}}"#)
            #expect(enroll["ok"] as? Bool == true, "\(enroll)")
        }
        // B scores alice against the very centroid A stored: the same score for the same audio.
        let onA = try Self.verify(ca, "alice", voice: 0, seed: 10)
        var onB: [String: Any] = [:]
        #expect(try Self.eventually {
            onB = try Self.verify(cb, "alice", voice: 0, seed: 10)
            return onB["score"] != nil
        }, "\(onB)")
        #expect(onB["score"] as? Double == onA["score"] as? Double && onB["accepted"] as? Bool == onA["accepted"] as? Bool)
        // B's in-memory index has her too (identify scans it), and list shows what the store holds.
        let identify = try cb.request(#"{"op":"identify","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 11))"},"top":3}"#)
        #expect((identify["candidates"] as? [[String: Any]])?.first?["speaker"] as? String == "alice", "\(identify)")
        let list = try cb.request(#"{"op":"list"}"#)
        #expect((list["speakers"] as? [[String: Any]])?.map { $0["speaker"] as? String } == ["alice"], "\(list)")
        // The other way round, and the speaker count each daemon reports.
        let bob = try cb.request(#"{"op":"enroll","speaker":"bob","audio":{"data":"\#(DaemonFixture.audio(voice: 1, seed: 1))"}}"#)
        #expect(bob["ok"] as? Bool == true)
        #expect(try Self.eventually { try ca.request(#"{"op":"status"}"#)["speakers"] as? Int == 2 })

        // Deleted on A: B stops verifying her (its cached centroid goes too) and stops finding her.
        #expect(try ca.request(#"{"op":"delete","speaker":"alice"}"#)["deleted"] as? Bool == true)
        var seed: UInt64 = 20
        #expect(try Self.eventually {
            seed += 1
            return code(try Self.verify(cb, "alice", voice: 0, seed: seed)) == "unknown_speaker"
        })
        let after = try cb.request(#"{"op":"identify","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 12))"},"top":3}"#)
        #expect((after["candidates"] as? [[String: Any]])?.contains { $0["speaker"] as? String == "alice" } == false, "\(after)")

        let status = try cb.request(#"{"op":"status"}"#)
        let store = status["store"] as? [String: Any]
        #expect(store?["engine"] as? String == "postgresql" && store?["state"] as? String == "ok" && store?["live_sync"] as? Bool == true, "\(status)")
        #expect(store?["location"] as? String == url)
        await a.stop()
        await b.stop()
    }

    /// A daemon remembers which database it served: another one behind its URL (a
    /// database dropped and created again empty, say) is refused, naming both.
    @Test func anotherDatabaseBehindTheURLIsRefused() async throws {
        let cluster = try PostgresTestCluster.shared.get()
        let state = try TemporaryDirectory()
        let first = cluster.url(database: try cluster.createDatabase())
        let a = try await DaemonFixture { $0.store = first; $0.stateDirectory = state.path }
        await a.stop()
        let marker = try String(contentsOfFile: state.file("postgresql-store.id"), encoding: .utf8)
        let second = cluster.url(database: try cluster.createDatabase())
        let error = await #expect(throws: (any Error).self) {
            _ = try await DaemonFixture { $0.store = second; $0.stateDirectory = state.path }
        }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains(second) && message.contains(marker.trimmingCharacters(in: .whitespacesAndNewlines)), "\(message)")
        #expect(message.contains("refusing to use another store"), "\(message)")
    }

    /// PostgreSQL restarted under the daemon: requests that need the store fail with
    /// `internal` and say why, `status` shows it, and once the server is back the
    /// daemon has reconnected and resynchronised by itself, with nothing lost.
    @Test func aDaemonRidesOutADatabaseRestart() async throws {
        let cluster = try PostgresTestCluster()
        defer { try? cluster.stop() }
        let database = try cluster.createDatabase()
        let url = "postgresql://\(cluster.user):hunter2@/\(database)?host=\(cluster.socketDirectory)"
        let fixture = try await DaemonFixture { $0.store = url }
        let c = try fixture.client()
        let enroll = try c.request(#"{"op":"enroll","speaker":"alice","audio":{"data":"\#(DaemonFixture.audio(voice: 0, seed: 1))"}}"#)
        #expect(enroll["ok"] as? Bool == true, "\(enroll)")

        try cluster.stop(immediate: true, removeFiles: false)
        let list = try c.request(#"{"op":"list"}"#)
        let message = (list["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(code(list) == "internal" && message.contains("unavailable"), "\(list)")
        #expect(!message.contains("hunter2"))
        var down: [String: Any] = [:]
        #expect(try FleetTests.eventually {
            down = try c.request(#"{"op":"status"}"#)
            let store = down["store"] as? [String: Any]
            return store?["state"] as? String == "unavailable" && store?["live_sync"] as? Bool == false
        }, "\(down)")
        #expect(!"\(down)".contains("hunter2"))

        try cluster.start()
        #expect(try FleetTests.eventually {
            let store = try c.request(#"{"op":"status"}"#)["store"] as? [String: Any]
            return store?["live_sync"] as? Bool == true
        })
        let back = try c.request(#"{"op":"list"}"#)
        #expect((back["speakers"] as? [[String: Any]])?.map { $0["speaker"] as? String } == ["alice"], "\(back)")
        let verify = try FleetTests.verify(c, "alice", voice: 0, seed: 5)
        #expect(verify["score"] is Double, "\(verify)")
        let status = try c.request(#"{"op":"status"}"#)["store"] as? [String: Any]
        #expect(status?["state"] as? String == "ok" && (status?["reconnects"] as? Int ?? 0) >= 1)
        await fixture.stop()
    }
}
