import Foundation
import Testing
import VoiceprintProtocol

@Suite struct Base64Tests {
    /// Every length mod 3 (no padding, ==, =) against Foundation's encoder.
    @Test(arguments: [0, 1, 2, 3, 4, 5, 255, 256, 1000])
    func decodesWhatFoundationEncodes(_ count: Int) throws {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        #expect(Base64.decode(Data(bytes).base64EncodedString()) == bytes)
        // MIME line breaks are skipped.
        let wrapped = Data(bytes).base64EncodedString(options: [.lineLength64Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        #expect(Base64.decode(wrapped) == bytes)
    }

    @Test(arguments: ["QUJD*", "QUJ", "QU=D", "Q===", "QUJDRA==QUJD", "QUJD RA==", "QUJDRA=", "é"])
    func corruptTextIsRefused(_ text: String) {
        #expect(Base64.decode(text) == nil, "\(text)")
    }
}
