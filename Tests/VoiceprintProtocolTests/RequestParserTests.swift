import Foundation
import Testing
import VoiceprintProtocol

@Suite struct RequestParserTests {
    func parse(_ line: String) -> RequestLine { RequestParser.parse(Array(line.utf8)) }

    func error(_ line: String) -> WireError? {
        if case .failure(let e) = parse(line).request { return e }
        return nil
    }

    @Test func everyOperationRoundTrips() throws {
        let audio = AudioSource.data([1, 2, 3, 250])
        let requests: [Request] = [
            .hello, .status, .list, .enroll(speaker: "alice", audio: audio),
            .verify(speaker: "bob", audio: .path("/tmp/x.wav"), threshold: 0.5),
            .verify(speaker: "bob", audio: audio, threshold: nil),
            .identify(audio: audio, top: 3), .identify(audio: audio, top: nil),
            .delete(speaker: "carol"), .embed(audio: audio),
        ]
        for (i, request) in requests.enumerated() {
            let line = parse(request.encoded(id: .integer(i)))
            #expect(line.id == .integer(i))
            #expect(try line.request.get() == request)
        }
    }

    @Test func idIsEchoedEvenWhenTheRequestIsInvalid() {
        let line = parse(#"{"id":"req-7","op":"verify","speaker":"a"}"#)
        #expect(line.id == .string("req-7"))
        #expect(error(#"{"id":"req-7","op":"verify","speaker":"a"}"#) == WireError(.badRequest, "missing field \"audio\""))
    }

    @Test func malformedLinesGetBadRequestWithAPosition() {
        #expect(error("{\"op\": \"hello\"")?.message == "invalid JSON at byte 14: unterminated object")
        #expect(error("[1, 2]") == WireError(.badRequest, "a request must be a JSON object, got an array"))
        #expect(error("\"hello\"") == WireError(.badRequest, "a request must be a JSON object, got a string"))
        #expect(error("") != nil)
        #expect(error(#"{"op":"hello"} trailing"#)?.message.contains("unexpected data after") == true)
    }

    @Test func fieldsAreCheckedByNameAndType() {
        #expect(error(#"{"id":1}"#) == WireError(.badRequest, "missing field \"op\""))
        #expect(error(#"{"op":5}"#) == WireError(.badRequest, "field \"op\" must be a string, got a number"))
        #expect(error(#"{"op":"fly"}"#)?.code == .unknownOp)
        #expect(error(#"{"op":"delete","speaker":7}"#) == WireError(.badRequest, "field \"speaker\" must be a string, got a number"))
        #expect(error(#"{"op":"delete","speaker":"  "}"#) == WireError(.badRequest, "field \"speaker\" must not be empty"))
        #expect(error(#"{"op":"delete","speaker":"a\u0007b"}"#) == WireError(.badRequest, "field \"speaker\" contains control characters"))
        #expect(error(#"{"op":"embed","audio":"abc"}"#)?.message.hasPrefix("field \"audio\" must be an object") == true)
        #expect(error(#"{"op":"embed","audio":{"data":"@@@@"}}"#) == WireError(.badRequest, "field \"audio.data\" is not valid base64"))
        #expect(error(#"{"op":"embed","audio":{"path":"rel/x.wav"}}"#)?.message.contains("absolute path") == true)
        #expect(error(#"{"op":"embed","audio":{}}"#)?.message.contains("needs \"data\"") == true)
        #expect(error(#"{"op":"verify","speaker":"a","audio":{"data":"QUJD"},"threshold":"high"}"#)?.message
            .contains("\"threshold\" must be a number") == true)
        #expect(error(#"{"op":"identify","audio":{"data":"QUJD"},"top":2.5}"#)?.message.contains("\"top\" must be an integer") == true)
        #expect(error(#"{"id":[1],"op":"hello"}"#) == WireError(.badRequest, "field \"id\" must be a string or a number, got an array"))
    }

    @Test func idsAreBoundedAndNamesHaveOneSpelling() throws {
        let long = String(repeating: "x", count: 257)
        #expect(error(#"{"op":"hello","id":"\#(long)"}"#)?.message.contains("at most 256") == true)
        #expect(parse(#"{"op":"hello","id":"\#(long)"}"#).id == nil, "an oversized id is not echoed")
        #expect(error(#"{"op":"hello","id":1\#(String(repeating: "0", count: 300))}"#)?.code == .badRequest)
        // A combining accent and a Kelvin sign are the precomposed name and the letter K.
        let decomposed = try parse(#"{"op":"delete","speaker":"Jose\u0301"}"#).request.get()
        #expect(decomposed == .delete(speaker: "Jos\u{e9}"))
        #expect(try parse(#"{"op":"unlock","speaker":"\u212Aate"}"#).request.get() == .unlock(speaker: "Kate"))
    }
}
