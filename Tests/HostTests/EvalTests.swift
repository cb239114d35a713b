import Foundation
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
