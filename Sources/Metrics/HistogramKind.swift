import MmStatsCore

/// A distribution of values in the log-linear buckets of ``HistogramScheme``: kind `histogram`
/// (docs/FORMAT.md §11.2).
///
/// The record is `dQQd2368Q`: `sum` (of the recorded values, in real units), `min` and `max`
/// (in units; `min` starts at 2^64 − 1, meaning none), `resolution` (the value of one unit,
/// written once) and the bucket counts `b0` … `b2367`. There is no count word: readers add up
/// the buckets, so the count and the percentiles always agree. Layout `.word`: recording is a
/// few relaxed loads and stores, no latch.
///
/// Readers expose `count`, `sum`, `min`, `max`, `mean`, `p50`, `p75`, `p90`, `p99` and `p999`
/// (``HistogramValues/exposedFields``).
///
/// ```swift
/// let sizes = try stats.histogram("response.bytes", unit: "B")
/// sizes.record(1_500)
/// ```
public struct HistogramKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `histogram`.
    public var name: String { "histogram" }
    /// `dQQd2368Q`.
    public var signature: Signature { HistogramLayout.signature }
    /// `sum`, `min`, `max`, `resolution`, `b0` … `b2367`.
    public var fieldNames: [String] { HistogramLayout.fieldNames }
    /// Per-word stores: no latch on the record path.
    public var defaultLayout: LayoutID { .word }

    /// `count`, `sum`, `min`, `max`, `mean`, `p50`, `p75`, `p90`, `p99`, `p999`; a record that
    /// is not a histogram's (other field names or value types) is shown as its components.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        HistogramValues(components)?.exposedFields ?? components
    }
}

/// Durations in nanoseconds: the record and fields of ``HistogramKind``, under kind `timer`.
///
/// ```swift
/// let latency = try stats.timer("db.query")
/// let rows = latency.time { try database.query(sql) }
/// ```
public struct TimerKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `timer`.
    public var name: String { "timer" }
    /// `dQQd2368Q`, as a histogram's.
    public var signature: Signature { HistogramLayout.signature }
    /// As a histogram's.
    public var fieldNames: [String] { HistogramLayout.fieldNames }
    /// Per-word stores.
    public var defaultLayout: LayoutID { .word }

    /// A histogram's exposed fields, in nanoseconds.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        HistogramValues(components)?.exposedFields ?? components
    }
}

/// Where each component of a histogram record lives (word offsets; every slot is one word).
@usableFromInline
enum HistogramLayout {
    @inlinable static var sum: Int { 0 }
    @inlinable static var minimum: Int { 1 }
    @inlinable static var maximum: Int { 2 }
    @inlinable static var resolution: Int { 3 }
    @inlinable static var firstBucket: Int { 4 }
    /// Components (and words) of one record: 4 + 2,368.
    static var words: Int { firstBucket + HistogramScheme.bucketCount }

    static let signature = Signature(
        [.float64, .uint64, .uint64, .float64]
            + [ComponentType](repeating: .uint64, count: HistogramScheme.bucketCount))

    static let fieldNames = ["sum", "min", "max", "resolution"] + (0..<HistogramScheme.bucketCount).map { "b\($0)" }

    /// The largest Double below 2^64: unit counts are clamped to it before conversion.
    @inlinable static var largestUnits: Double { 18_446_744_073_709_549_568.0 }
}
