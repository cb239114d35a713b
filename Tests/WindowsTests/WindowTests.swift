import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing
import Windows

/// Time windows read back through a file, with a driven clock.
@Suite("Windows")
struct WindowTests {
    static let second: UInt64 = 1_000_000_000

    /// A sample's exposed fields at `now`, read back from its file by a StatsReader.
    static func exposed(_ writer: StatsWriter, _ name: String, now: UInt64) throws -> [String: Value] {
        let registry = PluginRegistry()
        try registry.register(WindowsPlugin.plugin)
        let sample = try #require(try StatsReader(path: writer.path).snapshot().metric(name))
        let fields = sample.exposedFields(in: registry, now: now)
        return Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.value) })
    }

    @Test("values stay in a 10 s window for at least 10 s and at most 11 s, then the window empties")
    func expiry() throws {
        let directory = TemporaryDirectory("window")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 100 * Self.second)
        let window = try writer.window("bytes", length: .seconds(10), granularity: .seconds(1), clock: clock)
        window.record(10)  // interval 100
        clock.advance(by: 3 * Self.second + Self.second / 2)  // 103.5 s
        window.record(20)
        window.record(30)
        var fields = try Self.exposed(writer, "bytes", now: clock.now())
        #expect(fields["count"] == .uint(3))
        #expect(fields["sum"] == .double(60))
        #expect(fields["mean"] == .double(20))
        #expect(fields["seconds"] == .double(3.5))  // the writer is younger than the window
        #expect(fields["rate"] == .double(3 / 3.5))
        // At 110.9 s the window is intervals 100 … 110 (11 s): all three values.
        fields = try Self.exposed(writer, "bytes", now: 110 * Self.second + 900_000_000)
        #expect(fields["count"] == .uint(3))
        #expect(fields["seconds"] == .double(10.9))
        // At 111 s interval 100 has left: the value 10 is gone, without any write.
        fields = try Self.exposed(writer, "bytes", now: 111 * Self.second)
        #expect(fields["count"] == .uint(2))
        #expect(fields["sum"] == .double(50))
        #expect(fields["seconds"] == .double(10))
        #expect(fields["rate"] == .double(0.2))
        // At 114 s everything has left: a dead writer's window is empty.
        fields = try Self.exposed(writer, "bytes", now: 114 * Self.second)
        #expect(fields["count"] == .uint(0))
        #expect(fields["sum"] == .double(0))
        #expect(fields["mean"] == .double(0))
        #expect(fields["rate"] == .double(0))
    }

    @Test("a slot is reused for a new interval: the old interval's data is gone")
    func reuse() throws {
        let directory = TemporaryDirectory("window")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let window = try writer.window("events", length: .seconds(2), granularity: .seconds(1), clock: clock)
        window.increment(by: 100)  // interval 0, slot 0 of 3
        clock.set(3 * Self.second)  // interval 3, slot 0 again
        window.increment(by: 4)
        clock.advance(by: Self.second)  // interval 4, slot 1
        window.increment()
        let sample = try #require(try StatsReader(path: writer.path).snapshot().metric("events"))
        #expect(sample.field("t0") == .uint(3))
        #expect(sample.field("n0") == .uint(4))
        #expect(sample.field("t1") == .uint(4))
        #expect(sample.field("t2") == .uint(.max))  // never written
        let fields = try Self.exposed(writer, "events", now: 4 * Self.second + Self.second / 4)
        #expect(fields["count"] == .uint(5))
        #expect(fields["seconds"] == .double(2.25))
        #expect(fields["sum"] == .double(0))
    }

    @Test("a slot whose stamps disagree is left out of the window")
    func tornSlot() {
        let kind = WindowKind(slots: 3)
        let words: [Value] = [
            .uint(2 * Self.second), .uint(Self.second), .uint(0),
            .uint(0), .uint(5), .double(5), .uint(0),  // interval 0: whole
            .uint(1), .uint(7), .double(7), .uint(.max),  // interval 1: being reset
            .uint(2), .uint(1), .double(1), .uint(2),  // interval 2: whole
        ]
        let components = zip(kind.fieldNames, words).map { (name: $0, value: $1) }
        let fields = kind.exposedFields(components, now: 2 * Self.second)
        #expect(fields.first { $0.name == "count" }?.value == .uint(6))
        #expect(fields.first { $0.name == "sum" }?.value == .double(6))
        #expect(fields.first { $0.name == "rate" }?.value == .double(3))
        // Not a window's record: shown as it is.
        #expect(kind.exposedFields([(name: "x", value: .uint(1))], now: 0).map(\.name) == ["x"])
    }

    @Test("percentile windows: percentiles within the scheme's error, expiry, min and max")
    func percentiles() throws {
        let directory = TemporaryDirectory("window")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let latency = try writer.windowHistogram(
            "latency", unit: "s", length: .seconds(30), granularity: .seconds(10), resolution: 0.001, clock: clock)
        for ms in 1...1_000 { latency.record(Double(ms) / 1_000) }  // interval 0: 1 ms … 1 s
        clock.advance(by: 10 * Self.second)
        latency.record(5 as UInt64)  // interval 1: 5 ms
        var fields = try Self.exposed(writer, "latency", now: 15 * Self.second)
        #expect(fields["count"] == .uint(1_001))
        #expect(fields["min"] == .double(0.001))
        #expect(fields["max"] == .double(1))
        #expect(fields["seconds"] == .double(15))
        for (name, exact) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            let value = fields[name]?.doubleValue ?? .nan
            #expect(abs(value - exact) <= exact / 128 + 0.001, "\(name) = \(value)")
        }
        let sum = fields["sum"]?.doubleValue ?? .nan
        #expect(abs(sum - 500.505) < 1e-9)
        // At 40 s interval 0 has left (the window is intervals 1 … 4): only 5 ms remains.
        fields = try Self.exposed(writer, "latency", now: 40 * Self.second)
        #expect(fields["count"] == .uint(1))
        #expect(fields["p50"] == .double(0.005))
        #expect(fields["min"] == .double(0.005))
        #expect(fields["max"] == .double(0.005))
        #expect(fields["mean"] == .double(0.005))
        // At 50 s the window is empty.
        fields = try Self.exposed(writer, "latency", now: 50 * Self.second)
        #expect(fields["count"] == .uint(0))
        #expect(fields["p99"] == .double(0))
        #expect(fields["min"] == .double(0))
    }

    @Test("integer literals and Int values record as units, negative ones as 0 (the DocC example compiles)")
    func integerLiterals() throws {
        let directory = TemporaryDirectory("window")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let recentSizes = try writer.windowHistogram("response.bytes", unit: "B", clock: clock)
        recentSizes.record(1_500)  // an integer literal: record(_: Int), not ambiguous
        let count: Int = 2
        recentSizes.record(count)
        recentSizes.record(-3)  // as 0
        let fields = try Self.exposed(writer, "response.bytes", now: Self.second)
        #expect(fields["count"] == .uint(3))
        #expect(fields["sum"] == .double(1_502))
        #expect(fields["min"] == .double(0))
        #expect(fields["max"] == .double(1_500))
    }

    @Test("registration checks length, granularity and the number of slots")
    func registration() throws {
        let directory = TemporaryDirectory("window")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        #expect(throws: MmStatsError.self) {
            try writer.window("w", length: .seconds(1), granularity: .zero, clock: clock)
        }
        #expect(throws: MmStatsError.self) {
            try writer.window("w", length: .seconds(3_600), granularity: .milliseconds(100), clock: clock)
        }
        #expect(throws: MmStatsError.self) {
            try writer.windowHistogram("h", length: .seconds(60), granularity: .seconds(10), clock: clock)
        }
        let a = try writer.window("w", length: .seconds(60), granularity: .seconds(1), clock: clock)
        let b = try writer.window("w", length: .seconds(60), granularity: .seconds(1), clock: clock)
        a.increment()
        b.increment()
        #expect(try Self.exposed(writer, "w", now: 0)["count"] == .uint(2))
        // Same number of slots, another granularity: refused.
        #expect(throws: MmStatsError.self) {
            try writer.window("w", length: .seconds(120), granularity: .seconds(2), clock: clock)
        }
        #expect(WindowKind(slots: 61).signature.words * 8 == 1_976)
        #expect(WindowHistogramKind(slots: 4).signature.words * 8 == 75_968)
        let names = WindowHistogramKind(slots: 4).fieldNames.joined(separator: ",").utf8.count
        #expect(names <= 65_535)
    }
}
