import Testing
import VoiceprintDaemon

@Suite struct SpeakerIndexTests {
    @Test func centroidIsTheNormalisedSumOfEnrollments() throws {
        let index = SpeakerIndex(dimension: 2)
        index.add(speaker: "a", embedding: [1, 0])
        index.add(speaker: "a", embedding: [0, 1])
        let c = try #require(index.centroid(of: "a"))
        #expect(abs(c[0] - Float(0.5).squareRoot()) < 1e-6 && abs(c[1] - Float(0.5).squareRoot()) < 1e-6)
        index.add(speaker: "a", embedding: [0, 1])
        // Sum (1, 2) / √5.
        let d = try #require(index.centroid(of: "a"))
        #expect(abs(d[0] - 1 / Float(5).squareRoot()) < 1e-6 && abs(d[1] - 2 / Float(5).squareRoot()) < 1e-6)
    }

    @Test func rankIsBestFirstAndRemoveKeepsTheOthers() {
        let index = SpeakerIndex(dimension: 2)
        index.add(speaker: "east", embedding: [1, 0])
        index.add(speaker: "north", embedding: [0, 1])
        index.add(speaker: "west", embedding: [-1, 0])
        let ranked = index.rank([0.6, 0.8], top: 2)
        #expect(ranked.map(\.speaker) == ["north", "east"])
        #expect(abs(ranked[0].score - 0.8) < 1e-6 && abs(ranked[1].score - 0.6) < 1e-6)
        index.remove(speaker: "east")
        #expect(index.count == 2 && !index.contains("east"))
        #expect(index.rank([1, 0], top: 5).map(\.speaker) == ["north", "west"])
        #expect(index.centroid(of: "west") == [-1, 0])
    }
}
