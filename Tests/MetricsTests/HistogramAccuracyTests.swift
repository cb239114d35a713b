import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

/// Percentiles read back through StatsReader against the exact quantiles of what was recorded,
/// within the documented error (docs/FORMAT.md §11.2): 1/128 of the value from 128 units up,
/// exact below 128 units; for real values, within 0.79 % from 128 × resolution up and within
/// resolution / 2 below.
@Suite("Histogram percentiles are within the documented error")
struct HistogramAccuracyTests {
    /// Records `values` (units) in an integer histogram, reads it back, and checks every field.
    func check(units values: [UInt64], label: String) throws {
        let directory = TemporaryDirectory("hist-accuracy")
        let stats = try StatsWriter(directory.options())
        let histogram = try stats.histogram("h")
        for value in values { histogram.record(value) }
        let fields = try HistogramTesting.exposed(stats.path, "h")
        let sorted = values.map { Double($0) }.sorted()
        #expect(fields["count"] == .uint(UInt64(values.count)), "\(label)")
        #expect(try HistogramTesting.double(fields, "min") == sorted.first, "\(label)")
        #expect(try HistogramTesting.double(fields, "max") == sorted.last, "\(label)")
        let sum = values.reduce(0.0) { $0 + Double($1) }
        #expect(try HistogramTesting.double(fields, "sum") == sum, "\(label)")
        #expect(try HistogramTesting.double(fields, "mean") == sum / Double(values.count), "\(label)")
        for (name, q) in HistogramTesting.quantiles {
            let exact = HistogramTesting.exact(sorted, q)
            let reported = try HistogramTesting.double(fields, name)
            if exact < 128 {
                #expect(reported == exact, "\(label) \(name): exact below 128")
            } else {
                #expect(abs(reported - exact) <= exact / 128, "\(label) \(name): \(reported) vs \(exact)")
            }
        }
    }

    @Test("uniform integers from 0 to 10^6")
    func uniform() throws {
        var random = SeededGenerator(seed: 1)
        try check(units: (0..<100_000).map { _ in UInt64.random(in: 0...1_000_000, using: &random) }, label: "uniform")
    }

    @Test("small uniform integers (0 to 127) are exact")
    func smallUniform() throws {
        var random = SeededGenerator(seed: 2)
        try check(units: (0..<10_000).map { _ in UInt64.random(in: 0...127, using: &random) }, label: "small")
    }

    @Test("log-normal nanoseconds (median 1 ms, sigma 2) spanning nine decades")
    func logNormal() throws {
        var random = SeededGenerator(seed: 3)
        let values = (0..<100_000).map { _ in UInt64(exp(log(1e6) + 2 * random.normal()).rounded()) }
        #expect(values.min()! < 10_000 && values.max()! > 100_000_000, "the sample spans many buckets")
        try check(units: values, label: "log-normal")
    }

    @Test("bimodal: 90 % near 100 µs, 10 % near 50 ms")
    func bimodal() throws {
        var random = SeededGenerator(seed: 4)
        let values = (0..<50_000).map { i in
            i % 10 == 9
                ? UInt64.random(in: 45_000_000...55_000_000, using: &random)
                : UInt64.random(in: 90_000...110_000, using: &random)
        }
        try check(units: values, label: "bimodal")
    }

    @Test("one repeated value gives that value for every percentile")
    func repeated() throws {
        try check(units: [UInt64](repeating: 123_456_789, count: 1_000), label: "repeated")
        let directory = TemporaryDirectory("hist-repeated")
        let stats = try StatsWriter(directory.options())
        let histogram = try stats.histogram("h")
        for _ in 0..<1_000 { histogram.record(123_456_789) }
        let fields = try HistogramTesting.exposed(stats.path, "h")
        for (name, _) in HistogramTesting.quantiles {
            #expect(fields[name] == .double(123_456_789), "\(name) is clamped to min = max")
        }
    }

    @Test("the range's extremes: 0, 1, 127, 128, 2^42 − 1, and values past 2^42 (max stays exact)")
    func extremes() throws {
        try check(units: [0, 1, 127, 128, 255, 256, (1 << 42) - 1], label: "edges")
        try check(units: [1 << 41, (1 << 42) - 1, (1 << 42) - 2], label: "top")
        let directory = TemporaryDirectory("hist-extremes")
        let stats = try StatsWriter(directory.options())
        let beyond = try stats.histogram("beyond")
        beyond.record(UInt64.max)
        beyond.record(1 << 50)
        let fields = try HistogramTesting.exposed(stats.path, "beyond")
        #expect(fields["count"] == .uint(2))
        #expect(fields["max"] == .double(Double(UInt64.max)))
        #expect(fields["min"] == .double(Double(1 << 50)))
        for (name, _) in HistogramTesting.quantiles {
            #expect(fields[name] == .double(Double(1 << 50)), "\(name): one bucket, its midpoint clamped to min")
        }
        let top = try stats.histogram("top")
        top.record(UInt64.max)
        let topFields = try HistogramTesting.exposed(stats.path, "top")
        #expect(topFields["min"] == .double(Double(UInt64.max)))
        for (name, _) in HistogramTesting.quantiles {
            #expect(topFields[name] == .double(Double(UInt64.max)), "\(name): clamped to min = max")
        }
    }

    @Test("timers: 1 ns and 1 hour, and log-normal durations, within 1 %")
    func timerRange() throws {
        let directory = TemporaryDirectory("timer-accuracy")
        let stats = try StatsWriter(directory.options())
        let timer = try stats.timer("t")
        var random = SeededGenerator(seed: 5)
        var values: [UInt64] = [1, 3_600_000_000_000]
        for _ in 0..<20_000 { values.append(UInt64(exp(log(5e4) + 3 * random.normal()).rounded())) }
        values = values.map { min(max($0, 1), 3_600_000_000_000) }
        for value in values { timer.record(.nanoseconds(Int64(value))) }
        let fields = try HistogramTesting.exposed(stats.path, "t")
        let sorted = values.map { Double($0) }.sorted()
        #expect(fields["min"] == .double(1))
        #expect(fields["max"] == .double(3_600_000_000_000))
        for (name, q) in HistogramTesting.quantiles {
            let exact = HistogramTesting.exact(sorted, q)
            let reported = try HistogramTesting.double(fields, name)
            #expect(abs(reported - exact) <= exact / 100, "\(name): \(reported) vs \(exact)")
        }
        let top = try stats.timer("top")
        top.record(.seconds(3_600))
        top.record(.nanoseconds(1))
        let topFields = try HistogramTesting.exposed(stats.path, "top")
        #expect(try abs(HistogramTesting.double(topFields, "p999") - 3.6e12) <= 3.6e12 / 128)
        #expect(topFields["p50"] == .double(1))
    }

    @Test("real values: log-normal seconds at a 1 µs resolution, within 1 % from 50 units up")
    func realValues() throws {
        let directory = TemporaryDirectory("hist-real")
        let stats = try StatsWriter(directory.options())
        let resolution = 1e-6
        let histogram = try stats.histogram("seconds", unit: "s", resolution: resolution)
        var random = SeededGenerator(seed: 6)
        let values = (0..<50_000).map { _ in exp(log(0.01) + 1.5 * random.normal()) }
        for value in values { histogram.record(value) }
        let fields = try HistogramTesting.exposed(stats.path, "seconds")
        let sorted = values.sorted()
        #expect(fields["count"] == .uint(UInt64(values.count)))
        let sum = values.reduce(0, +)
        #expect(try abs(HistogramTesting.double(fields, "sum") - sum) <= sum * 1e-12, "sum of the values themselves")
        let minimum = try HistogramTesting.double(fields, "min")
        #expect(abs(minimum - sorted[0]) <= resolution / 2 + sorted[0] * 1e-12)
        for (name, q) in HistogramTesting.quantiles {
            let exact = HistogramTesting.exact(sorted, q)
            let reported = try HistogramTesting.double(fields, name)
            let bound = exact >= 128 * resolution ? exact / 127 : resolution / 2 * 1.000001
            #expect(exact >= 50 * resolution)
            #expect(abs(reported - exact) <= bound, "\(name): \(reported) vs \(exact)")
            #expect(abs(reported - exact) <= exact / 100, "\(name): within 1 %")
        }
    }
}
