import Testing
import VoiceprintProtocol

/// The id of a line found without parsing it, agreeing with the parser.
struct RequestIDScannerTests {
    func scan(_ text: String) -> RequestID? { RequestIDScanner.id(in: Array(text.utf8)) }

    @Test func findsTheTopLevelIDWhereverItIs() {
        let audio = String(repeating: "QUJD", count: 100_000)
        #expect(scan(#"{"op":"verify","audio":{"data":"\#(audio)","id":5},"id":"x\"y","speaker":"a"}"#) == .string("x\"y"))
        #expect(scan(#"{ "id" : 9007199254740993 , "op":"hello"}"#) == .number("9007199254740993"))
        #expect(scan(#"{"audio":{"data":"a\\"},"tags":[1,{"id":2}],"id":-1.5e3}"#) == .number("-1.5e3"))
        #expect(scan(#"{"op":"hello"}"#) == nil)
        #expect(scan(#"{"id":[1]}"#) == nil)
        #expect(scan(#"{"op":"verify","audio":{"data":"unterminated"#) == nil)
        #expect(scan("not json") == nil)
    }

    @Test func agreesWithTheParser() {
        for line in [#"{"id":"a","op":"hello"}"#, #"{"op":"list","id":12}"#, #"{"id":0.10,"op":"status"}"#, #"{"op":"x","id":"\u00e9"}"#] {
            #expect(scan(line) == RequestParser.parse(Array(line.utf8)).id, "\(line)")
        }
    }
}
