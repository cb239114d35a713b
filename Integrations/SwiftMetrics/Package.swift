// swift-tools-version: 6.2
import PackageDescription

// A swift-metrics backend that records into mmstats files: a package of its own, so that the
// root package stays free of dependencies. It uses the root package by path.
//
// Both packages have a module named `Metrics`. SwiftPM allows that only if one of them is
// aliased, and an alias names its package by identity, which for a path dependency is the
// directory's name (the clone's, not "mmstats"), so it is computed here. In this package's
// sources `import Metrics` is mmstats' module; swift-metrics' API comes from `CoreMetrics`.
let root = Context.packageDirectory.split(separator: "/").dropLast(2).last.map(String.init) ?? "mmstats"
let mmstats = root.lowercased()

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mmstats-swift-metrics",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MmStatsMetricsBackend", targets: ["MmStatsMetricsBackend"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.0.0"),
        .package(path: "../.."),
    ],
    targets: [
        .target(
            name: "MmStatsMetricsBackend",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MmStatsCore", package: mmstats),
                .product(name: "Metrics", package: mmstats, moduleAliases: ["Metrics": "MmStatsMetrics"]),
            ],
            swiftSettings: swiftSettings
        ),
        // What an update costs (release build): swift run -c release mmstats-swift-metrics-benchmarks
        .executableTarget(
            name: "mmstats-swift-metrics-benchmarks",
            dependencies: [
                "MmStatsMetricsBackend",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MmStatsCore", package: mmstats),
                .product(name: "Metrics", package: mmstats, moduleAliases: ["Metrics": "MmStatsMetrics"]),
            ],
            path: "Sources/Benchmarks",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MmStatsMetricsBackendTests",
            dependencies: [
                "MmStatsMetricsBackend",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MmStatsCore", package: mmstats),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
