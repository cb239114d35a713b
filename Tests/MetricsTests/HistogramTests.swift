import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

extension SeededGenerator {
    /// A standard normal deviate (Box–Muller).
    mutating func normal() -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}

/// What tests need around histograms: a registry that knows the kinds, exact quantiles, reading back.
enum HistogramTesting {
    static let registry: PluginRegistry = {
        let registry = PluginRegistry()
        try? registry.register(MetricsPlugin.plugin)
        return registry
    }()

    /// The exposed quantiles' q, by field name.
    static let quantiles: [(name: String, q: Double)] = HistogramValues.exposedQuantiles

    /// The exact quantile of `sorted` by the readers' rank rule: the value of rank
    /// max(1, ceil(q × count)) (binary64).
    static func exact(_ sorted: [Double], _ q: Double) -> Double {
        let rank = max(1, (q * Double(sorted.count)).rounded(.up))
        return sorted[Int(rank) - 1]
    }

    /// The exposed fields of metric `name` of the file at `path`, read back by StatsReader.
    static func exposed(_ path: String, _ name: String) throws -> [String: Value] {
        let snapshot = try StatsReader(path: path, registry: registry).snapshot()
        let sample = try #require(snapshot.metric(name))
        let fields = sample.exposedFields(in: registry, now: 0)
        return Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.value) })
    }

    /// The double in an exposed field.
    static func double(_ fields: [String: Value], _ name: String) throws -> Double {
        guard case .double(let value) = try #require(fields[name]) else {
            Issue.record("\(name) is not a double: \(String(describing: fields[name]))")
            return .nan
        }
        return value
    }
}

/// A record named like a histogram's but not one (for the exposure fallback).
struct NotAHistogramKind: MetricKind {
    var name: String { "histogram" }
    var signature: Signature { Signature([.float64, .uint64]) }
    var fieldNames: [String] { ["sum", "min"] }
    var defaultLayout: LayoutID { .word }
}

@Suite("Histogram kind and handle")
struct HistogramTests {
    @Test("the plugin registers histogram and timer with the record dQQd2368Q")
    func kinds() throws {
        let registry = HistogramTesting.registry
        for name in ["histogram", "timer"] {
            let kind = try #require(registry.kind(named: name))
            #expect(kind.signature == (try Signature("dQQd2368Q")))
            #expect(kind.signature.words == 2_372)
            #expect(kind.fieldNames.prefix(5) == ["sum", "min", "max", "resolution", "b0"])
            #expect(kind.fieldNames.last == "b2367")
            #expect(kind.defaultLayout == .word)
        }
    }

    @Test("an empty histogram exposes count 0 and zeros, in the documented order and types")
    func empty() throws {
        let directory = TemporaryDirectory("hist-empty")
        let stats = try StatsWriter(directory.options())
        _ = try stats.histogram("h")
        let snapshot = try StatsReader(path: stats.path, registry: HistogramTesting.registry).snapshot()
        let sample = try #require(snapshot.metric("h"))
        #expect(sample.field("min") == .uint(.max), "min starts at 2^64 − 1: none")
        #expect(sample.field("resolution") == .double(1))
        let fields = sample.exposedFields(in: HistogramTesting.registry, now: 0)
        #expect(fields.map(\.name) == ["count", "sum", "min", "max", "mean", "p50", "p75", "p90", "p99", "p999"])
        #expect(fields[0].value == .uint(0))
        for field in fields.dropFirst() { #expect(field.value == .double(0), "\(field.name)") }
    }

    @Test("recording updates sum, min, max and one bucket; the handle sees what the reader sees")
    func recordWords() throws {
        let directory = TemporaryDirectory("hist-words")
        let stats = try StatsWriter(directory.options())
        let histogram = try stats.histogram("h", dimensions: ["route": "/"], unit: "B", help: "sizes")
        histogram.record(5)
        histogram.record(1_000_000)
        histogram.record(5)
        let values = histogram.values
        #expect(values.count == 3)
        #expect(values.buckets[5] == 2)
        #expect(values.buckets[HistogramScheme.index(1_000_000)] == 1)
        #expect(values.sum == 1_000_010)
        #expect(values.minimum == 5 && values.maximum == 1_000_000)
        let sample = try #require(
            try StatsReader(path: stats.path).snapshot().metric("h", dimensions: ["route": "/"]))
        #expect(HistogramValues(sample.fields) == values)
        #expect(sample.descriptor.unit == "B")
        let fields = HistogramKind().exposedFields(sample.fields)
        #expect(fields.first { $0.name == "p50" }?.value == .double(5))
        #expect(fields.first { $0.name == "p75" }?.value == .double(1_000_000), "bucket 954's midpoint, clamped to max")
        #expect(fields.first { $0.name == "mean" }?.value == .double(1_000_010.0 / 3))
    }

    @Test("real values: rounded to units, sum of the values; NaN, negatives and infinities never trap")
    func realValues() throws {
        let directory = TemporaryDirectory("hist-real-edges")
        let stats = try StatsWriter(directory.options())
        let ms = try stats.histogram("ms", unit: "s", resolution: 0.001)
        ms.record(0.0042)  // 4.2 units → 4
        ms.record(0.0045)  // 4.5 → 5 (halves up)
        #expect(ms.values.buckets[4] == 1 && ms.values.buckets[5] == 1)
        #expect(ms.values.sum == 0.0042 + 0.0045)
        let odd = try stats.histogram("odd", resolution: 0.5)
        for value in [Double.nan, -1, -Double.infinity, 0, Double.infinity, 1e300] { odd.record(value) }
        let values = odd.values
        #expect(values.count == 6)
        #expect(values.buckets[0] == 4, "NaN, negatives and 0 count as 0")
        #expect(values.maximum == 18_446_744_073_709_549_568, "infinities clamp to 2^64 − 2,048 units")
        #expect(values.minimum == 0)
        #expect(values.sum == 2 * 18_446_744_073_709_549_568.0 * 0.5, "the clamped values")
        let fields = try HistogramTesting.exposed(stats.path, "odd")
        #expect(fields["max"] == .double(18_446_744_073_709_549_568.0 * 0.5))
        #expect(fields["p999"] == .double(HistogramScheme.representative(2_367) * 0.5), "the last bucket's midpoint")
        #expect(fields["p50"] == .double(0))
    }

    @Test("asking again returns the same histogram; another resolution or kind is refused")
    func registration() throws {
        let directory = TemporaryDirectory("hist-again")
        let stats = try StatsWriter(directory.options())
        try stats.histogram("h", resolution: 0.25).record(1)
        try stats.histogram("h", resolution: 0.25).record(2)
        #expect(try stats.histogram("h", resolution: 0.25).values.count == 2)
        #expect(throws: MmStatsError.self) { try stats.histogram("h", resolution: 0.5) }
        #expect(throws: MmStatsError.self) { try stats.histogram("h") }
        #expect(throws: MmStatsError.self) { try stats.timer("h") }
        for bad in [0, -1, Double.nan, Double.infinity, 1e300] {
            #expect(throws: MmStatsError.self, "resolution \(bad)") { try stats.histogram("bad", resolution: bad) }
        }
    }

    @Test("in a page-flip file values appear at publish()")
    func pageFlip() throws {
        let directory = TemporaryDirectory("hist-flip")
        var options = directory.options()
        options.layout = .pageFlip
        let stats = try StatsWriter(options)
        let histogram = try stats.histogram("h")
        let timer = try stats.timer("t")
        histogram.record(7)
        timer.record(nanoseconds: 9)
        var fields = try HistogramTesting.exposed(stats.path, "h")
        #expect(fields["count"] == .uint(0))
        stats.publish()
        fields = try HistogramTesting.exposed(stats.path, "h")
        #expect(fields["count"] == .uint(1))
        #expect(fields["p50"] == .double(7))
        #expect(try HistogramTesting.exposed(stats.path, "t")["max"] == .double(9))
    }

    @Test("a record that is not a histogram's is exposed as its components")
    func fallback() throws {
        let kind = HistogramKind()
        let short: [(name: String, value: Value)] = [("sum", .double(1)), ("min", .uint(2))]
        #expect(kind.exposedFields(short).map(\.name) == ["sum", "min"])
        var components = HistogramValues().components
        components[1].value = .bool(true)
        #expect(kind.exposedFields(components).count == 2_372, "a boolean min")
        components[1].value = .int(-1)
        #expect(kind.exposedFields(components).count == 2_372, "a negative min")
        components[1].value = .int(3)
        #expect(kind.exposedFields(components).count == 10, "a non-negative signed integer is a number")
        components[0].value = .uint(3)
        #expect(kind.exposedFields(components).count == 2_372, "an integer sum")
        components[0].value = .double(3)
        components[7].name = "x"
        #expect(kind.exposedFields(components).count == 2_372, "a renamed bucket")

        let directory = TemporaryDirectory("hist-fake")
        let stats = try StatsWriter(directory.options())
        _ = try stats.record("fake", kind: NotAHistogramKind())
        let fields = try HistogramTesting.exposed(stats.path, "fake")
        #expect(fields.keys.sorted() == ["min", "sum"])
    }
}
