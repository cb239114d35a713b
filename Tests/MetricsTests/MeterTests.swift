import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

/// Meters read back through a file: every rate against its closed form, with a driven clock.
@Suite("Meter")
struct MeterTests {
    static let second: UInt64 = 1_000_000_000
    static let interval = MeterKind.interval

    /// The meter's exposed fields at `now`, read back from its file by a StatsReader.
    static func exposed(_ writer: StatsWriter, _ name: String, now: UInt64) throws -> [String: Value] {
        let registry = PluginRegistry()
        try registry.register(MetricsPlugin.plugin)
        let sample = try #require(try StatsReader(path: writer.path).snapshot().metric(name))
        #expect(sample.descriptor.kind == "meter")
        let fields = sample.exposedFields(in: registry, now: now)
        #expect(fields.map(\.name) == ["count", "mean_rate", "m1_rate", "m5_rate", "m15_rate"])
        return Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.value) })
    }

    static func double(_ fields: [String: Value], _ name: String) -> Double { fields[name]?.doubleValue ?? .nan }

    static func close(_ a: Double, _ b: Double, relative: Double = 1e-12) -> Bool {
        abs(a - b) <= relative * max(abs(a), abs(b))
    }

    @Test("the smoothing constants are 1 − exp(−5/60), 1 − exp(−5/300), 1 − exp(−5/900)")
    func alphas() {
        #expect(MeterKind.alphas.m1 == 1 - exp(-5.0 / 60.0))
        #expect(MeterKind.alphas.m5 == 1 - exp(-5.0 / 300.0))
        #expect(MeterKind.alphas.m15 == 1 - exp(-5.0 / 900.0))
    }

    @Test("a constant rate for 20 minutes gives that rate on every average; idle intervals decay it as (1 − α)^k")
    func constantRateThenIdle() throws {
        let directory = TemporaryDirectory("meter")
        let writer = try StatsWriter(directory.options())
        let start = 1_000 * Self.interval  // an interval boundary
        let clock = StatsClock.manual(at: start)
        let meter = try writer.meter("requests", clock: clock)
        // 240 intervals (20 minutes) of 50 events each: 10 events per second.
        for _ in 0..<240 {
            meter.mark(20)
            meter.mark(30)
            clock.advance(by: Self.interval)
        }
        #expect(meter.count == 12_000)
        let now = start + 240 * Self.interval
        var fields = try Self.exposed(writer, "requests", now: now)
        #expect(fields["count"] == .uint(12_000))
        #expect(Self.double(fields, "m1_rate") == 10)
        #expect(Self.double(fields, "m5_rate") == 10)
        #expect(Self.double(fields, "m15_rate") == 10)
        #expect(Self.double(fields, "mean_rate") == 10)
        // The writer stops; k complete idle intervals later each rate is 10 × (1 − α)^k.
        for k in [1, 6, 12, 60] {
            let later = now + UInt64(k) * Self.interval + 2 * Self.second  // inside interval k
            fields = try Self.exposed(writer, "requests", now: later)
            #expect(Self.close(Self.double(fields, "m1_rate"), 10 * pow(1 - MeterKind.alphas.m1, Double(k))))
            #expect(Self.close(Self.double(fields, "m5_rate"), 10 * pow(1 - MeterKind.alphas.m5, Double(k))))
            #expect(Self.close(Self.double(fields, "m15_rate"), 10 * pow(1 - MeterKind.alphas.m15, Double(k))))
            let elapsed = Double(later - start) / 1e9
            #expect(Self.double(fields, "mean_rate") == 12_000 / elapsed)
        }
        // After one idle minute the 1-minute rate is 10/e (12 intervals of 5 s, ±rounding).
        fields = try Self.exposed(writer, "requests", now: now + 12 * Self.interval)
        #expect(abs(Self.double(fields, "m1_rate") - 10 * exp(-1)) < 1e-9)
        // 15 idle minutes: every interval the reader looks at is empty.
        fields = try Self.exposed(writer, "requests", now: now + 181 * Self.interval)
        #expect(Self.double(fields, "m1_rate") == 0)
        #expect(Self.double(fields, "m15_rate") == 0)
        #expect(fields["count"] == .uint(12_000))
    }

    @Test("rates start from the oldest interval's rate and follow Dropwizard's recurrence")
    func recurrence() throws {
        let directory = TemporaryDirectory("meter")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let meter = try writer.meter("jobs", clock: clock)
        // No complete interval yet: every EWMA is 0.
        meter.mark(7)
        var fields = try Self.exposed(writer, "jobs", now: 4 * Self.second)
        #expect(Self.double(fields, "m1_rate") == 0)
        #expect(Self.double(fields, "mean_rate") == 7 / 4.0)
        let counts: [UInt64] = [7, 0, 100, 3, 0, 0, 55]  // interval 0 already has 7
        for n in counts.dropFirst() {
            clock.advance(by: Self.interval)
            if n > 0 { meter.mark(n) }
        }
        clock.advance(by: Self.interval)
        fields = try Self.exposed(writer, "jobs", now: clock.now())
        var expected = (Double(counts[0]) / 5, Double(counts[0]) / 5, Double(counts[0]) / 5)
        for n in counts.dropFirst() {
            let instant = Double(n) / 5
            expected.0 = expected.0 + MeterKind.alphas.m1 * (instant - expected.0)
            expected.1 = expected.1 + MeterKind.alphas.m5 * (instant - expected.1)
            expected.2 = expected.2 + MeterKind.alphas.m15 * (instant - expected.2)
        }
        #expect(Self.double(fields, "m1_rate") == expected.0)
        #expect(Self.double(fields, "m5_rate") == expected.1)
        #expect(Self.double(fields, "m15_rate") == expected.2)
        #expect(fields["count"] == .uint(counts.reduce(0, +)))
    }

    @Test("a slot reused 181 intervals later holds only the new interval")
    func slotReuse() throws {
        let directory = TemporaryDirectory("meter")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let meter = try writer.meter("events", clock: clock)
        meter.mark(1_000)  // interval 0, slot 0
        clock.set(181 * Self.interval)  // interval 181: slot 0 again
        meter.mark(5)
        let sample = try #require(try StatsReader(path: writer.path).snapshot().metric("events"))
        #expect(sample.field("t0") == .uint(181))
        #expect(sample.field("n0") == .uint(5))
        #expect(sample.field("u0") == .uint(181))
        #expect(sample.field("count") == .uint(1_005))
        // At 182 the reader runs over intervals 2 … 181: zeros, then 5 events (1 per second).
        let fields = try Self.exposed(writer, "events", now: 182 * Self.interval)
        #expect(Self.double(fields, "m1_rate") == MeterKind.alphas.m1)
    }

    @Test("a slot whose stamps disagree (being reset) counts as an empty interval")
    func tornSlot() {
        let kind = MeterKind()
        var words = [UInt64](repeating: UInt64.max, count: kind.signature.components.count)
        words[0] = 20
        words[1] = 0
        for slot in 0..<MeterKind.slots { words[2 + 3 * slot + 1] = 0 }
        // Intervals 0 and 1 hold 10 events each; interval 1's check stamp shows a reset.
        words[2] = 0
        words[3] = 10
        words[4] = 0
        words[5] = 1
        words[6] = 10
        words[7] = UInt64.max
        let components = zip(kind.fieldNames, words).map { (name: $0, value: Value.uint($1)) }
        let fields = kind.exposedFields(components, now: 2 * MeterKind.interval)
        let m1 = fields.first { $0.name == "m1_rate" }?.value.doubleValue ?? .nan
        #expect(m1 == 2 + MeterKind.alphas.m1 * (0 - 2))
        // A record that is not a meter's is shown as it is.
        #expect(kind.exposedFields([(name: "count", value: .uint(1))], now: 0).map(\.name) == ["count"])
    }

    @Test("the plugin exposes meters; a re-registration returns the same meter")
    func registration() throws {
        let registry = PluginRegistry()
        try registry.register(MetricsPlugin.plugin)
        #expect(registry.kind(named: "meter")?.signature == MeterKind().signature)
        let directory = TemporaryDirectory("meter")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let a = try writer.meter("hits", clock: clock)
        let b = try writer.meter("hits", clock: clock)
        a.mark()
        b.mark(2)
        #expect(a.count == 3)
        #expect(MeterKind().signature.words * 8 == 4_360)
    }
}
