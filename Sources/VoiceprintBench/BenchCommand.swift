import ArgumentParser

@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voiceprint-bench",
        abstract: "Release-mode benchmarks for Voiceprint (run through `make bench`).",
        subcommands: [FeatureBench.self, EmbeddingBench.self, TrainingBench.self, DaemonBench.self, FleetBench.self, DecodeBench.self, HostileBench.self, ClipsBench.self, PrecisionBench.self]
    )
}
