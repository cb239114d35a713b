import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

/// A registry that knows the Metrics kinds, for exposed fields.
func metricsRegistry() throws -> PluginRegistry {
    let registry = PluginRegistry()
    try registry.register(MetricsPlugin.plugin)
    return registry
}

@Suite("Scalar kinds and moving averages")
struct ScalarKindTests {
    @Test("bool, text and static round-trip through a file with their kinds and values")
    func roundTrip() throws {
        let directory = TemporaryDirectory("scalars")
        let stats = try StatsWriter(directory.options())
        let ready = try stats.flag("server.ready")
        let state = try stats.text("server.state", capacity: 16)
        try stats.static("release", "1.4.2")
        try stats.static("config.ratio", 0.25)
        try stats.processFacts(version: "2.0", build: "abc123")
        ready.set(true)
        state.set("draining")
        let snapshot = try StatsReader(path: stats.path).snapshot()
        #expect(snapshot.value("server.ready") == .bool(true))
        #expect(snapshot.value("server.state") == .string("draining"))
        #expect(snapshot.metric("server.state")?.descriptor.kind == "text")
        #expect(snapshot.metric("server.state")?.descriptor.layout == .doubleBuffer)
        #expect(snapshot.value("release") == .string("1.4.2"))
        #expect(snapshot.metric("release")?.descriptor.kind == "static")
        #expect(snapshot.value("app.version") == .string("2.0"))
        #expect(snapshot.value("config.ratio") == .double(0.25))
        #expect(snapshot.value("process.pid") == .int(Int64(getpid())))
        #expect(snapshot.value("app.build") == .string("abc123"))
        let started = try #require(snapshot.value("process.start_time")?.intValue)
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        #expect(started <= now && started > now - 86_400 * 1_000_000_000, "started within the last day")
        ready.set(false)
        #expect(try StatsReader(path: stats.path).snapshot().value("server.ready") == .bool(false))
        #expect(ready.value == false)
        #expect(state.value == "draining")
    }

    @Test(
        "text is cut at a UTF-8 character boundary, never inside a character",
        arguments: [
            ("abcdé", 5, "abcd"), ("héllo", 2, "h"), ("héllo", 3, "hé"), ("😀x", 3, ""), ("😀x", 4, "😀"),
            ("exact", 5, "exact"), ("", 4, ""),
        ])
    func textCut(_ text: String, _ capacity: Int, _ expected: String) throws {
        let directory = TemporaryDirectory("text-cut")
        let stats = try StatsWriter(directory.options())
        let gauge = try stats.text("t", capacity: capacity)
        gauge.set("previous value that is longer")
        gauge.set(text)
        #expect(try StatsReader(path: stats.path).snapshot().value("t") == .string(expected))
        #expect(gauge.value == expected)
    }

    @Test("a static value is in the file from the moment its metric is")
    func staticBeforePublication() throws {
        let directory = TemporaryDirectory("static")
        let stats = try StatsWriter(directory.options())
        let reader = try StatsReader(path: stats.path)
        #expect(try reader.snapshot().count == 0)
        try stats.static("build", "r42")
        let snapshot = try reader.snapshot()
        #expect(snapshot.count == 1)
        #expect(snapshot.value("build") == .string("r42"))
    }

    @Test("a moving average is the mean of the last N values, before and after the window fills")
    func movingAverage() throws {
        let directory = TemporaryDirectory("moving")
        let stats = try StatsWriter(directory.options())
        let average = try stats.movingAverage("wait", window: 10, unit: "s")
        let registry = try metricsRegistry()
        func exposed() throws -> [String: Value] {
            let sample = try #require(try StatsReader(path: stats.path).snapshot().metric("wait"))
            return Dictionary(uniqueKeysWithValues: sample.exposedFields(in: registry).map { ($0.name, $0.value) })
        }
        #expect(try exposed()["mean"] == .double(0), "no values yet")
        for value in [3.0, 4.0, 8.0] { average.add(value) }
        #expect(try exposed()["mean"] == .double(5))
        for value in 1...1000 { average.add(Double(value)) }
        let fields = try exposed()
        #expect(fields["mean"] == .double(995.5), "the mean of 991 … 1000")
        #expect(fields["count"] == .uint(1003))
        #expect(fields["window"] == .uint(10))
        #expect(average.mean == 995.5)
    }

    @Test("a moving average does not drift: the sum is added up afresh once per window")
    func movingAverageDrift() throws {
        let directory = TemporaryDirectory("drift")
        let stats = try StatsWriter(directory.options())
        let average = try stats.movingAverage("x", window: 4)
        // 1e16 + 1 rounds to 1e16: a running sum alone would never get back to exactly 4.
        for value in [1e16, 1, 1, 1, 1, 1, 1, 1] { average.add(value) }
        #expect(average.mean == 1)
        let sample = try #require(try StatsReader(path: stats.path).snapshot().metric("x"))
        #expect(sample.exposedFields(in: try metricsRegistry()).first { $0.name == "mean" }?.value == .double(1))
    }

    @Test("a window outside 1 … 1,048,576 values is refused")
    func movingAverageWindow() throws {
        let directory = TemporaryDirectory("window")
        let stats = try StatsWriter(directory.options())
        #expect(throws: MmStatsError.self) { _ = try stats.movingAverage("a", window: 0) }
        #expect(throws: MmStatsError.self) { _ = try stats.movingAverage("b", window: 1 << 21) }
    }
}
