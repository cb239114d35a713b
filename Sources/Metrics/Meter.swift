@_spi(MetricKinds) import MmStatsCore
import Synchronization

/// Events and their rates, as a Dropwizard Metrics user expects: a total count, the mean rate
/// since the meter started, and 1-, 5- and 15-minute exponentially weighted moving average
/// rates (docs/FORMAT.md §11.5).
///
/// The writer keeps a total and the counts of the last 15 minutes of 5-second intervals; the
/// reader computes the rates for its own time, so the rates of a meter whose writer stopped
/// decay as Dropwizard's would.
///
/// ```swift
/// try PluginRegistry.shared.register(MetricsPlugin.plugin)
/// let requests = try stats.meter("http.requests")
/// requests.mark()
/// ```
public struct MeterKind: MetricKind {
    /// Nanoseconds per interval: 5 seconds, Dropwizard's tick.
    public static let interval: UInt64 = 5_000_000_000
    /// Intervals kept: 15 minutes of complete intervals plus the current one.
    public static let slots = 181
    /// Words of the header before the slots: `count`, `start`.
    static let headerWords = 2
    /// The smoothing factors per 5-second interval: 1 − exp(−5/60), 1 − exp(−5/300),
    /// 1 − exp(−5/900), as exact binary64 constants so every reader uses the same bits.
    public static let alphas: (m1: Double, m5: Double, m15: Double) = (
        0x1.477f8204cb218p-4, 0x1.0ecdbf52574e0p-6, 0x1.6b1453a243300p-8
    )

    /// Creates the kind.
    ///
    /// ```swift
    /// let kind = MeterKind()
    /// ```
    public init() {}
    /// `meter`.
    public var name: String { "meter" }
    /// `Q` count, `Q` start, then 181 slots of `Q` stamp, `Q` events, `Q` check stamp.
    public var signature: Signature {
        Signature([ComponentType](repeating: .uint64, count: Self.headerWords + 3 * Self.slots))
    }
    /// `count`, `start`, then `t0`, `n0`, `u0`, `t1`, … `u180`.
    public var fieldNames: [String] {
        ["count", "start"] + (0..<Self.slots).flatMap { ["t\($0)", "n\($0)", "u\($0)"] }
    }
    /// Per-word atomics: the record path stores two words.
    public var defaultLayout: LayoutID { .word }

    /// `count`, `mean_rate`, `m1_rate`, `m5_rate`, `m15_rate` at `now` (events per second).
    ///
    /// ```swift
    /// MeterKind().exposedFields(sample.fields, now: StatsClock.system.now())
    /// ```
    public func exposedFields(_ components: [(name: String, value: Value)], now: UInt64) -> [(
        name: String, value: Value
    )] {
        guard components.count == Self.headerWords + 3 * Self.slots, components.first?.name == "count" else {
            return components
        }
        let count = SlotReading.uint(components, 0)
        let start = SlotReading.uint(components, 1)
        let rates = Self.rates(now: now, start: start) { slot in
            let base = Self.headerWords + 3 * slot
            return (
                SlotReading.uint(components, base), SlotReading.uint(components, base + 1),
                SlotReading.uint(components, base + 2)
            )
        }
        var mean = 0.0
        if now > start { mean = Double(count) / (Double(now - start) / 1_000_000_000.0) }
        return [
            ("count", .uint(count)), ("mean_rate", .double(mean)), ("m1_rate", .double(rates.m1)),
            ("m5_rate", .double(rates.m5)), ("m15_rate", .double(rates.m15)),
        ]
    }

    /// The three EWMA rates at `now` from the slots (`slot(i)` = stamp, events, check stamp).
    static func rates(now: UInt64, start: UInt64, slot: (Int) -> (UInt64, UInt64, UInt64)) -> (
        m1: Double, m5: Double, m15: Double
    ) {
        let current = now / interval
        let oldest = current >= UInt64(slots - 1) ? current - UInt64(slots - 1) : 0
        let first = max(start / interval, oldest)
        guard first < current else { return (0, 0, 0) }
        var m1 = 0.0
        var m5 = 0.0
        var m15 = 0.0
        for k in first..<current {
            let (stamp, events, check) = slot(Int(k % UInt64(slots)))
            let instant = Double(stamp == k && check == k ? events : 0) / 5.0
            if k == first {
                (m1, m5, m15) = (instant, instant, instant)
            } else {
                m1 = m1 + alphas.m1 * (instant - m1)
                m5 = m5 + alphas.m5 * (instant - m5)
                m15 = m15 + alphas.m15 * (instant - m15)
            }
        }
        return (m1, m5, m15)
    }
}

/// A meter's handle: `mark()` counts events (one tick load, a compare, two word updates).
///
/// ```swift
/// let requests = try stats.meter("http.requests")
/// requests.mark()
/// requests.mark(3)
/// ```
///
/// A handle belongs to its writer's thread, like a ``Counter``; it holds no reference (docs/FORMAT.md §11.6).
public struct Meter {
    @usableFromInline let slots: StampedSlots
    @usableFromInline let total: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let record: Record

    init(record: Record, words: UnsafeMutablePointer<Atomic<UInt64>>, clock: StatsClock) {
        self.record = record
        self.total = words
        self.slots = StampedSlots(
            base: words + MeterKind.headerWords, slots: MeterKind.slots, dataWords: 1,
            tick: clock.tick(every: MeterKind.interval))
    }

    /// Counts `n` events (wrapping at 2^64).
    ///
    /// ```swift
    /// meter.mark()
    /// ```
    @inlinable @inline(__always)
    public func mark(_ n: UInt64 = 1) {
        let events = slots.currentData()
        events.pointee.store(events.pointee.load(ordering: .relaxed) &+ n, ordering: .relaxed)
        total.pointee.store(total.pointee.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    /// Events counted so far.
    ///
    /// ```swift
    /// let total = meter.count
    /// ```
    @inlinable
    public var count: UInt64 { total.pointee.load(ordering: .relaxed) }
}

extension StatsWriter {
    /// The meter with this name and dimensions, registered on first use; `clock` is the time
    /// base of its intervals (a test drives a `StatsClock.manual`).
    ///
    /// ```swift
    /// let requests = try stats.meter("http.requests", unit: "requests")
    /// requests.mark()
    /// ```
    public func meter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "events", help: String = "",
        clock: StatsClock = .system
    ) throws(MmStatsError) -> Meter {
        let kind = MeterKind()
        var initial = [Value](repeating: .uint(StampedSlots.mark), count: kind.signature.components.count)
        initial[0] = .uint(0)
        initial[1] = .uint(clock.now())
        for slot in 0..<MeterKind.slots { initial[MeterKind.headerWords + 3 * slot + 1] = .uint(0) }
        let record = try self.record(
            name, kind: kind, dimensions: dimensions, unit: unit, help: help, initial: initial)
        guard let words = record.writableWords else {
            throw MmStatsError(.invalidArgument, path: path, entry: name, "a meter cannot be a double-buffer record")
        }
        return Meter(record: record, words: words, clock: clock)
    }
}
