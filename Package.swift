// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mmstats",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MmStatsCore", targets: ["MmStatsCore"]),
        .library(name: "Metrics", targets: ["Metrics"]),
        .library(name: "Windows", targets: ["Windows"]),
        .library(name: "Processor", targets: ["Processor"]),
        .library(name: "ExternalPlugins", targets: ["ExternalPlugins"]),
        .library(name: "PluginExport", targets: ["PluginExport"]),
        .executable(name: "mmstats", targets: ["Host"]),
        // An example external plugin (docs/PLUGINS.md): libApdex.so, loaded with `--plugin`.
        .library(name: "Apdex", type: .dynamic, targets: ["Apdex"]),
    ],
    targets: [
        // C shim: gettid and SIGBUS-guarded reads of mapped files (what Swift cannot do).
        .target(name: "CMmStats", cSettings: [.define("_GNU_SOURCE")]),
        // The minimal core: file format, regions, layouts, protocols, registry, reader.
        .target(name: "MmStatsCore", dependencies: ["CMmStats"], swiftSettings: swiftSettings),
        .target(name: "Metrics", dependencies: ["MmStatsCore"], swiftSettings: swiftSettings),
        .target(name: "Windows", dependencies: ["MmStatsCore", "Metrics"], swiftSettings: swiftSettings),
        .target(name: "Processor", dependencies: ["MmStatsCore"], swiftSettings: swiftSettings),
        // The C interface of run-time plugins (docs/PLUGINS.md): header only, plus the entry call.
        .target(name: "CMmStatsPlugin", cSettings: [.define("_GNU_SOURCE")]),
        // Loads plugins from shared objects: dlopen, validation, kinds and evaluators as core protocols.
        .target(
            name: "ExternalPlugins", dependencies: ["MmStatsCore", "CMmStatsPlugin"], swiftSettings: swiftSettings),
        // Exports a Swift `Plugin` through the C interface, for plugin authors.
        .target(name: "PluginExport", dependencies: ["MmStatsCore", "CMmStatsPlugin"], swiftSettings: swiftSettings),
        // The example plugin, built as a shared object (product `Apdex`).
        .target(
            name: "Apdex", dependencies: ["MmStatsCore", "PluginExport"], path: "Plugins/Apdex",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "Host",
            dependencies: ["CMmStats", "MmStatsCore", "Metrics", "Windows", "Processor", "ExternalPlugins"],
            swiftSettings: swiftSettings
        ),
        // Benchmarks (release build): swift run -c release mmstats-benchmarks
        .executableTarget(
            name: "mmstats-benchmarks",
            dependencies: ["MmStatsCore", "Metrics", "Windows", "Processor"],
            path: "Sources/Benchmarks",
            swiftSettings: swiftSettings
        ),
        // A writer process that tests start: hammers records with known invariants.
        .executableTarget(
            name: "mmstats-test-writer",
            dependencies: ["MmStatsCore", "MmStatsTestSupport"],
            path: "Sources/TestWriter",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MmStatsTestSupport",
            dependencies: ["MmStatsCore"],
            path: "Tests/MmStatsTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MmStatsCoreTests",
            dependencies: ["CMmStats", "MmStatsCore", "MmStatsTestSupport", "mmstats-test-writer"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MetricsTests", dependencies: ["Metrics", "MmStatsCore", "MmStatsTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "WindowsTests", dependencies: ["Windows", "Metrics", "MmStatsCore", "MmStatsTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ProcessorTests", dependencies: ["Processor", "MmStatsCore", "MmStatsTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ExternalPluginsTests",
            dependencies: ["ExternalPlugins", "MmStatsCore", "MmStatsTestSupport", "Host"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HostTests",
            dependencies: [
                "Host", "Metrics", "Windows", "Processor", "MmStatsCore", "MmStatsTestSupport", "mmstats-test-writer",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
