// swift-tools-version: 6.2
import PackageDescription

// An application that uses mmstats: it picks only the products it needs (the core and the
// metric kinds), not Windows, Processor or the plugin loader.
let package = Package(
    name: "OrderService",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In your own package: .package(url: "https://…/mmstats.git", from: "…").
        .package(name: "mmstats", path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "OrderService",
            dependencies: [
                .product(name: "MmStatsCore", package: "mmstats"),
                .product(name: "Metrics", package: "mmstats"),
            ],
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ]
        )
    ]
)
