import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// The `apdex` record as a writer declares it (the plugin in Plugins/Apdex exposes its score).
struct ApdexWriterKind: MetricKind {
    var name: String { "apdex" }
    var signature: Signature { Signature([.uint64, .uint64, .uint64]) }
    var fieldNames: [String] { ["satisfied", "tolerating", "frustrated"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

@Suite("Plugins named by a manifest")
struct ManifestPluginTests {
    static var apdex: String { Binaries.directory + "/libApdex.so" }

    /// A stats root with one writer recording 60 satisfied, 30 tolerating, 10 frustrated.
    func writer(_ dir: TemporaryDirectory) throws -> StatsWriter {
        let stats = try StatsWriter(dir.options(application: "shop", model: "Checkout"))
        try stats.record("checkout.apdex", kind: ApdexWriterKind()).set([.uint(60), .uint(30), .uint(10)])
        return stats
    }

    @Test("the host loads the manifest's plugin: its kind's fields and its function in eval, run and check")
    func endToEnd() throws {
        try #require(FileManager.default.fileExists(atPath: Self.apdex), "build with swift build --build-tests")
        let dir = TemporaryDirectory("manifest-plugin")
        let stats = try writer(dir)
        defer { stats.close() }
        // A relative path is relative to the manifest's directory.
        try FileManager.default.copyItem(atPath: Self.apdex, toPath: dir.path + "/libApdex.so")
        let manifest = dir.path + "/m.json"
        try write(
            """
            {
                "plugins": ["./libApdex.so"],
                "sources": { "applications": ["shop"] },
                "entries": [
                    { "destination": "score", "type": "float", "expression": "checkout.apdex.score" },
                    { "destination": "again", "type": "float",
                      "expression": "apdex(checkout.apdex.satisfied, checkout.apdex.tolerating, checkout.apdex.frustrated)" },
                    { "destination": "pct", "type": "integer", "expression": "score * 100" },
                ],
            }
            """, to: manifest)
        let check = try run(Binaries.mmstats, ["check", manifest])
        #expect(check.status == 0, "\(check.stderr)")
        let eval = try run(Binaries.mmstats, ["eval", "--manifest", manifest, "--passes", "1", "--json", dir.path])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.stdout.contains(#""score": 0.75, "again": 0.75, "pct": 75"#), "\(eval.stdout)")
        let host = try HostProcess(
            ["run", "--manifest", manifest, "--root", dir.path, "--passes", "1", "--interval", "0.2", "--json"])
        let pass = values(host.pass())
        #expect(host.finish().status == 0)
        #expect(pass["again"] as? Double == 0.75)

        // /metrics: the plugin kind's exposed fields, and the results computed with its function.
        let server = try ServeProcess(["--root", dir.path, "--manifest", manifest, "--interval", "0.2"])
        try #require(server.port != 0)
        var body = ""
        for _ in 0..<50 {
            body = try get(server.port, "/metrics")?.body ?? ""
            if body.contains("\nagain{") { break }
            usleep(100_000)
        }
        #expect(server.stop().status == 0)
        let lines = body.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("checkout_apdex_score{") && $0.hasSuffix(" 0.75") }, "\(body)")
        #expect(lines.contains { $0.hasPrefix("again{") && $0.hasSuffix(" 0.75") }, "\(body)")

        // serve --plugin without a manifest: the kind's fields too; without it, only the raw components.
        for (arguments, expected) in [(["--plugin", Self.apdex], true), ([], false)] {
            let plain = try ServeProcess(["--root", dir.path] + arguments)
            try #require(plain.port != 0)
            let text = try get(plain.port, "/metrics")?.body ?? ""
            #expect(plain.stop().status == 0)
            #expect(text.contains("\ncheckout_apdex_score{") == expected, "\(arguments): \(text)")
            #expect(text.contains("\ncheckout_apdex_satisfied{"), "\(text)")
        }
    }

    @Test("a missing plugin, a non-plugin file, and a manifest without its plugin: errors at the plugin's position")
    func errors() throws {
        let dir = TemporaryDirectory("manifest-plugin-errors")
        let manifest = dir.path + "/m.json"
        try write("not a shared object", to: dir.path + "/fake.so")
        try write(
            """
            { "plugins": ["./missing.so",
                          "./fake.so", "no-such-plugin"],
              "entries": [ { "destination": "a", "type": "float", "expression": "apdex(1, 2, 3)" } ] }
            """, to: manifest)
        let check = try run(Binaries.mmstats, ["check", manifest])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(manifest):1:15: plugins: "), "\(check.stderr)")
        #expect(check.stderr.contains("missing.so"))
        #expect(check.stderr.contains("\(manifest):2:15: plugins: "), "\(check.stderr)")
        #expect(check.stderr.contains("fake.so"))
        #expect(check.stderr.contains("\(manifest):2:28: plugins: "), "\(check.stderr)")
        #expect(check.stderr.contains("unknown function 'apdex'"), "\(check.stderr)")
        let run = try run(Binaries.mmstats, ["run", "--manifest", manifest, "--root", dir.path, "--passes", "1"])
        #expect(run.status == 1)
        #expect(!run.stderr.contains("results in"), "nothing runs with a broken manifest")
    }

    @Test(
        "the same plugin file named twice (--plugin and the manifest, twice, a link) is one plugin; another file of that name is an error"
    )
    func samePluginTwice() throws {
        try #require(FileManager.default.fileExists(atPath: Self.apdex), "build with swift build --build-tests")
        let dir = TemporaryDirectory("manifest-plugin-twice")
        let stats = try writer(dir)
        defer { stats.close() }
        try FileManager.default.copyItem(atPath: Self.apdex, toPath: dir.path + "/libApdex.so")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/link.so", withDestinationPath: "libApdex.so")
        let manifest = dir.path + "/m.json"
        try write(
            """
            { "plugins": ["./libApdex.so", "./link.so", "././libApdex.so"],
              "entries": [ { "destination": "score", "type": "float", "expression": "checkout.apdex.score" } ] }
            """, to: manifest)
        // serve --plugin P --manifest F naming P too: one plugin, served.
        let server = try ServeProcess([
            "--root", dir.path, "--plugin", dir.path + "/libApdex.so", "--manifest", manifest,
        ])
        #expect(server.port != 0)
        let (status, stderr) = server.stop()
        #expect(status == 0, "\(stderr)")
        // slurp --plugin X --plugin X (and a link to X): one plugin, its fields shown.
        let slurp = try run(
            Binaries.mmstats,
            [
                "slurp", "--plugin", dir.path + "/libApdex.so", "--plugin", dir.path + "/./libApdex.so",
                "--plugin", dir.path + "/link.so", dir.path,
            ])
        #expect(slurp.status == 0, "\(slurp.stderr)")
        #expect(slurp.stdout.contains("score=0.75"), "\(slurp.stdout)")

        // A different file (a copy) whose plugin has the same name: an error naming both files,
        // with the manifest's own prefix only and the joined path without "./".
        try FileManager.default.copyItem(atPath: Self.apdex, toPath: dir.path + "/copy.so")
        let other = dir.path + "/./other.json"
        try write(
            """
            { "plugins": ["./libApdex.so", "./copy.so"],
              "entries": [ { "destination": "score", "type": "float", "expression": "checkout.apdex.score" } ] }
            """, to: other)
        let check = try run(Binaries.mmstats, ["check", other])
        #expect(check.status == 1)
        let line = check.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(line.hasPrefix("\(other):1:32: plugins: \(dir.path)/copy.so: plugin apdex: "), "\(check.stderr)")
        #expect(line.contains("already loaded from another file") && line.hasSuffix("/libApdex.so"), "\(line)")
        let message = line.dropFirst(other.count)
        #expect(!message.contains("mmstats:") && !message.contains("/./"), "\(line)")
        let twice = try run(
            Binaries.mmstats,
            ["slurp", "--plugin", dir.path + "/libApdex.so", "--plugin", dir.path + "/copy.so", dir.path])
        #expect(twice.status == 1)
        #expect(
            twice.stderr.contains("copy.so: plugin apdex: a plugin of this name is already loaded"), "\(twice.stderr)")
    }
}
