import Foundation
import Testing
import VoiceprintFeatures
import VoiceprintTestSupport

@Suite struct NumpyFileTests {
    @Test func roundTripsAndAlignsData() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("x.npy")
        let values: [Float] = [1, -2.5, 3e-8, .greatestFiniteMagnitude, 0, 7]
        try NumpyFile.write(values, shape: [2, 3], to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect((data.count - values.count * 4) % 64 == 0, "data must start on a 64-byte boundary")
        let (shape, back) = try NumpyFile.read(path: path)
        #expect(shape == [2, 3] && back == values)
        try NumpyFile.write([1, 2], shape: [2], to: path)
        #expect(try NumpyFile.read(path: path).shape == [2])
    }

    @Test func readsFilesWrittenByNumPy() throws {
        let (shape, values) = try NumpyFile.read(path: Fixture.path("fbank-reference.npy"))
        #expect(shape == [188, 80] && values.count == 188 * 80)
        #expect(values.allSatisfy { $0.isFinite && $0 < 10 && $0 > -20 })
    }

    @Test func refusesOtherFiles() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("bad.npy")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: NumpyFile.Error.notNumpy(path: path)) { try NumpyFile.read(path: path) }
        var data = NumpyFile.encode([1, 2, 3, 4], shape: [4])
        data.removeLast(4)
        try data.write(to: URL(fileURLWithPath: path))
        #expect(throws: NumpyFile.Error.truncated(path: path, expectedBytes: 16, actualBytes: 12)) { try NumpyFile.read(path: path) }
    }
}
