import Testing
import VoiceprintProtocol

@Suite struct JSONValueTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(Array(#" {"a": [1, -2.5e2, true, false, null], "b": "x\"\\\n\u00e9\ud83d\ude00", "c": {}} "#.utf8))
        #expect(value == ["a": [1, -250, true, false, .null], "b": "x\"\\\né😀", "c": .object([:])])
    }

    @Test func encodesDeterministicallyAndRoundTrips() throws {
        let value: JSONValue = ["z": 1, "a": [0.5, "t\u{1}"], "m": ["k": false]]
        #expect(value.encoded == #"{"a":[0.5,"t\u0001"],"m":{"k":false},"z":1}"#)
        #expect(try JSONValue.parse(Array(value.encoded.utf8)) == value)
    }

    @Test func rejectsWhatRFC8259Rejects() {
        for bad in ["{", "[1,]", "01", "1.", "-", "\"\u{1}\"", "{\"a\" 1}", "{\"a\":1,\"a\":2}", "tru", "\"\\x\"", "\"\\ud800\"", "NaN"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(Array(bad.utf8)) }
        }
    }

    @Test func boundsNestingDepth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
        #expect(error?.reason.contains("nesting deeper") == true)
    }

    @Test func responsesEncodeAndParse() throws {
        let ok = Response.success(.string("7"), ["speaker": "alice", "score": 0.75])
        #expect(ok.encoded == #"{"id":"7","ok":true,"score":0.75,"speaker":"alice"}"#)
        #expect(try Response(parsing: Array(ok.encoded.utf8)) == ok)
        let bad = Response.failure(.integer(3), WireError(.unknownSpeaker, "no speaker \"bob\""))
        #expect(bad.encoded == #"{"error":{"code":"unknown_speaker","message":"no speaker \"bob\""},"id":3,"ok":false}"#)
        #expect(try Response(parsing: Array(bad.encoded.utf8)) == bad)
    }

    @Test func numericIDsAreEchoedAsTheirExactText() throws {
        // Beyond 2^53 a Double would answer 9007199254740992.0; fractions and exponents keep their spelling.
        for text in ["9007199254740993", "-0", "1.50", "2e3", "123456789012345678901234567890"] {
            let line = RequestParser.parse(Array(#"{"op":"hello","id":\#(text)}"#.utf8))
            #expect(line.id == .number(text))
            let encoded = Response.success(line.id, [:]).encoded
            #expect(encoded == #"{"id":\#(text),"ok":true}"#)
            #expect(try Response(parsing: Array(encoded.utf8)).id == .number(text))
        }
    }
}
