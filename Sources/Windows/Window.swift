@_spi(MetricKinds) import Metrics
@_spi(MetricKinds) import MmStatsCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A time window: the count, sum, mean and rate of the values recorded in the last `length`
/// of time, kept as stamped sub-windows of `granularity` each (docs/FORMAT.md §11.4).
///
/// The reader computes the window for its own time, so the window of a writer that stopped
/// (or died) empties on schedule instead of showing stale values.
///
/// ```swift
/// try PluginRegistry.shared.register(WindowsPlugin.plugin)
/// let bytes = try stats.window("http.bytes", length: .seconds(60), granularity: .seconds(1))
/// bytes.record(512)
/// ```
public struct WindowKind: MetricKind {
    /// Words before the slots: `length`, `granularity`, `start`.
    static let headerWords = 3
    /// Words per slot: stamp, count, sum, check stamp.
    static let slotWords = 4
    /// The most slots a window may have.
    public static let maximumSlots = 1_024

    /// Sub-windows in the record: ceil(length / granularity) + 1 (the current partial interval).
    public let slots: Int

    /// The kind of a window of `slots` sub-windows (readers take the number from the record).
    ///
    /// ```swift
    /// let kind = WindowKind(slots: 61)
    /// ```
    public init(slots: Int = 61) { self.slots = max(1, slots) }
    /// `window`.
    public var name: String { "window" }
    /// `QQQ`, then per slot `QQdQ` (stamp, count, sum, check stamp).
    public var signature: Signature {
        Signature(
            [ComponentType](repeating: .uint64, count: Self.headerWords)
                + (0..<slots).flatMap { _ in [ComponentType.uint64, .uint64, .float64, .uint64] })
    }
    /// `length`, `granularity`, `start`, then `t0`, `n0`, `s0`, `u0`, `t1`, ….
    public var fieldNames: [String] {
        ["length", "granularity", "start"] + (0..<slots).flatMap { ["t\($0)", "n\($0)", "s\($0)", "u\($0)"] }
    }
    /// Per-word atomics.
    public var defaultLayout: LayoutID { .word }

    /// `count`, `sum`, `mean`, `rate` (per second) and `seconds` (the time covered) at `now`.
    ///
    /// ```swift
    /// WindowKind().exposedFields(sample.fields, now: StatsClock.system.now())
    /// ```
    public func exposedFields(_ components: [(name: String, value: Value)], now: UInt64) -> [(
        name: String, value: Value
    )] {
        let slotCount = (components.count - Self.headerWords) / Self.slotWords
        guard components.count > Self.headerWords, slotCount >= 1,
            components.count == Self.headerWords + Self.slotWords * slotCount,
            components[0].name == "length", SlotReading.uint(components, 1) > 0
        else { return components }
        let span = WindowSpan(
            now: now, granularity: SlotReading.uint(components, 1), slots: slotCount,
            start: SlotReading.uint(components, 2))
        var count: UInt64 = 0
        var sum = 0.0
        span.forEachValidSlot(stamps: { slot in
            let base = Self.headerWords + Self.slotWords * slot
            return (SlotReading.uint(components, base), SlotReading.uint(components, base + 3))
        }) { slot in
            let base = Self.headerWords + Self.slotWords * slot
            count &+= SlotReading.uint(components, base + 1)
            sum += SlotReading.double(components, base + 2)
        }
        let (ewmaRate, ewmaMean) = Self.ewmas(components, span: span, slotCount: slotCount)
        return [
            ("count", .uint(count)), ("sum", .double(sum)), ("mean", .double(count == 0 ? 0 : sum / Double(count))),
            ("rate", .double(span.seconds > 0 ? Double(count) / span.seconds : 0)), ("seconds", .double(span.seconds)),
            ("ewma_rate", .double(ewmaRate)), ("ewma_mean", .double(ewmaMean)),
        ]
    }

    /// Exponentially weighted averages over the window's completed intervals, oldest first,
    /// with the window's length as time constant (docs/FORMAT.md §11.4): of the per-second
    /// rate (an interval the writer did not record in counts as 0 events) and of the mean of
    /// the intervals that have values.
    static func ewmas(_ components: [(name: String, value: Value)], span: WindowSpan, slotCount: Int) -> (
        rate: Double, mean: Double
    ) {
        let length = SlotReading.uint(components, 0)
        let granularity = SlotReading.uint(components, 1)
        let start = SlotReading.uint(components, 2)
        guard length > 0, granularity > 0 else { return (0, 0) }
        let alpha = 1 - exp(-(Double(granularity) / Double(length)))
        let intervalSeconds = Double(granularity) / 1_000_000_000.0
        var rate = 0.0
        var mean = 0.0
        var haveRate = false
        var haveMean = false
        var k = max(span.first, start / granularity)
        while k < span.current {
            let base = headerWords + slotWords * Int(k % UInt64(slotCount))
            let valid = SlotReading.uint(components, base) == k && SlotReading.uint(components, base + 3) == k
            let n = valid ? SlotReading.uint(components, base + 1) : 0
            let intervalRate = Double(n) / intervalSeconds
            if haveRate {
                rate = rate + alpha * (intervalRate - rate)
            } else {
                rate = intervalRate
                haveRate = true
            }
            if n > 0 {
                let intervalMean = SlotReading.double(components, base + 2) / Double(n)
                if haveMean {
                    mean = mean + alpha * (intervalMean - mean)
                } else {
                    mean = intervalMean
                    haveMean = true
                }
            }
            k += 1
        }
        return (rate, mean)
    }
}

/// The intervals a window covers at a reader's `now` (docs/FORMAT.md §11.4).
struct WindowSpan {
    /// The oldest interval in the window.
    let first: UInt64
    /// The interval `now` is in.
    let current: UInt64
    let slots: UInt64
    /// Seconds from the window's start (or the writer's, if later) to `now`.
    let seconds: Double

    init(now: UInt64, granularity: UInt64, slots: Int, start: UInt64) {
        self.slots = UInt64(slots)
        current = now / granularity
        first = current >= self.slots - 1 ? current - (self.slots - 1) : 0
        let from = max(first * granularity, start)
        seconds = now > from ? Double(now - from) / 1_000_000_000.0 : 0
    }

    /// Calls `body(slot)` for each interval from `first` to `current` whose slot holds it
    /// (both stamps equal the interval), oldest first.
    func forEachValidSlot(stamps: (Int) -> (UInt64, UInt64), _ body: (Int) -> Void) {
        for k in first...current {  // a closed range: no overflow when `current` is UInt64.max
            let slot = Int(k % slots)
            let (stamp, check) = stamps(slot)
            if stamp == k && check == k { body(slot) }
        }
    }
}

/// A window's handle: records values (count and sum) or events (count) into the current
/// sub-window.
///
/// ```swift
/// let latency = try stats.window("db.latency", length: .seconds(60), granularity: .seconds(1))
/// latency.record(0.004)
/// latency.increment()
/// ```
///
/// A handle belongs to its writer's thread; it holds no reference (docs/FORMAT.md §11.6).
public struct Window {
    @usableFromInline let slots: StampedSlots
    @usableFromInline let record: Record

    init(record: Record, slots: StampedSlots) {
        self.record = record
        self.slots = slots
    }

    /// Adds one value: count + 1, sum + `value`.
    ///
    /// ```swift
    /// window.record(0.25)
    /// ```
    @inlinable @inline(__always)
    public func record(_ value: Double) {
        let data = slots.currentData()
        data.pointee.store(data.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let sum = data + 1
        sum.pointee.store(
            (Double(bitPattern: sum.pointee.load(ordering: .relaxed)) + value).bitPattern, ordering: .relaxed)
    }

    /// Counts `n` events (the sum does not change).
    ///
    /// ```swift
    /// window.increment(by: 3)
    /// ```
    @inlinable @inline(__always)
    public func increment(by n: UInt64 = 1) {
        let data = slots.currentData()
        data.pointee.store(data.pointee.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }
}

/// Checks a window's length and granularity and returns its number of slots.
func windowSlots(
    _ path: String, _ name: String, length: UInt64, granularity: UInt64, maximum: Int
) throws(MmStatsError) -> Int {
    guard length > 0, granularity > 0 else {
        throw MmStatsError(
            .invalidArgument, path: path, entry: name, "a window needs a positive length and granularity")
    }
    let full = length / granularity + (length % granularity == 0 ? 0 : 1)
    guard full < UInt64(maximum) else {
        throw MmStatsError(
            .invalidArgument, path: path, entry: name,
            "a window of \(length) ns in \(granularity) ns sub-windows needs \(full + 1) slots; at most \(maximum) fit")
    }
    return Int(full) + 1
}

/// Registers a windowed record and checks that an existing one has the same time base.
func registerWindow(
    _ writer: StatsWriter, _ name: String, kind: any MetricKind, dimensions: KeyValuePairs<String, String>,
    unit: String, help: String, header: [Value], slotInitial: [Value], slots: Int
) throws(MmStatsError) -> (Record, UnsafeMutablePointer<Atomic<UInt64>>) {
    var initial = header
    initial.reserveCapacity(header.count + slotInitial.count * slots)
    for _ in 0..<slots { initial += slotInitial }
    let record = try writer.record(name, kind: kind, dimensions: dimensions, unit: unit, help: help, initial: initial)
    guard let words = record.writableWords else {
        throw MmStatsError(
            .invalidArgument, path: writer.path, entry: name, "a window cannot be a double-buffer record")
    }
    // An existing registration must have the same length and granularity (its slots do), and a
    // percentile window the same resolution (word 3: the handle records in its units).
    func word(_ value: Value) -> UInt64 {
        switch value {
        case .double(let d): d.bitPattern
        case .uint(let u): u
        default: 0
        }
    }
    // Word 2 is the start time, which differs between registrations.
    for i in 0..<header.count where i != 2 && words[i].load(ordering: .relaxed) != word(header[i]) {
        throw MmStatsError(
            .invalidArgument, path: writer.path, entry: name,
            "already registered with another length, granularity or resolution")
    }
    return (record, words)
}

extension StatsWriter {
    /// The window with this name and dimensions, registered on first use: values of the last
    /// `length` (at least; at most `length` + `granularity`), in sub-windows of `granularity`.
    /// `clock` is the time base (a test drives a `StatsClock.manual`).
    ///
    /// ```swift
    /// let requests = try stats.window("http.requests", length: .seconds(60), granularity: .seconds(1))
    /// requests.increment()
    /// ```
    public func window(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = "",
        length: Duration = .seconds(60), granularity: Duration = .seconds(1), clock: StatsClock = .system
    ) throws(MmStatsError) -> Window {
        let lengthNS = length.clampedNanoseconds
        let granularityNS = granularity.clampedNanoseconds
        let slots = try windowSlots(
            path, name, length: lengthNS, granularity: granularityNS, maximum: WindowKind.maximumSlots)
        let (record, words) = try registerWindow(
            self, name, kind: WindowKind(slots: slots), dimensions: dimensions, unit: unit, help: help,
            header: [.uint(lengthNS), .uint(granularityNS), .uint(clock.now())],
            slotInitial: [.uint(StampedSlots.mark), .uint(0), .double(0), .uint(StampedSlots.mark)], slots: slots)
        let ring = StampedSlots(
            base: words + WindowKind.headerWords, slots: slots, dataWords: 2, tick: clock.tick(every: granularityNS))
        return Window(record: record, slots: ring)
    }
}
