import MmStatsCore

/// A histogram handle: records values into a ``HistogramKind`` record with a few relaxed loads
/// and stores (no lock, no allocation, no `log()`, no clock).
///
/// Values are counted in units of `resolution` (docs/FORMAT.md §11.2): `record(_: UInt64)`
/// takes a number of units, `record(_: Double)` a real value that it rounds to units. Relative
/// error of every percentile: at most 0.79 % (exact below 128 units) from 0 to 2^42 units;
/// larger values share the last bucket, while `min` and `max` stay exact.
///
/// ```swift
/// let sizes = try stats.histogram("response.bytes", unit: "B")
/// sizes.record(1_500)
/// let seconds = try stats.histogram("job.seconds", unit: "s", resolution: 1e-6)
/// seconds.record(0.25)   // 250,000 units of 1 µs
/// ```
///
/// A handle belongs to its writer's thread (one writer per thread; merge their histograms
/// with `HistogramValues.merged(_:)`); it holds no reference (docs/FORMAT.md §11.6).
public struct Histogram {
    @usableFromInline let words: InPlaceWords
    /// The value of one unit.
    public let resolution: Double
    /// The largest real value recorded as it is (larger ones are clamped to it).
    @usableFromInline let largestValue: Double

    init(words: InPlaceWords, resolution: Double) {
        self.words = words
        self.resolution = resolution
        self.largestValue = HistogramLayout.largestUnits * resolution
    }

    /// Records `units` (a value of `units × resolution`; for an integer histogram, the value).
    ///
    /// ```swift
    /// sizes.record(512)
    /// ```
    @inlinable @inline(__always)
    public func record(_ units: UInt64) {
        record(units: units, real: Double(units) * resolution)
    }

    /// Records `units` given as an `Int` (negative ones as 0), so that integer literals and
    /// `Int` values need no conversion.
    ///
    /// ```swift
    /// sizes.record(body.count)
    /// ```
    @inlinable @inline(__always)
    public func record(_ units: Int) {
        record(UInt64(clamping: units))
    }

    /// Records a real value: `round(value / resolution)` units (halves up); NaN and
    /// negative values count as 0, values beyond 2^64 − 2,048 units as that many units.
    /// `sum` adds the value itself (after the same clamping), not its rounded units.
    ///
    /// ```swift
    /// seconds.record(0.0042)
    /// ```
    @inlinable @inline(__always)
    public func record(_ value: Double) {
        let clamped = value > 0 ? Swift.min(value, largestValue) : 0  // NaN > 0 is false
        let units = Swift.min(clamped / resolution + 0.5, HistogramLayout.largestUnits)
        record(units: UInt64(units), real: clamped)
    }

    /// The stores of one record: min, max and sum first, the bucket (which readers count) last.
    @inlinable @inline(__always)
    func record(units: UInt64, real: Double) {
        let minimum = HistogramLayout.minimum
        let maximum = HistogramLayout.maximum
        let sum = HistogramLayout.sum
        words.store(Swift.min(words.load(minimum), units), at: minimum)
        words.store(Swift.max(words.load(maximum), units), at: maximum)
        words.store((Double(bitPattern: words.load(sum)) + real).bitPattern, at: sum)
        let bucket = HistogramLayout.firstBucket &+ HistogramScheme.index(units)
        words.store(words.load(bucket) &+ 1, at: bucket)
    }

    /// The writer's current values (what a reader of a word file would see now).
    ///
    /// ```swift
    /// sizes.values.quantile(0.99)
    /// ```
    public var values: HistogramValues {
        var values = HistogramValues(resolution: resolution)
        values.sum = Double(bitPattern: words.load(HistogramLayout.sum))
        values.minimum = words.load(HistogramLayout.minimum)
        values.maximum = words.load(HistogramLayout.maximum)
        for i in 0..<HistogramScheme.bucketCount { values.buckets[i] = words.load(HistogramLayout.firstBucket + i) }
        return values
    }
}

extension StatsWriter {
    /// The histogram with this name and dimensions, registered on first use (kind `histogram`,
    /// docs/FORMAT.md §11.2). `resolution` is the value of one unit: 1 (the default) counts
    /// integers; 0.001 records doubles to the thousandth. It must be positive and finite, and
    /// the same whenever the histogram is asked for again.
    ///
    /// ```swift
    /// let sizes = try stats.histogram("response.bytes", dimensions: ["route": "/"], unit: "B")
    /// sizes.record(1_500)
    /// ```
    public func histogram(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = "",
        resolution: Double = 1
    ) throws(MmStatsError) -> Histogram {
        try registerHistogram(
            name, HistogramKind(), dimensions.map { Dimension($0.key, $0.value) }, unit, help, resolution)
    }

    /// The histogram with this name and dimensions known only at run time, registered on first
    /// use (see the other `histogram`).
    ///
    /// ```swift
    /// let sizes = try stats.histogram("response.bytes", dimensions: [Dimension("route", route)], unit: "B")
    /// ```
    public func histogram(
        _ name: String, dimensions: [Dimension], unit: String = "", help: String = "", resolution: Double = 1
    ) throws(MmStatsError) -> Histogram {
        try registerHistogram(name, HistogramKind(), dimensions, unit, help, resolution)
    }

    /// The timer with this name and dimensions, registered on first use (kind `timer`: a
    /// histogram of nanoseconds, unit `ns`). `clock` measures `time { … }` and
    /// `start()`/`stop()`: the system's `CLOCK_MONOTONIC` unless a test drives a manual one.
    ///
    /// ```swift
    /// let query = try stats.timer("db.query")
    /// let rows = try query.time { try database.query(sql) }
    /// query.record(.milliseconds(3))
    /// ```
    public func timer(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], help: String = "",
        clock: StatsClock = .system
    ) throws(MmStatsError) -> StatsTimer {
        try timer(name, dimensions: dimensions.map { Dimension($0.key, $0.value) }, help: help, clock: clock)
    }

    /// The timer with this name and dimensions known only at run time, registered on first use
    /// (see the other `timer`).
    ///
    /// ```swift
    /// let query = try stats.timer("db.query", dimensions: [Dimension("table", table)])
    /// ```
    public func timer(
        _ name: String, dimensions: [Dimension], help: String = "", clock: StatsClock = .system
    ) throws(MmStatsError) -> StatsTimer {
        let histogram = try registerHistogram(name, TimerKind(), dimensions, "ns", help, 1)
        return StatsTimer(histogram: histogram, clock: clock)
    }

    private func registerHistogram(
        _ name: String, _ kind: any MetricKind, _ dimensions: [Dimension], _ unit: String,
        _ help: String, _ resolution: Double
    ) throws(MmStatsError) -> Histogram {
        guard resolution > 0, (HistogramLayout.largestUnits * resolution).isFinite else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name,
                "a histogram's resolution must be positive and finite (at most about 9.7e288), not \(resolution)")
        }
        var initial = [Value](repeating: .uint(0), count: HistogramLayout.words)
        initial[HistogramLayout.sum] = .double(0)
        initial[HistogramLayout.minimum] = .uint(.max)
        initial[HistogramLayout.resolution] = .double(resolution)
        let record = try self.record(
            name, kind: kind, dimensions: dimensions, unit: unit, help: help, initial: initial)
        guard let words = record.inPlace else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name, "a histogram cannot be a double-buffer record")
        }
        let stored = Double(bitPattern: words.load(HistogramLayout.resolution))
        guard stored.bitPattern == resolution.bitPattern else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name,
                "already registered with resolution \(stored), not \(resolution)")
        }
        return Histogram(words: words, resolution: resolution)
    }
}
