import CoreMetrics
import Metrics
import MmStatsCore
import Synchronization

// The swift-metrics handlers over mmstats handles. A counter is a thread-safe mmstats counter
// and needs nothing more. Gauges, histograms and timers are single-writer mmstats handles
// (several relaxed loads and stores, docs/FORMAT.md §11.6): the handlers serialize their
// updates with one lock per record.

/// A handler the factory caches under its key.
protocol CachedHandler: AnyObject, Sendable {
    var key: HandlerKey { get }
}

/// The lock that serializes the updates of one record.
final class RecordLock: Sendable {
    private let mutex = Mutex(())

    @inline(__always)
    func withLock(_ body: () -> Void) {
        mutex.withLock { _ in body() }
    }
}

/// `Counter`: a sharded mmstats counter; each thread adds to its own shard, without a lock.
final class CounterBackend: CounterHandler, CachedHandler {
    let key: HandlerKey
    private let counter: SharedCounter

    init(_ key: HandlerKey, _ counter: SharedCounter) {
        self.key = key
        self.counter = counter
    }

    /// Adds `amount`; a negative or zero amount changes nothing (a counter only grows).
    func increment(by amount: Int64) {
        if amount > 0 { counter.increment(by: UInt64(amount)) }
    }

    /// Does nothing: an mmstats counter never goes back (readers take a decrease for a
    /// restart), and the shards of other threads cannot be reset from this one.
    func reset() {}
}

/// `FloatingPointCounter`, `Meter` and non-aggregating `Recorder`: a binary64 mmstats gauge.
///
/// One handler for the three, so that they share the record's lock when one label and
/// dimensions are used by more than one of them.
final class DoubleGaugeBackend: FloatingPointCounterHandler, MeterHandler, RecorderHandler, CachedHandler,
    @unchecked Sendable
{
    // @unchecked: `gauge` points into memory that is never unmapped (docs/FORMAT.md §11.6) and
    // every update of it takes `lock`.
    let key: HandlerKey
    private let gauge: DoubleGauge
    private let lock: RecordLock

    init(_ key: HandlerKey, _ gauge: DoubleGauge, _ lock: RecordLock) {
        self.key = key
        self.gauge = gauge
        self.lock = lock
    }

    /// Adds `amount` if it is positive and finite (as swift-metrics' own meters and counters,
    /// which drop the other amounts).
    func increment(by amount: Double) {
        guard amount.isFinite, amount > 0 else { return }
        lock.withLock { gauge.add(amount) }
    }

    /// Subtracts `amount` if it is positive and finite.
    func decrement(by amount: Double) {
        guard amount.isFinite, amount > 0 else { return }
        lock.withLock { gauge.add(-amount) }
    }

    /// Sets the value to 0.
    func reset() { set(0.0) }

    func set(_ value: Int64) { set(Double(value)) }

    func set(_ value: Double) {
        lock.withLock { gauge.set(value) }
    }

    func record(_ value: Int64) { set(Double(value)) }

    func record(_ value: Double) { set(value) }
}

/// Aggregating `Recorder`: an mmstats histogram.
final class HistogramBackend: RecorderHandler, CachedHandler, @unchecked Sendable {
    // @unchecked: `histogram` points into memory that is never unmapped and every record
    // takes `lock`.
    let key: HandlerKey
    private let histogram: Histogram
    private let lock: RecordLock

    init(_ key: HandlerKey, _ histogram: Histogram, _ lock: RecordLock) {
        self.key = key
        self.histogram = histogram
        self.lock = lock
    }

    /// Records `value` (a negative one as 0), in units of the histogram's resolution.
    func record(_ value: Int64) { record(Double(value)) }

    /// Records `value`: `round(value / resolution)` units; NaN and negative values count as 0.
    func record(_ value: Double) {
        lock.withLock { histogram.record(value) }
    }
}

/// `Timer`: an mmstats timer (a histogram of nanoseconds).
final class TimerBackend: TimerHandler, CachedHandler, @unchecked Sendable {
    // @unchecked: `timer` points into memory that is never unmapped and every record takes
    // `lock`.
    let key: HandlerKey
    private let timer: StatsTimer
    private let lock: RecordLock

    init(_ key: HandlerKey, _ timer: StatsTimer, _ lock: RecordLock) {
        self.key = key
        self.timer = timer
        self.lock = lock
    }

    /// Records `duration` nanoseconds (a negative duration as 0).
    func recordNanoseconds(_ duration: Int64) {
        let nanoseconds = UInt64(clamping: duration)
        lock.withLock { timer.record(nanoseconds: nanoseconds) }
    }
}
