import Foundation
import Glibc
import Testing
import VoiceprintDaemon
import VoiceprintTestSupport

/// One unprivileged client must not be able to take the daemon down or stall
/// it for everyone (issue: voiceprintd under hostile peers). Each test is an
/// attack that worked before the limits existed, against a real daemon on a
/// real socket, bounded in time.
@Suite(.serialized) struct HostilePeerTests {
    @Test func aClientThatNeverReadsIsNoLongerRead() async throws {
        let fixture = try await DaemonFixture { $0.maxInflightPerConnection = 4 }
        let c = try fixture.client()
        // Pipeline `status` without reading. Before backpressure the daemon read (and
        // answered into memory) everything: 50 MB went in without the writer ever blocking.
        let line = Array(#"{"op":"status"}"#.utf8) + [0x0A]
        let chunk = Array([[UInt8]](repeating: line, count: 4096).joined())
        var sent = 0
        let deadline = Date().addingTimeInterval(10)
        while sent < 50 << 20, Date() < deadline {
            let n = c.sendWithoutBlocking(chunk)
            sent += n
            if n < chunk.count { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(sent < 8 << 20, "the daemon kept reading: \(sent) bytes taken from a client that reads nothing")
        // Reading resumes as the client reads: every request it got in is answered, in order.
        let requests = sent / line.count
        c.finishWriting()
        var answered = 0
        while let object = try? c.readObject() {
            #expect(object["ok"] as? Bool == true)
            answered += 1
        }
        #expect(answered == requests)
        await fixture.stop()
    }

    @Test func partialLinesShareOneByteBudget() async throws {
        // The budget is charged for buffers as allocated (they grow by doubling): two 400 kB
        // lines hold 512 KiB each, and a third can grow to 256 KiB before it meets the cap.
        let fixture = try await DaemonFixture { $0.maxBufferedBytes = 1_310_720; $0.maxLineBytes = 4 << 20 }
        let piece = [UInt8](#"{"op":"hello","pad":""#.utf8) + [UInt8](repeating: 0x61, count: 400_000)
        let first = try fixture.client(), second = try fixture.client(), third = try fixture.client()
        #expect(first.sendAll(piece) == piece.count)
        #expect(second.sendAll(piece) == piece.count)
        // Both partial lines are in before the third starts.
        let watcher = try fixture.client()
        for _ in 0..<250 {
            if (try watcher.request(#"{"op":"status"}"#)["buffered_bytes"] as? Int ?? 0) >= 2 * piece.count { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        // The third unfinished line would pass the budget: that connection is told, then closed.
        _ = third.sendAll(piece, seconds: 2)
        let refused = try #require(third.readUntilClosed(seconds: 10))
        #expect(refused.count == 1 && refused[0].contains(#""code":"busy""#) && refused[0].contains("max_buffered_bytes"), "\(refused)")
        // Everyone else is still served, and finishing a line gives its bytes back.
        first.send("\"}\n")
        #expect(try first.readObject()["ok"] as? Bool == true)
        let status = try fixture.client().request(#"{"op":"status"}"#)
        let held = try #require(status["buffered_bytes"] as? Int)
        #expect(held >= piece.count && held < 2 * piece.count, "only the second partial line is held: \(held)")
        await fixture.stop()
    }

    @Test func connectionsOverEitherLimitAreAnsweredBusyAndClosed() async throws {
        let fixture = try await DaemonFixture { $0.maxConnections = 6; $0.maxConnectionsPerUID = 3 }
        let held = try (0..<3).map { _ in try fixture.client() }
        for c in held { #expect(try c.request(#"{"op":"hello"}"#)["ok"] as? Bool == true) }
        // A fourth connection from this uid: one busy line naming the limit, then end of stream.
        let extra = try fixture.client()
        let lines = try #require(extra.readUntilClosed(seconds: 10))
        #expect(lines.count == 1 && lines[0].contains(#""code":"busy""#) && lines[0].contains("max_connections_per_uid"), "\(lines)")
        // Closing one gives its slot back.
        held[0].finishWriting()
        try await Task.sleep(for: .milliseconds(200))
        #expect(try fixture.client().request(#"{"op":"hello"}"#)["ok"] as? Bool == true)
        await fixture.stop()
    }

    @Test func aLineTrickledByteByByteMeetsTheRequestDeadline() async throws {
        let fixture = try await DaemonFixture { $0.requestDeadline = 1; $0.idleTimeout = 60 }
        let c = try fixture.client()
        var answer: [String]?
        // At least 100 ms a byte: the whole line takes 5.7 s or more, the deadline is 1 s.
        for byte in Array(#"{"op":"hello","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#.utf8) {
            c.send(String(UnicodeScalar(byte)))
            try await Task.sleep(for: .milliseconds(100))
            var pending = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pending, 1, 0) > 0 { answer = c.readUntilClosed(seconds: 5); break }
        }
        let lines = try #require(answer, "the daemon never gave up on a 5.7 s line")
        #expect(lines.count == 1 && lines[0].contains(#""code":"busy""#) && lines[0].contains("request_deadline"), "\(lines)")
        await fixture.stop()
    }

    @Test func keepAliveLinesDoNotKeepAnIdleConnectionOpen() async throws {
        let fixture = try await DaemonFixture { $0.idleTimeout = 1 }
        let c = try fixture.client()
        #expect(try c.request(#"{"op":"hello"}"#)["ok"] as? Bool == true)
        var closed = false
        for _ in 0..<40 where !closed {
            closed = c.sendWithoutBlocking([0x0A]) == 0
            try await Task.sleep(for: .milliseconds(100))
            var pending = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pending, 1, 0) > 0 { closed = (c.readUntilClosed(seconds: 1) ?? ["?"]).isEmpty }
        }
        #expect(closed, "blank lines every 100 ms held the connection for 4 s with idle_timeout = 1")
        await fixture.stop()
    }

    @Test func aHalfClosedClientGetsEveryAnswer() async throws {
        let fixture = try await DaemonFixture()
        let c = try fixture.client()
        let audio = DaemonFixture.audio(voice: 1)
        c.send(#"{"op":"enroll","id":1,"speaker":"hal","audio":{"data":"\#(audio)"}}"# + "\n" + #"{"op":"list","id":2}"# + "\n" + #"{"op":"hello","id":3}"#)
        c.finishWriting()
        let lines = try #require(c.readUntilClosed(seconds: 20))
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.last?.contains(#""id":3"#) == true)

        // The documented one-liners: socat half-closes after its input.
        let request = fixture.directory.file("req.jsonl")
        try (#"{"op":"status","id":"a"}"# + "\n" + #"{"op":"hello","id":"b"}"# + "\n").write(toFile: request, atomically: false, encoding: .utf8)
        let socat = try Command.run(["socat", "-t", "10", "-", "UNIX-CONNECT:\(fixture.socket)"], input: request)
        #expect(socat.output.split(separator: "\n").count == 2 && socat.output.contains(#""id":"b""#), "\(socat.output)")
        await fixture.stop()
    }

    @Test func aRefusalComesAfterTheAnswersToTheLinesBeforeIt() async throws {
        let fixture = try await DaemonFixture { $0.maxLineBytes = 4096 }
        let c = try fixture.client()
        // One write: complete requests, then a line over the limit.
        c.send(#"{"op":"hello","id":1}"# + "\n" + #"{"op":"status","id":2}"# + "\n" + String(repeating: "x", count: 10_000))
        let lines = try #require(c.readUntilClosed(seconds: 10))
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.first?.contains(#""id":1"#) == true && lines.dropFirst().first?.contains(#""id":2"#) == true)
        #expect(lines.last?.contains("too_large") == true)
        await fixture.stop()
    }

    @Test func aCRLFLineOfExactlyTheLimitIsAccepted() async throws {
        let fixture = try await DaemonFixture { $0.maxLineBytes = 4096 }
        let prefix = #"{"op":"hello","pad":""#
        let fits = prefix + String(repeating: "x", count: 4096 - prefix.count - 2) + "\"}"
        #expect(fits.utf8.count == 4096)
        let c = try fixture.client()
        c.send(fits + "\r\n")
        #expect(try c.readObject()["ok"] as? Bool == true)
        c.send("x" + fits + "\r\n")
        #expect(code(try c.readObject()) == "too_large")
        await fixture.stop()
    }

    @Test func numericIDsComeBackAsSent() async throws {
        let fixture = try await DaemonFixture()
        let c = try fixture.client()
        c.send(#"{"op":"hello","id":9007199254740993}"# + "\n" + #"{"op":"nope","id":1.50}"# + "\n")
        #expect(try c.readLine().contains(#""id":9007199254740993,"#))
        #expect(try c.readLine().contains(#""id":1.50,"#))
        await fixture.stop()
    }

    @Test func aFullQueueAnswersBusyAndTheConnectionStaysUsable() async throws {
        // Without batching, so the pool is the one worker (batching adds threads that wait for passes).
        let fixture = try await DaemonFixture { $0.workers = 1; $0.batchMaxUtterances = 1; $0.maxQueue = 1; $0.maxQueuePerUID = 1 }
        let c = try fixture.client()
        let audio = DaemonFixture.audio(voice: 2, seconds: 8)
        c.send((0..<10).map { #"{"op":"embed","id":\#($0),"audio":{"data":"\#(audio)"}}"# }.joined(separator: "\n") + "\n")
        var codes = [String]()
        for i in 0..<10 {
            let response = try c.readObject()
            #expect(response["id"] as? Int == i)
            codes.append(code(response) ?? "ok")
        }
        #expect(codes.contains("busy") && codes.contains("ok"), "\(codes)")
        #expect(try c.request(#"{"op":"hello"}"#)["ok"] as? Bool == true)
        await fixture.stop()
    }

    @Test func aReloadDuringEnrollmentsLosesNoSpeakerFromTheIndex() async throws {
        let fixture = try await DaemonFixture()
        let socket = fixture.socket
        let daemon = fixture.daemon
        let audio = DaemonFixture.audio(voice: 2)
        let enrolled = Task.detached { () -> Int in
            guard let c = try? LineClient(path: socket) else { return 0 }
            var ok = 0
            for i in 0..<40 {
                let r = try? c.request(#"{"op":"enroll","speaker":"s\#(i)","audio":{"data":"\#(audio)"}}"#)
                if r?["ok"] as? Bool == true { ok += 1 }
            }
            return ok
        }
        let reloads = Task.detached { for _ in 0..<20 { daemon.reload(); try? await Task.sleep(for: .milliseconds(10)) } }
        let count = await enrolled.value
        await reloads.value
        #expect(count == 40)
        let c = try fixture.client()
        #expect(try c.request(#"{"op":"status"}"#)["speakers"] as? Int == 40)
        let identify = try c.request(#"{"op":"identify","audio":{"data":"\#(audio)"},"top":100}"#)
        #expect((identify["candidates"] as? [[String: Any]])?.count == 40)
        await fixture.stop()
    }

    @Test func oneFloodingUIDDoesNotStallAnother() async throws {
        // Room for the whole flood in the queue: this is about the order work runs in, not admission.
        // The normal client resends one clip (no replay check, no lockout); the flood claims a
        // new name each time, so no attempt limit or one-at-a-time rule thins it out.
        let fixture = try await DaemonFixture {
            $0.socketMode = 0o666; $0.workers = 2; $0.maxQueue = 300; $0.maxQueuePerUID = 300
            $0.replayWindowSeconds = 0; $0.maxFailedAttempts = 1000
            // Passes of at most two utterances, so "one pass" is a known multiple of one flood job.
            $0.batchMaxUtterances = 2
        }
        chmod(fixture.directory.path, 0o755)
        let c = try fixture.client()
        #expect(try c.request(#"{"op":"enroll","speaker":"dana","audio":{"data":"\#(DaemonFixture.audio(voice: 3))"}}"#)["ok"] as? Bool == true)
        let normal = #"{"op":"verify","speaker":"dana","audio":{"data":"\#(DaemonFixture.audio(voice: 3, seed: 5))"}}"#
        let heavy = #"{"op":"verify","speaker":"dana","audio":{"data":"\#(DaemonFixture.audio(voice: 1, seconds: 10))"}}"#
        func latency(_ line: String) throws -> Double {
            let start = Date()
            let r = try c.request(line)
            #expect(r["ok"] as? Bool == true, "\(r)")
            return Date().timeIntervalSince(start)
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let unloaded = median(try (0..<5).map { _ in try latency(normal) })
        let heavyCost = median(try (0..<3).map { _ in try latency(heavy) })

        // Four connections of uid nobody pipelining expensive verifies as fast as the daemon takes them.
        // Processes, not tasks: blocking calls in tasks would hold the few cooperative threads.
        let flooders = try (0..<4).map { i in
            let flood = fixture.directory.file("flood\(i).jsonl")
            try (0..<60).map { heavy.replacingOccurrences(of: #""speaker":"dana""#, with: #""speaker":"flood\#(i)-\#($0)""#) + "\n" }
                .joined().write(toFile: flood, atomically: false, encoding: .utf8)
            chmod(flood, 0o644)
            return try Command.start(["socat", "-t", "60", "-", "UNIX-CONNECT:\(fixture.socket)"], asUID: nobodyUID, input: flood,
                                     output: fixture.directory.file("flood\(i).out"))
        }
        // The flooders start (setpriv, socat, 26 MB each) at the speed of a busy machine.
        for _ in 0..<750 where fixture.daemon.dispatcher.pending < 8 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(fixture.daemon.dispatcher.pending >= 8, "the flood is running: \(fixture.daemon.dispatcher.pending) pending")
        let loaded = median(try (0..<5).map { _ in try latency(normal) })
        // Round-robin twice: a worker frees within one pass (two flood jobs), this uid is next in
        // turn for it, and its utterance goes first into the next pass, never behind the flood's backlog.
        #expect(loaded < 3 * (2 * heavyCost + unloaded), "loaded \(loaded) s vs unloaded \(unloaded) s, one flood job \(heavyCost) s")
        for (i, process) in flooders.enumerated() {
            process.waitUntilExit()
            let output = (try? String(contentsOfFile: fixture.directory.file("flood\(i).out"), encoding: .utf8)) ?? ""
            #expect(output.contains(#""ok":true"#), "the flooder was served too: \(output.prefix(300))")
        }
        await fixture.stop()
    }
}
