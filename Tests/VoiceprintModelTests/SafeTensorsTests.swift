import Foundation
import Testing
import VoiceprintModel
import VoiceprintTestSupport

@Suite struct SafeTensorsTests {
    // MARK: Fixtures

    /// A file from a hand-written header and data: the independent check,
    /// since nothing here goes through the encoder.
    private func file(_ header: String, data: [UInt8] = []) -> [UInt8] {
        let json = Array(header.utf8)
        return littleEndian(UInt64(json.count)) + json + data
    }

    private func littleEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    private func floats(_ values: [Float]) -> [UInt8] { values.flatMap { littleEndian(UInt64($0.bitPattern)).prefix(4) } }

    private func entry(_ name: String, shape: String, offsets: String, dtype: String = "F32") -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    /// Awkward values whose bits must survive exactly: signed zero, a NaN
    /// payload, infinities, subnormals, and the extremes.
    private let special: [Float] = [
        -0.0, Float(bitPattern: 0x7FC0_1234), .infinity, -.infinity,
        .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1.0 / 3.0, -.ulpOfOne,
    ]

    private func sample() -> SafeTensors {
        var rng = SeededGenerator(seed: 7)
        return SafeTensors(
            tensors: [
                "conv1.weight": Tensor.uniform(shape: [4, 3, 5], limit: 1, using: &rng),
                "conv1.bias": Tensor(shape: [8], storage: special),
                "scale": Tensor(shape: [], storage: [2.5]),
                "empty.rows": Tensor(zeros: [0, 3]),
                "empty.cols": Tensor(zeros: [3, 0]),
                "pool.ünïcode \"quoted\"": Tensor(shape: [1, 2], storage: [1, -1]),
            ],
            metadata: [
                "format": "voiceprint-embedding",
                "architecture": "{\"layers\":[\"conv\",\"pool\"],\"dim\":192}",
                "notes": "tab\there, newline\nthere, bell\u{07}, ünïcode, back\\slash",
                "empty": "",
            ])
    }

    private func expectBitIdentical(_ a: SafeTensors, _ b: SafeTensors) {
        #expect(a.metadata == b.metadata)
        #expect(Set(a.tensors.keys) == Set(b.tensors.keys))
        for (name, tensor) in a.tensors {
            #expect(b.tensors[name]?.shape == tensor.shape, "shape of \(name)")
            #expect(b.tensors[name]?.storage.map(\.bitPattern) == tensor.storage.map(\.bitPattern), "bits of \(name)")
        }
    }

    private func error(_ bytes: [UInt8], source: String = "model.safetensors") -> SafeTensorsError? {
        do {
            _ = try SafeTensors(bytes: bytes, source: source)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Round trips

    @Test func roundTripInMemoryKeepsBitsShapesAndMetadata() throws {
        let original = sample()
        let decoded = try SafeTensors(bytes: original.encoded(), source: "memory")
        expectBitIdentical(original, decoded)
        #expect(decoded.tensors["scale"]?.shape == [])
        #expect(decoded.tensors["empty.rows"]?.count == 0)
    }

    @Test func roundTripOnDiskLeavesNoTemporaryFiles() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try sample().write(to: path)
        expectBitIdentical(sample(), try SafeTensors(path: path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
    }

    @Test func writeReplacesAnExistingFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.safetensors")
        try sample().write(to: path)
        let replacement = SafeTensors(tensors: ["only": Tensor(shape: [2], storage: [4, 5])], metadata: ["v": "2"])
        try replacement.write(to: path)
        #expect(try SafeTensors(path: path) == replacement)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
    }

    @Test func emptyContainerRoundTrips() throws {
        let bytes = SafeTensors().encoded()
        #expect(bytes == littleEndian(8) + Array("{}      ".utf8))
        #expect(try SafeTensors(bytes: bytes, source: "empty") == SafeTensors())
    }

    @Test func encodingIsDeterministic() {
        var reordered = SafeTensors()
        for (name, tensor) in sample().tensors.sorted(by: { $0.key > $1.key }) { reordered.tensors[name] = tensor }
        for (key, value) in sample().metadata.sorted(by: { $0.key > $1.key }) { reordered.metadata[key] = value }
        #expect(sample().encoded() == sample().encoded())
        #expect(reordered.encoded() == sample().encoded())
    }

    @Test(arguments: ["a", "ab", "abc", "abcdefgh", "a-much-longer-tensor-name.weight"])
    func dataSectionIsEightByteAligned(name: String) {
        let bytes = SafeTensors(tensors: [name: Tensor(shape: [3], storage: [1, 2, 3])]).encoded()
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect((8 + headerLength) % 8 == 0)
        #expect(bytes.count == 8 + headerLength + 12)
        // Padding is spaces after the closing brace, never inside the JSON.
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        #expect(header.trimmingCharacters(in: .init(charactersIn: " ")).hasSuffix("}"))
        #expect(!header.contains("\n"))
    }

    // MARK: Independent checks against hand-built bytes

    @Test func handBuiltFileParsesToExpectedValues() throws {
        // Unpadded header, keys out of order, metadata last: all legal.
        let header = "{" + entry("b", shape: "[2]", offsets: "[0,8]") + ","
            + entry("a", shape: "[1,2]", offsets: "[8,16]") + ","
            + entry("s", shape: "[]", offsets: "[16,20]") + ","
            + entry("z", shape: "[0]", offsets: "[20,20]") + ","
            + "\"__metadata__\":{\"format\":\"test\",\"eer\":\"0.031\"}}"
        let data: [UInt8] = [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0, // 1.5, -2.0
                             0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x40, 0x40, // 0.25, 3.0
                             0x01, 0x00, 0x00, 0x00] // the smallest subnormal
        let parsed = try SafeTensors(bytes: file(header, data: data), source: "hand.safetensors")
        #expect(parsed.tensors["b"] == Tensor(shape: [2], storage: [1.5, -2.0]))
        #expect(parsed.tensors["a"] == Tensor(shape: [1, 2], storage: [0.25, 3.0]))
        #expect(parsed.tensors["s"] == Tensor(shape: [], storage: [.leastNonzeroMagnitude]))
        #expect(parsed.tensors["z"] == Tensor(zeros: [0]))
        #expect(parsed.metadata == ["format": "test", "eer": "0.031"])
    }

    @Test func encoderProducesHandWrittenBytes() {
        let header = "{\"__metadata__\":{\"k\":\"v\"},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} "
        let expected = [0x50, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + [0x00, 0x00, 0xC0, 0x3F]
        let tensors = SafeTensors(tensors: ["x": Tensor(shape: [1], storage: [1.5])], metadata: ["k": "v"])
        #expect(tensors.encoded() == expected)
    }

    @Test func paddedHeaderWithTrailingSpacesIsAccepted() throws {
        let header = "{" + entry("w", shape: "[1]", offsets: "[0,4]") + "}" + String(repeating: " ", count: 11)
        let parsed = try SafeTensors(bytes: file(header, data: floats([7])), source: "padded")
        #expect(parsed.tensors["w"] == Tensor(shape: [1], storage: [7]))
    }
}

// MARK: Refusals

extension SafeTensorsTests {
    @Test func shortFileIsRefused() {
        #expect(error([1, 2, 3, 4, 5]) == .tooShort(source: "model.safetensors", byteCount: 5))
        #expect(error([1, 2, 3, 4, 5])?.description.contains("5 bytes") == true)
    }

    @Test func headerLengthBeyondTheFileIsRefused() {
        let refusal = error(littleEndian(100) + Array("{}".utf8))
        #expect(refusal == .headerLength(source: "model.safetensors", length: 100, available: 2))
        #expect(refusal?.description == "model.safetensors: header length 100 is larger than the 2 bytes that follow it (truncated file?)")
    }

    @Test func absurdHeaderLengthIsRefused() {
        let refusal = error(littleEndian(200_000_000) + Array("{}".utf8))
        #expect(refusal?.description.contains("header length 200000000 exceeds the 100000000-byte limit") == true)
    }

    @Test func headerThatIsNotUTF8IsRefused() {
        let refusal = error(littleEndian(4) + [0x7B, 0xFF, 0xFE, 0x7D])
        #expect(refusal == .invalidHeader(source: "model.safetensors", reason: "not valid UTF-8"))
    }

    @Test(arguments: ["{\"a\":", "not json", ""])
    func headerThatIsNotJSONIsRefused(header: String) {
        guard case .invalidHeader(let source, let reason)? = error(file(header)) else {
            Issue.record("expected invalidHeader for \(header)")
            return
        }
        #expect(source == "model.safetensors")
        #expect(reason.hasPrefix("not valid JSON"))
    }

    @Test func headerThatIsNotAnObjectIsRefused() {
        #expect(error(file("[1,2]")) == .invalidHeader(source: "model.safetensors", reason: "expected a JSON object, got [1,2]"))
    }

    @Test(arguments: ["dtype", "shape", "data_offsets"])
    func entryMissingAFieldIsRefused(field: String) {
        var fields = ["\"dtype\":\"F32\"", "\"shape\":[1]", "\"data_offsets\":[0,4]"]
        fields.removeAll { $0.hasPrefix("\"\(field)\"") }
        let refusal = error(file("{\"w\":{" + fields.joined(separator: ",") + "}}", data: floats([1])))
        #expect(refusal == .missingField(source: "model.safetensors", tensor: "w", field: field))
        #expect(refusal?.description == "model.safetensors: tensor \"w\": missing field \"\(field)\"")
    }

    @Test(arguments: [
        ("dtype", "{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}", "32"),
        ("shape", "{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}", "\"1\""),
        ("shape", "{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}", "[1.5]"),
        ("shape", "{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}", "[-1]"),
        ("shape", "{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,4]}", "[true]"),
        ("data_offsets", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}", "[4]"),
        ("data_offsets", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}", "[4,0]"),
        ("data_offsets", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":null}", "null"),
        ("entry", "\"F32\"", "\"F32\""),
    ])
    func entryWithWrongJSONTypesIsRefused(field: String, entry: String, shown: String) {
        guard case .invalidField(let source, let tensor, let named, let reason)? = error(file("{\"w\":\(entry)}", data: floats([1])))
        else {
            Issue.record("expected invalidField for \(entry)")
            return
        }
        #expect(source == "model.safetensors" && tensor == "w" && named == field)
        #expect(reason.hasSuffix("got \(shown)"))
    }

    @Test func unsupportedDTypeIsRefusedByName() {
        let header = "{" + entry("conv1.weight", shape: "[2]", offsets: "[0,4]", dtype: "F16") + "}"
        let refusal = error(file(header, data: [0, 0x3C, 0, 0x3C]))
        #expect(refusal == .unsupportedDType(source: "model.safetensors", tensor: "conv1.weight", dtype: "F16"))
        #expect(refusal?.description == "model.safetensors: tensor \"conv1.weight\": dtype F16 is not supported; expected F32")
    }

    @Test func shapeThatDisagreesWithOffsetsIsRefused() {
        let refusal = error(file("{" + entry("w", shape: "[3]", offsets: "[0,8]") + "}", data: floats([1, 2])))
        #expect(refusal == .sizeMismatch(source: "model.safetensors", tensor: "w", shape: [3], expectedBytes: 12, spanBytes: 8))
        #expect(refusal?.description.contains("shape [3] needs 12 bytes but data_offsets span 8 bytes") == true)
    }

    @Test func truncatedFileIsRefusedNamingTheTensor() {
        let bytes = SafeTensors(tensors: ["a": Tensor(shape: [2], storage: [1, 2]), "b": Tensor(shape: [3], storage: [3, 4, 5])]).encoded()
        let cutIntoB = error(Array(bytes.dropLast(3)), source: "cut.safetensors")
        #expect(cutIntoB == .truncated(source: "cut.safetensors", tensor: "b", expectedBytes: 20, presentBytes: 17))
        #expect(cutIntoB?.description.contains("tensor \"b\": data ends at byte 20 of the data section, but only 17 bytes are present") == true)
        #expect(error(Array(bytes.dropLast(14)), source: "cut.safetensors")
            == .truncated(source: "cut.safetensors", tensor: "a", expectedBytes: 8, presentBytes: 6))
    }

    @Test func overlappingTensorsAreRefused() {
        let header = "{" + entry("a", shape: "[2]", offsets: "[0,8]") + "," + entry("b", shape: "[2]", offsets: "[4,12]") + "}"
        let refusal = error(file(header, data: floats([1, 2, 3])))
        #expect(refusal == .overlap(source: "model.safetensors", tensor: "b", begin: 4, previous: "a", previousEnd: 8))
        #expect(refusal?.description.contains("tensor \"b\": data begins at 4, overlapping tensor \"a\" which ends at 8") == true)
    }

    @Test func gapBetweenTensorsIsRefused() {
        let header = "{" + entry("a", shape: "[1]", offsets: "[0,4]") + "," + entry("b", shape: "[1]", offsets: "[8,12]") + "}"
        let refusal = error(file(header, data: floats([1, 2, 3])))
        #expect(refusal == .gap(source: "model.safetensors", tensor: "b", begin: 4, end: 8))
        #expect(refusal?.description.contains("tensor \"b\": 4 unused bytes at data offsets 4..<8") == true)
    }

    @Test func bytesAfterTheLastTensorAreRefused() {
        let withTensor = error(file("{" + entry("a", shape: "[1]", offsets: "[0,4]") + "}", data: floats([1, 2])))
        #expect(withTensor == .trailingData(source: "model.safetensors", lastTensor: "a", dataEnd: 4, presentBytes: 8))
        #expect(withTensor?.description.contains("after the last tensor \"a\"") == true)
        #expect(error(file("{}", data: [0, 0])) == .trailingData(source: "model.safetensors", lastTensor: nil, dataEnd: 0, presentBytes: 2))
    }

    @Test func metadataThatIsNotStringsIsRefused() {
        let number = error(file("{\"__metadata__\":{\"format\":\"x\",\"eer\":0.03}}"))
        #expect(number == .invalidMetadata(source: "model.safetensors", key: "eer", reason: "value 0.03 is not a string"))
        #expect(number?.description == "model.safetensors: metadata \"eer\": value 0.03 is not a string")
        guard case .invalidMetadata(_, "__metadata__", _)? = error(file("{\"__metadata__\":[\"x\"]}")) else {
            Issue.record("a metadata array should be refused")
            return
        }
    }

    @Test func unreadablePathsAreRefused() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.file("missing.safetensors")
        #expect(throws: SafeTensorsError.cannotRead(source: missing, reason: "No such file or directory")) {
            try SafeTensors(path: missing)
        }
        #expect(throws: SafeTensorsError.cannotRead(source: directory.path, reason: "is a directory")) {
            try SafeTensors(path: directory.path)
        }
    }

    @Test func unwritablePathIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("no/such/folder/model.safetensors")
        let refusal = #expect(throws: SafeTensorsError.self) { try SafeTensors().write(to: path) }
        #expect(refusal?.description.hasPrefix("\(path): cannot write file: cannot create") == true)
    }
}
