import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("mmstats eval")
struct EvalTests {
    /// The JSON objects `mmstats eval --json` printed, one per pass.
    static func passes(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test("a manifest's passes over a live writer: totals, no first-pass rate, then rates and ratios")
    func passesOverAWriter() throws {
        let directory = TemporaryDirectory("eval")
        let stats = try StatsWriter(directory.options(application: "web", model: "HTTP"))
        try stats.counter("web.requests").increment(by: 100)
        try stats.counter("web.errors").increment(by: 5)
        let manifest = directory.path + "/manifest.json"
        try """
        {
            // comments and trailing commas are fine
            "entries": [
                { "destination": "total", "type": "counter", "expression": "web.requests" },
                { "destination": "rate", "type": "float", "expression": "rate(web.requests)" },
                { "destination": "errors_pct", "type": "float", "expression": "web.errors * 100 / web.requests", },
                { "destination": "missing", "type": "integer", "expression": "no.such.metric + 1" },
            ],
        }
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let result = try run(
            Binaries.mmstats,
            ["eval", "--manifest", manifest, "--passes", "2", "--interval", "0.2", "--json", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let passes = try Self.passes(result.stdout)
        #expect(passes.count == 2)
        let first = try #require(passes.first?["values"] as? [String: Any])
        #expect(first["total"] as? Int == 100)
        #expect(first["rate"] is NSNull, "no rate before two samples")
        #expect(first["errors_pct"] as? Double == 5.0)
        #expect(first["missing"] is NSNull, "a missing input is no value, not 0")
        #expect(passes.first?["elapsed_ns"] is NSNull)
        let second = try #require(passes.last?["values"] as? [String: Any])
        #expect(second["rate"] as? Double == 0.0, "nothing happened between the passes")
        #expect((passes.last?["elapsed_ns"] as? Int ?? 0) > 0)
    }

    @Test("by default a host entry re-calculates: ratios of totals, merged percentiles, one count, constants once")
    func defaultOperationOverTwoFiles() throws {
        let directory = TemporaryDirectory("eval-default-operation")
        var writers: [StatsWriter] = []
        for (model, requests, errors, depth, latencies) in [
            ("A", 100, 10, 4, Array(repeating: 100, count: 99)), ("B", 300, 30, 8, [100_000]),
        ] {
            let stats = try StatsWriter(directory.options(application: "web", model: model))
            try stats.counter("web.requests").increment(by: UInt64(requests))
            try stats.counter("web.errors").increment(by: UInt64(errors))
            try stats.gauge("queue.depth").set(Int64(depth))
            let latency = try stats.histogram("web.latency", unit: "us")
            for value in latencies { latency.record(UInt64(value)) }
            writers.append(stats)
        }
        let manifest = directory.path + "/manifest.json"
        try """
        { "entries": [
            { "destination": "ratio", "type": "float", "expression": "web.errors / web.requests", "maximum": 1 },
            { "destination": "ratio_sum", "type": "float", "expression": "web.errors / web.requests", "operation": "sum" },
            { "destination": "queues", "type": "integer", "expression": "count(queue.*)" },
            { "destination": "depth_avg", "type": "float", "expression": "avg(queue.depth)" },
            { "destination": "p50", "type": "float", "expression": "percentile(web.latency, 0.5)" },
            { "destination": "p999", "type": "float", "expression": "percentile(web.latency, 0.999)" },
            { "destination": "constant", "type": "integer", "expression": "2 + 3 * 4" },
        ] }
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let result = try run(Binaries.mmstats, ["eval", "--manifest", manifest, "--json", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let values = try #require(try Self.passes(result.stdout).first?["values"] as? [String: Any])
        #expect(values["ratio"] as? Double == 40.0 / 400.0, "Σerrors / Σrequests, not a sum of ratios")
        #expect(values["ratio_sum"] as? Double == 0.2, "sum, when asked for, adds the files' ratios")
        #expect(values["queues"] as? Int == 1, "one name matches, however many files hold it")
        #expect(values["depth_avg"] as? Double == 12.0, "the name's value at the host is its sum over the files")
        let p50 = try #require(values["p50"] as? Double)
        let p999 = try #require(values["p999"] as? Double)
        #expect(p50 >= 100 && p50 < 102, "the median of the merged histograms (99 of 100 values are 100): \(p50)")
        #expect(p999 >= 100_000 && p999 < 102_000, "the top of the merged histograms: \(p999)")
        #expect(values["constant"] as? Int == 14, "a constant is evaluated once, not once per file")

        // With no files at all, a constant still has its value.
        let empty = TemporaryDirectory("eval-default-operation-empty")
        let none = try run(Binaries.mmstats, ["eval", "--manifest", manifest, "--json", empty.path])
        let nothing = try #require(try Self.passes(none.stdout).first?["values"] as? [String: Any])
        #expect(nothing["constant"] as? Int == 14, "\(none.stdout)")
        #expect(nothing["ratio"] is NSNull)
        for writer in writers { writer.close() }
    }

    @Test("a broken manifest is an error naming the file, line and column; nothing is evaluated")
    func brokenManifest() throws {
        let directory = TemporaryDirectory("eval-bad")
        let manifest = directory.path + "/bad.json"
        try """
        {
            "entries": [
                { "destination": "x", "type": "float", "expression": "a + * b" }
            ]
        }
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let result = try run(Binaries.mmstats, ["eval", "--manifest", manifest, directory.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(manifest):3:"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }
}

@Suite("mmstats eval: schedule and paths")
struct EvalScheduleTests {
    @Test("passes are S seconds apart from one start to the next: every elapsed_ns after the first is at least S")
    func passesAreSApart() throws {
        let directory = TemporaryDirectory("eval-schedule")
        let stats = try StatsWriter(directory.options(application: "web", model: "HTTP"))
        defer { stats.close() }
        try stats.counter("web.requests").increment(by: 1)
        let manifest = directory.path + "/m.json"
        try #"{ "entries": [ { "destination": "r", "type": "float", "expression": "rate(web.requests)" } ] }"#
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        let result = try run(
            Binaries.mmstats,
            ["eval", "--manifest", manifest, "--passes", "3", "--interval", "0.3", "--json", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let passes = try EvalTests.passes(result.stdout)
        #expect(passes.count == 3)
        for pass in passes.dropFirst() {
            let elapsed = try #require(pass["elapsed_ns"] as? Int)
            #expect(elapsed >= 300_000_000, "\(passes)")  // a lower bound on a sleep: never an upper one
        }
    }

    @Test("relative sources.roots are relative to the manifest's directory, whatever the working directory")
    func rootsRelativeToTheManifest() throws {
        let directory = TemporaryDirectory("eval-roots")
        try FileManager.default.createDirectory(
            atPath: directory.path + "/conf/stats", withIntermediateDirectories: true)
        var options = directory.options(application: "web", model: "HTTP")
        options.root = directory.path + "/conf/stats"
        let stats = try StatsWriter(options)
        defer { stats.close() }
        try stats.counter("web.requests").increment(by: 42)
        try #"""
        { "sources": { "roots": ["./stats"] },
          "entries": [ { "destination": "total", "type": "counter", "expression": "web.requests" } ] }
        """#.write(toFile: directory.path + "/conf/m.json", atomically: true, encoding: .utf8)
        // From the directory above the manifest's (a relative manifest path), and from /.
        for (cwd, path) in [(directory.path, "conf/m.json"), ("/", directory.path + "/conf/m.json")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Binaries.mmstats)
            process.arguments = ["eval", "--manifest", path, "--passes", "1", "--json"]
            process.currentDirectoryURL = URL(fileURLWithPath: cwd)
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(cwd): \(stderr)")
            let values = try #require(try EvalTests.passes(stdout).first?["values"] as? [String: Any])
            #expect(values["total"] as? Int == 42, "\(cwd): \(stdout) \(stderr)")
        }
    }
}
