// swift-tools-version:6.1
// Voiceprint: speaker verification for Linux hosts. See ../shared/DESIGN.md.
import PackageDescription

let package = Package(
    name: "Voiceprint",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "voiceprint", targets: ["voiceprint"]),
        .executable(name: "voiceprintd", targets: ["voiceprintd"]),
        .library(name: "VoiceprintAudio", targets: ["VoiceprintAudio"]),
        .library(name: "VoiceprintFeatures", targets: ["VoiceprintFeatures"]),
        .library(name: "VoiceprintModel", targets: ["VoiceprintModel"]),
        .library(name: "VoiceprintEngine", targets: ["VoiceprintEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C libraries from Debian's -dev packages, one system-library target each.
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),

        .target(name: "VoiceprintAudio", dependencies: ["CSndFile", "CSoxr"]),
        .target(name: "VoiceprintFeatures", dependencies: ["VoiceprintAudio", "CFFTW"]),
        // Our own C: LSTM inference kernels with AVX-512 and AVX2 paths chosen at run time (VOICEPRINT_KERNELS caps it).
        .target(name: "CRecurrentKernels"),
        // Our own C: what voiceprintd does before Swift's main runs (SIGHUP ignored from load).
        .target(name: "CProcessStart"),
        .target(name: "VoiceprintModel", dependencies: ["VoiceprintFeatures", "CBLAS", "CRecurrentKernels"]),
        .target(name: "VoiceprintScoring"),
        // The one path from audio to an embedding and a score: daemon, CLI and bench share it.
        .target(name: "VoiceprintEngine", dependencies: ["VoiceprintAudio", "VoiceprintFeatures", "VoiceprintModel", "VoiceprintScoring"]),
        .target(name: "VoiceprintProtocol"),
        .target(name: "VoiceprintStore", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // The fleet store (docs/fleet.md): PostgreSQL through postgres-nio, kept apart so the
        // embedded SQLite store needs none of it.
        .target(
            name: "VoiceprintPostgres",
            dependencies: [
                "VoiceprintStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "VoiceprintDaemon",
            dependencies: [
                "VoiceprintAudio", "VoiceprintFeatures", "VoiceprintModel", "VoiceprintScoring", "VoiceprintEngine",
                "VoiceprintProtocol", "VoiceprintStore", "VoiceprintPostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "voiceprintd",
            dependencies: [
                "VoiceprintDaemon", "CProcessStart",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The daemon's enrollment protocol offline: evaluate and calibrate security levels.
        .target(name: "VoiceprintCalibration", dependencies: ["VoiceprintEngine", "VoiceprintModel", "VoiceprintScoring", "VoiceprintStore"]),
        .target(name: "VoiceprintTraining", dependencies: ["VoiceprintModel", "VoiceprintFeatures", "VoiceprintAudio", "VoiceprintScoring"]),

        .executableTarget(
            name: "voiceprint",
            dependencies: [
                "VoiceprintAudio", "VoiceprintFeatures", "VoiceprintModel", "VoiceprintTraining", "VoiceprintScoring",
                "VoiceprintEngine", "VoiceprintProtocol", "VoiceprintCalibration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Release-mode benchmark driver used by `make bench*`; timing never runs in `make test`.
        .executableTarget(
            name: "VoiceprintBench",
            dependencies: [
                "VoiceprintAudio", "VoiceprintFeatures", "VoiceprintModel", "VoiceprintTraining", "VoiceprintEngine",
                "VoiceprintStore", "VoiceprintPostgres", "VoiceprintDaemon", "VoiceprintProtocol", "VoiceprintScoring", "CRecurrentKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Signal generators and temporary folders shared by the test targets.
        .target(name: "VoiceprintTestSupport", dependencies: ["VoiceprintAudio"], path: "Tests/VoiceprintTestSupport"),
        .testTarget(
            name: "VoiceprintModelTests",
            dependencies: ["VoiceprintModel", "VoiceprintEngine", "CRecurrentKernels", "VoiceprintTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "VoiceprintTrainingTests", dependencies: ["VoiceprintTraining", "VoiceprintModel", "VoiceprintScoring", "VoiceprintTestSupport"]),
        .testTarget(name: "VoiceprintScoringTests", dependencies: ["VoiceprintScoring"]),
        .testTarget(
            name: "VoiceprintEngineTests",
            dependencies: ["VoiceprintEngine", "VoiceprintModel", "VoiceprintScoring", "VoiceprintTestSupport"]
        ),
        .testTarget(name: "VoiceprintCalibrationTests", dependencies: ["VoiceprintCalibration", "VoiceprintEngine", "VoiceprintModel", "VoiceprintStore", "VoiceprintTestSupport"]),
        .testTarget(name: "VoiceprintProtocolTests", dependencies: ["VoiceprintProtocol"]),
        .testTarget(
            name: "VoiceprintStoreTests",
            // GRDB directly: the migration tests write a v1 file with the schema as it shipped.
            dependencies: ["VoiceprintStore", "VoiceprintPostgres", "VoiceprintTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]
        ),
        .testTarget(name: "VoiceprintDaemonTests", dependencies: ["VoiceprintDaemon", "VoiceprintEngine", "VoiceprintProtocol", "VoiceprintModel", "VoiceprintTestSupport", "VoiceprintCalibration", "VoiceprintScoring"]),
        .testTarget(name: "VoiceprintAudioTests", dependencies: ["VoiceprintAudio", "VoiceprintTestSupport"]),
        .testTarget(
            name: "VoiceprintFeaturesTests",
            dependencies: ["VoiceprintFeatures", "VoiceprintAudio", "VoiceprintTestSupport"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
