@_spi(MetricKinds) import Metrics
@_spi(MetricKinds) import MmStatsCore
import Synchronization

/// A time window of a distribution: the count, sum, mean, rate, min, max and percentiles of
/// the values recorded in the last `length` of time, each sub-window a histogram of the
/// shared log-linear scheme (``HistogramScheme``, docs/FORMAT.md §11.4).
///
/// A sub-window holds 2,368 buckets (18.9 KB), so percentile windows have few sub-windows:
/// at most 4 (the field names of a record fit in 65,535 bytes); the default is 60 s in
/// 20-second sub-windows.
///
/// ```swift
/// let latency = try stats.windowHistogram("db.latency_us", length: .seconds(60), granularity: .seconds(20))
/// latency.record(1_250)
/// ```
public struct WindowHistogramKind: MetricKind {
    /// Words before the slots: `length`, `granularity`, `start`, `resolution`.
    static let headerWords = 4
    /// Data words per slot: sum, min, max, then the buckets.
    static let dataWords = 3 + HistogramScheme.bucketCount
    /// Words per slot: stamp, data, check stamp.
    static let slotWords = dataWords + 2
    /// The most slots a percentile window may have.
    public static let maximumSlots = 4
    /// The percentiles exposed, as fields `p50` … `p999`.
    static let percentiles: [(String, Double)] = [
        ("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999),
    ]

    /// Sub-windows in the record: ceil(length / granularity) + 1.
    public let slots: Int

    /// The kind of a percentile window of `slots` sub-windows (readers take the number from the record).
    ///
    /// ```swift
    /// let kind = WindowHistogramKind(slots: 4)
    /// ```
    public init(slots: Int = 4) { self.slots = min(max(1, slots), Self.maximumSlots) }
    /// `window-histogram`.
    public var name: String { "window-histogram" }
    /// `QQQd`, then per slot `QdQQ`, 2,368 × `Q` and `Q`.
    public var signature: Signature {
        var slot: [ComponentType] = [.uint64, .float64, .uint64, .uint64]
        slot += [ComponentType](repeating: .uint64, count: HistogramScheme.bucketCount + 1)
        return Signature([.uint64, .uint64, .uint64, .float64] + (0..<slots).flatMap { _ in slot })
    }
    /// `length`, `granularity`, `start`, `resolution`, then per slot (letter `a` to `d`) `at`,
    /// `as`, `an`, `ax`, `a0` … `a2367`, `au`.
    public var fieldNames: [String] {
        ["length", "granularity", "start", "resolution"]
            + (0..<slots).flatMap { slot -> [String] in
                let letter = String(UnicodeScalar(UInt8(ascii: "a") + UInt8(slot)))
                return [letter + "t", letter + "s", letter + "n", letter + "x"]
                    + (0..<HistogramScheme.bucketCount).map { letter + String($0) } + [letter + "u"]
            }
    }
    /// Per-word atomics.
    public var defaultLayout: LayoutID { .word }

    /// `count`, `sum`, `mean`, `rate`, `seconds`, `min`, `max`, `p50`, `p75`, `p90`, `p99`,
    /// `p999` at `now`.
    ///
    /// ```swift
    /// WindowHistogramKind().exposedFields(sample.fields, now: StatsClock.system.now())
    /// ```
    public func exposedFields(_ components: [(name: String, value: Value)], now: UInt64) -> [(
        name: String, value: Value
    )] {
        let slotCount = (components.count - Self.headerWords) / Self.slotWords
        guard components.count > Self.headerWords, slotCount >= 1,
            components.count == Self.headerWords + Self.slotWords * slotCount,
            components[0].name == "length", SlotReading.uint(components, 1) > 0
        else { return components }
        let resolution = SlotReading.double(components, 3)
        let span = WindowSpan(
            now: now, granularity: SlotReading.uint(components, 1), slots: slotCount,
            start: SlotReading.uint(components, 2))
        var buckets = [UInt64](repeating: 0, count: HistogramScheme.bucketCount)
        var count: UInt64 = 0
        var sum = 0.0
        var minimum = UInt64.max
        var maximum: UInt64 = 0
        span.forEachValidSlot(stamps: { slot in
            let base = Self.headerWords + Self.slotWords * slot
            return (SlotReading.uint(components, base), SlotReading.uint(components, base + Self.slotWords - 1))
        }) { slot in
            let data = Self.headerWords + Self.slotWords * slot + 1
            sum += SlotReading.double(components, data)
            minimum = min(minimum, SlotReading.uint(components, data + 1))
            maximum = max(maximum, SlotReading.uint(components, data + 2))
            for i in 0..<HistogramScheme.bucketCount {
                let n = SlotReading.uint(components, data + 3 + i)
                buckets[i] &+= n
                count &+= n
            }
        }
        var fields: [(name: String, value: Value)] = [
            ("count", .uint(count)), ("sum", .double(sum)), ("mean", .double(count == 0 ? 0 : sum / Double(count))),
            ("rate", .double(span.seconds > 0 ? Double(count) / span.seconds : 0)), ("seconds", .double(span.seconds)),
            ("min", .double(count == 0 ? 0 : Double(minimum) * resolution)),
            ("max", .double(count == 0 ? 0 : Double(maximum) * resolution)),
        ]
        buckets.withUnsafeBufferPointer { buffer in
            for (name, q) in Self.percentiles {
                let value = HistogramScheme.quantile(
                    q, buckets: buffer, count: count, minimum: minimum, maximum: maximum)
                fields.append((name, .double(value * resolution)))
            }
        }
        return fields
    }
}

/// A percentile window's handle: records values into the current sub-window's histogram.
///
/// ```swift
/// let latency = try stats.windowHistogram("db.latency_us")
/// latency.record(1_250)        // units
/// ```
///
/// A handle belongs to its writer's thread; it holds no reference (docs/FORMAT.md §11.6).
public struct WindowHistogram {
    @usableFromInline let slots: StampedSlots
    @usableFromInline let record: Record
    @usableFromInline let resolution: Double
    @usableFromInline let inverseResolution: Double

    init(record: Record, slots: StampedSlots, resolution: Double) {
        self.record = record
        self.slots = slots
        self.resolution = resolution
        self.inverseResolution = 1 / resolution
    }

    /// Records `units` (a value of `units × resolution`).
    ///
    /// ```swift
    /// latency.record(1_250 as UInt64)
    /// ```
    @inlinable @inline(__always)
    public func record(_ units: UInt64) {
        add(units, Double(units) * resolution)
    }

    /// Records `units` given as an `Int` (negative ones as 0), so that integer literals and
    /// `Int` values need no conversion (as `Histogram.record(_:)` does).
    ///
    /// ```swift
    /// recentSizes.record(1_500)
    /// recentSizes.record(body.count)
    /// ```
    @inlinable @inline(__always)
    public func record(_ units: Int) {
        record(UInt64(clamping: units))
    }

    /// Records `value`, as `round(value / resolution)` units clamped to [0, 2^64 − 1] (NaN
    /// records 0); the sum adds `value` itself (0 for NaN).
    ///
    /// ```swift
    /// latency.record(0.00125)
    /// ```
    @inlinable @inline(__always)
    public func record(_ value: Double) {
        let scaled = (value / resolution).rounded()  // docs/FORMAT.md §11.4: round(x / resolution)
        let units: UInt64 =
            scaled >= 18_446_744_073_709_551_615.0 ? .max : scaled > 0 ? UInt64(scaled) : 0  // NaN: 0
        add(units, value.isNaN ? 0 : value)
    }

    @inlinable @inline(__always)
    func add(_ units: UInt64, _ value: Double) {
        let data = slots.currentData()
        let bucket = data + 3 + HistogramScheme.index(units)
        bucket.pointee.store(bucket.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        data.pointee.store(
            (Double(bitPattern: data.pointee.load(ordering: .relaxed)) + value).bitPattern, ordering: .relaxed)
        if units < data[1].load(ordering: .relaxed) { data[1].store(units, ordering: .relaxed) }
        if units > data[2].load(ordering: .relaxed) { data[2].store(units, ordering: .relaxed) }
    }
}

extension StatsWriter {
    /// The percentile window with this name and dimensions, registered on first use: values
    /// of the last `length` (at least; at most `length` + `granularity`) in at most 4 slots
    /// (so ceil(length / granularity) ≤ 3). A value is recorded as units of `resolution`.
    ///
    /// ```swift
    /// let latency = try stats.windowHistogram("db.latency", unit: "s", resolution: 1e-6)
    /// latency.record(0.00125)
    /// ```
    public func windowHistogram(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = "",
        length: Duration = .seconds(60), granularity: Duration = .seconds(20), resolution: Double = 1,
        clock: StatsClock = .system
    ) throws(MmStatsError) -> WindowHistogram {
        guard resolution > 0, resolution.isFinite else {
            throw MmStatsError(.invalidArgument, path: path, entry: name, "the resolution must be positive and finite")
        }
        let lengthNS = length.clampedNanoseconds
        let granularityNS = granularity.clampedNanoseconds
        let slots = try windowSlots(
            path, name, length: lengthNS, granularity: granularityNS, maximum: WindowHistogramKind.maximumSlots)
        var slotInitial: [Value] = [.uint(StampedSlots.mark), .double(0), .uint(.max), .uint(0)]
        slotInitial += [Value](repeating: .uint(0), count: HistogramScheme.bucketCount)
        slotInitial.append(.uint(StampedSlots.mark))
        let (record, words) = try registerWindow(
            self, name, kind: WindowHistogramKind(slots: slots), dimensions: dimensions, unit: unit, help: help,
            header: [.uint(lengthNS), .uint(granularityNS), .uint(clock.now()), .double(resolution)],
            slotInitial: slotInitial, slots: slots)
        let ring = StampedSlots(
            base: words + WindowHistogramKind.headerWords, slots: slots, dataWords: WindowHistogramKind.dataWords,
            tick: clock.tick(every: granularityNS), saturatedWord: 1)
        return WindowHistogram(record: record, slots: ring, resolution: resolution)
    }
}
