// swift-tools-version: 6.2
import PackageDescription

// mmstats against the libraries users would pick instead, timed by one harness in one process
// (docs/BENCHMARKS.md): swift-prometheus, swift-metrics over swift-prometheus, hdrhistogram-swift,
// and mmstats itself directly and through its swift-metrics backend (Integrations/SwiftMetrics).
// A package of its own, so that the root package stays free of dependencies.
//
//   swift run -c release --package-path Benchmarks/Peers peer-benchmarks
//
// Both mmstats and swift-metrics have a module named `Metrics`; as in Integrations/SwiftMetrics,
// mmstats' is aliased, and an alias names its package by identity, which for a path dependency
// is the directory's name (the clone's, not "mmstats"), so it is computed here. In this
// package's sources mmstats' `Metrics` is `MmStatsMetrics`.
let root = Context.packageDirectory.split(separator: "/").dropLast(2).last.map(String.init) ?? "mmstats"
let mmstats = root.lowercased()

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mmstats-peer-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "peer-benchmarks", targets: ["PeerBenchmarks"])
    ],
    dependencies: [
        .package(path: "../.."),
        .package(path: "../../Integrations/SwiftMetrics"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "PeerBenchmarks",
            dependencies: [
                .product(name: "MmStatsCore", package: mmstats),
                .product(name: "Metrics", package: mmstats, moduleAliases: ["Metrics": "MmStatsMetrics"]),
                .product(name: "MmStatsMetricsBackend", package: "SwiftMetrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        )
    ]
)
