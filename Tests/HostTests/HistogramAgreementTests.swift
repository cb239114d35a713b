import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

/// A record under the histogram's kind name whose signature differs: `kind` names it, `types`
/// gives its first four components (sum, min, max, resolution) before the 2,368 `Q` buckets.
struct CraftedHistogramKind: MetricKind {
    let types: [ComponentType]
    var name: String { "histogram" }
    var signature: Signature {
        Signature(types + [ComponentType](repeating: .uint64, count: HistogramScheme.bucketCount))
    }
    var fieldNames: [String] { HistogramKind().fieldNames }
    var defaultLayout: LayoutID { .word }
}

/// Histograms and timers written with known values; `mmstats slurp --json` and the Python
/// reader must print the same bytes, and the exposed values docs/FORMAT.md §11.2 gives.
@Suite("Histogram and timer: both readers agree")
struct HistogramAgreementTests {
    static let now = "1000000000"

    /// The `exposed` member of metric `name` in the first file of slurp's JSON.
    static func exposed(_ json: String, _ name: String, file: Int = 0) throws -> [String: Any] {
        let files = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        let metrics = try #require(files[file]["metrics"] as? [[String: Any]])
        let metric = try #require(metrics.first { $0["name"] as? String == name })
        return try #require(metric["exposed"] as? [String: Any], "\(name) has an exposed member")
    }

    @Test("every histogram and timer, word and page-flip files, crafted look-alikes: same bytes, known values")
    func agreement() throws {
        let directory = TemporaryDirectory("hist-agree")
        let stats = try StatsWriter(directory.options(application: "web", model: "Latency"))
        let sizes = try stats.histogram("sizes", dimensions: ["route": "/"], unit: "B", help: "body sizes")
        for value in 1...100 { sizes.record(value) }
        sizes.record(1_000_000)
        let seconds = try stats.histogram("seconds", unit: "s", resolution: 0.001)
        for value in [0.0042, 0.0045, 0.25, 1.5, 3600.0] { seconds.record(value) }
        let clock = StatsClock.manual(at: 0)
        let query = try stats.timer("query", clock: clock)
        query.record(nanoseconds: 1)
        query.record(.microseconds(250))
        query.record(.seconds(3_600))
        query.time { clock.advance(by: 1_234_567) }
        _ = try stats.histogram("empty")
        try stats.histogram("huge").record(UInt64.max)
        _ = try stats.record(
            "crafted.bool", kind: CraftedHistogramKind(types: [.float64, .bool, .uint64, .float64]))
        let signed = try stats.record(
            "crafted.signed", kind: CraftedHistogramKind(types: [.float64, .int64, .int64, .float64]))
        signed.update { w in
            w[double: 0] = 30
            w[1] = 10
            w[2] = 20
            w[double: 3] = 1
            w[4 + 10] = 1
            w[4 + 20] = 1
        }
        let negative = try stats.record(
            "crafted.negative", kind: CraftedHistogramKind(types: [.float64, .int64, .int64, .float64]))
        negative.update { w in w[int: 1] = -1 }

        var flipOptions = directory.options(application: "web", model: "Flip")
        flipOptions.layout = .pageFlip
        let flip = try StatsWriter(flipOptions)
        let flipped = try flip.histogram("flipped")
        flipped.record(5)
        flip.publish()
        flipped.record(500)  // not published: both readers see one value

        let paths = [stats.path, flip.path]
        let swift = try run(Binaries.mmstats, ["slurp", "--json", "--now", Self.now] + paths)
        let python = try run(
            "/usr/bin/env", ["python3", PythonReaderTests.script, "--json", "--now", Self.now] + paths)
        #expect(swift.status == 0, "\(swift.stderr)")
        #expect(python.status == 0, "\(python.stderr)")
        let same = swift.stdout == python.stdout  // (not inside #expect: the texts are long)
        #expect(same, "the same bytes")
        if !same {
            for (a, b) in zip(swift.stdout.split(separator: "\n"), python.stdout.split(separator: "\n")) where a != b {
                Issue.record("first difference: swift \(a) / python \(b)")
                break
            }
        }

        let s = try Self.exposed(swift.stdout, "sizes")
        #expect(s["count"] as? Int == 101)
        #expect(s["sum"] as? Double == 1_005_050)
        #expect(s["min"] as? Double == 1)
        #expect(s["max"] as? Double == 1_000_000)
        #expect(s["p50"] as? Double == 51)
        #expect(s["p90"] as? Double == 91)
        #expect(s["p999"] as? Double == 1_000_000)
        let keys = ["count", "sum", "min", "max", "mean", "p50", "p75", "p90", "p99", "p999"]
        #expect(Set(s.keys) == Set(keys))

        let sec = try Self.exposed(swift.stdout, "seconds")
        #expect(sec["count"] as? Int == 5)
        #expect(sec["min"] as? Double == 0.004)
        #expect(sec["p50"] as? Double == HistogramScheme.representative(HistogramScheme.index(250)) * 0.001)
        #expect(sec["max"] as? Double == 3_600_000 * 0.001)

        let q = try Self.exposed(swift.stdout, "query")
        #expect(q["count"] as? Int == 4)
        #expect(q["min"] as? Double == 1)
        #expect(q["max"] as? Double == 3.6e12)
        #expect(q["p50"] as? Double == HistogramScheme.representative(HistogramScheme.index(250_000)))

        let e = try Self.exposed(swift.stdout, "empty")
        #expect(e["count"] as? Int == 0)
        #expect(e["p99"] as? Double == 0)
        let h = try Self.exposed(swift.stdout, "huge")
        #expect(h["p50"] as? Double == Double(UInt64.max))

        let b = try Self.exposed(swift.stdout, "crafted.bool")
        #expect(b["count"] == nil && b["b0"] != nil, "a boolean min: shown as its components")
        let n = try Self.exposed(swift.stdout, "crafted.negative")
        #expect(n["count"] == nil, "a negative min: shown as its components")
        let c = try Self.exposed(swift.stdout, "crafted.signed")
        #expect(c["count"] as? Int == 2)
        #expect(c["p50"] as? Double == 10 && c["p999"] as? Double == 20)

        let f = try Self.exposed(swift.stdout, "flipped", file: 1)
        #expect(f["count"] as? Int == 1)
        #expect(f["max"] as? Double == 5)
    }
}
