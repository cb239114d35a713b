import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing
import Windows

/// Meters and windows: `mmstats slurp --json --now T` and the Python reader print the same
/// bytes, and the exposed values are the ones docs/FORMAT.md §11.4 and §11.5 define.
@Suite("Windows and meters agree across readers")
struct WindowAgreementTests {
    static let second: UInt64 = 1_000_000_000
    static let script = Binaries.packageRoot + "/Tools/python/mmstats_reader.py"

    /// The exposed members of `path`'s metrics by name, from both readers (which must agree).
    static func readBoth(_ path: String, now: UInt64) throws -> [String: [String: Any]] {
        let swift = try run(Binaries.mmstats, ["slurp", "--json", "--now", String(now), path])
        let python = try run("/usr/bin/env", ["python3", script, "--json", "--now", String(now), path])
        #expect(swift.status == 0, "\(swift.stderr)")
        #expect(python.status == 0, "\(python.stderr)")
        #expect(swift.stdout == python.stdout, "the same bytes at --now \(now)")
        if swift.stdout != python.stdout {
            let a = swift.stdout.split(separator: "\n")
            let b = python.stdout.split(separator: "\n")
            for (x, y) in zip(a, b) where x != y {
                Issue.record("swift: \(x)\npython: \(y)")
                break
            }
        }
        let files = try #require(try JSONSerialization.jsonObject(with: Data(swift.stdout.utf8)) as? [[String: Any]])
        let metrics = try #require(files.first?["metrics"] as? [[String: Any]])
        var result: [String: [String: Any]] = [:]
        for metric in metrics {
            let name = try #require(metric["name"] as? String)
            result[name] = try #require(metric["exposed"] as? [String: Any], "\(name) has no exposed member")
        }
        return result
    }

    @Test("meter, window and percentile window: same JSON from slurp and Python, at several times")
    func sameExposedFields() throws {
        let directory = TemporaryDirectory("window-agree")
        let writer = try StatsWriter(directory.options(application: "web", model: "Windows"))
        let start = 2_000 * MeterKind.interval
        let clock = StatsClock.manual(at: start)
        let meter = try writer.meter("requests", clock: clock)
        let window = try writer.window("bytes", length: .seconds(10), granularity: .seconds(1), clock: clock)
        let latency = try writer.windowHistogram(
            "latency", unit: "s", length: .seconds(30), granularity: .seconds(10), resolution: 0.001, clock: clock)
        // Two minutes of traffic: 1 event per second, then a burst, with values 1 … 120 ms.
        for second in 1...120 {
            meter.mark()
            window.record(Double(second))
            latency.record(Double(second) / 1_000)
            if second == 100 { meter.mark(500) }
            clock.advance(by: Self.second)
        }
        let end = clock.now()
        var exposed = try Self.readBoth(writer.path, now: end)
        let m = try #require(exposed["requests"])
        #expect(m["count"] as? Int == 620)
        #expect(m["mean_rate"] as? Double == 620 / 120.0)
        #expect(Set(m.keys) == ["count", "mean_rate", "m1_rate", "m5_rate", "m15_rate"])
        let m1 = try #require(m["m1_rate"] as? Double)
        #expect(m1 > 1 && m1 < 100)
        let w = try #require(exposed["bytes"])
        // At 2,120 s the window is 2,110 … 2,120: seconds 110 … 120 were recorded in 2,110 … 2,119.
        #expect(w["count"] as? Int == 10)
        #expect(w["sum"] as? Double == Double((111...120).reduce(0, +)))
        #expect(w["seconds"] as? Double == 10.0)
        #expect(w["rate"] as? Double == 1.0)
        let h = try #require(exposed["latency"])
        #expect(h["max"] as? Double == 0.12)
        // Intervals 209 … 212 of 10 s (2,090 s … now): the values of seconds 91 … 120.
        #expect(h["count"] as? Int == 30)
        #expect(h["min"] as? Double == 0.091)
        #expect(
            Set(h.keys) == [
                "count", "sum", "mean", "rate", "seconds", "min", "max", "p50", "p75", "p90", "p99", "p999",
            ])
        // The writer goes idle: the readers agree on the decay, and the windows empty on schedule.
        for later in [end + 7 * Self.second, end + 61 * Self.second, end + 16 * 60 * Self.second] {
            exposed = try Self.readBoth(writer.path, now: later)
        }
        #expect(exposed["bytes"]?["count"] as? Int == 0)
        #expect(exposed["latency"]?["count"] as? Int == 0)
        #expect(exposed["requests"]?["m15_rate"] as? Double == 0.0)
        #expect(exposed["requests"]?["count"] as? Int == 620)
    }
}
