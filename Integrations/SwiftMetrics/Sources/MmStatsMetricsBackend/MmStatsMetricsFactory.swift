import CoreMetrics
import Metrics
import MmStatsCore
import Synchronization

/// A swift-metrics backend that records every metric into one mmstats file.
///
/// ```swift
/// import CoreMetrics
/// import MmStatsMetricsBackend
///
/// MetricsSystem.bootstrap(MmStatsMetricsFactory())
/// Counter(label: "http.requests", dimensions: [("code", "200")]).increment()
/// ```
///
/// The file is `<root>/<application>/SwiftMetrics/<pid>-<tid>.mmstats` (the program's name and
/// the default stats root unless told otherwise); `mmstats slurp` reads it. What each
/// swift-metrics type becomes:
///
/// | swift-metrics | mmstats | update |
/// |---|---|---|
/// | `Counter` | `counter`, thread-safe (`sharedCounter`, sharded) | lock-free |
/// | `FloatingPointCounter` | `gauge` of a binary64 sum | under the record's lock |
/// | `Meter` | `gauge` (binary64) | under the record's lock |
/// | `Recorder(aggregate: false)`, `Gauge` | `gauge` (binary64) | under the record's lock |
/// | `Recorder(aggregate: true)` | `histogram` (`recorderResolution`) | under the record's lock |
/// | `Timer` | `timer` (nanoseconds) | under the record's lock |
///
/// Every handler may be used from any thread or task. Registration (the `make…` calls) takes
/// the factory's lock; handlers are cached by storage, name and dimensions, so making the same
/// metric again returns the same handler.
///
/// If the file cannot be created, or a metric cannot be registered (a label used for two
/// kinds, a full file), the factory reports it on standard error (the first ten problems, then
/// that more were left out) and hands out no-op handlers: metrics never crash the program. A
/// metric that failed is not registered again; making it again gives a no-op at once.
public final class MmStatsMetricsFactory: MetricsFactory {
    /// The options the factory was made with.
    public let options: MmStatsMetricsOptions
    /// The stats file, or nil when it could not be created (every handler is then a no-op).
    public let path: String?

    private let state: Mutex<State>
    private let reporter = Reporter()

    private struct State {
        var writer: StatsWriter?
        var handlers: [HandlerKey: any CachedHandler] = [:]
        // One lock per record, kept when its handler is destroyed, so that a handler made again
        // for the same record (or one of another type over the same gauge) shares it.
        var locks: [HandlerKey: RecordLock] = [:]
        // Metrics whose registration failed (reported once): made again, they are no-ops at once.
        var failed: Set<HandlerKey> = []
    }

    /// A factory recording into `<root>/<application>/<model>/<pid>-<tid>.mmstats`.
    ///
    /// ```swift
    /// MetricsSystem.bootstrap(MmStatsMetricsFactory(application: "web"))
    /// ```
    public convenience init(
        application: String = ProcessIdentity.command, model: String = "SwiftMetrics", root: String? = nil
    ) {
        self.init(options: MmStatsMetricsOptions(application: application, model: model, root: root))
    }

    /// A factory with all of its options.
    ///
    /// ```swift
    /// var options = MmStatsMetricsOptions(application: "web")
    /// options.recorderResolution = 1e-6
    /// MetricsSystem.bootstrap(MmStatsMetricsFactory(options: options))
    /// ```
    public init(options: MmStatsMetricsOptions) {
        var writerOptions = options.writer
        writerOptions.layout = .word
        self.options = options
        let writer: StatsWriter?
        do throws(MmStatsError) {
            writer = try StatsWriter(writerOptions)
        } catch {
            writer = nil
            reporter.report("\(error) (swift-metrics metrics are not recorded)")
        }
        self.path = writer?.path
        self.state = Mutex(State(writer: writer))
    }

    /// Closes the file (readers see it closed, and it is removed): handlers made before keep
    /// working into memory no reader sees, and handlers made afterwards are no-ops.
    ///
    /// ```swift
    /// factory.close()   // at the end of a graceful shutdown
    /// ```
    public func close() {
        state.withLock { state in
            state.writer?.close()
            state.writer = nil
            state.handlers = [:]
        }
    }

    // MARK: MetricsFactory

    /// A thread-safe mmstats counter (`sharedCounter`).
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        handler(.counter, label, dimensions) { writer, key, _ throws(MmStatsError) in
            CounterBackend(key, try writer.sharedCounter(key.name, dimensions: key.dimensions))
        } ?? NOOPMetricsHandler.instance
    }

    /// A binary64 mmstats gauge holding the sum of the increments.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)])
        -> any FloatingPointCounterHandler
    {
        doubleGauge(label, dimensions) ?? NOOPMetricsHandler.instance
    }

    /// A binary64 mmstats gauge.
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        doubleGauge(label, dimensions) ?? NOOPMetricsHandler.instance
    }

    /// An mmstats histogram (`aggregate`), else a binary64 gauge holding the last value.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return doubleGauge(label, dimensions) ?? NOOPMetricsHandler.instance }
        let resolution = options.resolution(of: label)
        return handler(.histogram, label, dimensions) { writer, key, lock throws(MmStatsError) -> HistogramBackend in
            let histogram = try writer.histogram(key.name, dimensions: key.dimensions, resolution: resolution)
            return HistogramBackend(key, histogram, lock)
        } ?? NOOPMetricsHandler.instance
    }

    /// An mmstats timer (a histogram of nanoseconds).
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        handler(.timer, label, dimensions) { writer, key, lock throws(MmStatsError) in
            TimerBackend(key, try writer.timer(key.name, dimensions: key.dimensions), lock)
        } ?? NOOPMetricsHandler.instance
    }

    /// Drops the counter from the cache; its record stays in the file (mmstats never removes
    /// a record), and making it again continues from its value.
    public func destroyCounter(_ handler: any CounterHandler) { forget(handler) }
    /// Drops the counter from the cache; its record stays in the file.
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { forget(handler) }
    /// Drops the meter from the cache; its record stays in the file.
    public func destroyMeter(_ handler: any MeterHandler) { forget(handler) }
    /// Drops the recorder from the cache; its record stays in the file.
    public func destroyRecorder(_ handler: any RecorderHandler) { forget(handler) }
    /// Drops the timer from the cache; its record stays in the file.
    public func destroyTimer(_ handler: any TimerHandler) { forget(handler) }

    // MARK: Registration

    private func doubleGauge(_ label: String, _ dimensions: [(String, String)]) -> DoubleGaugeBackend? {
        handler(.doubleGauge, label, dimensions) { writer, key, lock throws(MmStatsError) in
            DoubleGaugeBackend(key, try writer.doubleGauge(key.name, dimensions: key.dimensions), lock)
        }
    }

    /// The cached handler of this storage, name and dimensions, or a new one that `make`
    /// registers; nil when there is no file or the registration fails (reported the first time).
    private func handler<Handler: CachedHandler>(
        _ storage: HandlerKey.Storage, _ label: String, _ dimensions: [(String, String)],
        _ make: (StatsWriter, HandlerKey, RecordLock) throws(MmStatsError) -> Handler
    ) -> Handler? {
        let key = HandlerKey(
            storage: storage, name: MetricName.name(label), dimensions: MetricName.dimensions(dimensions))
        let made: Result<Handler, MmStatsError>? = state.withLock { state in
            if let cached = state.handlers[key] as? Handler { return .success(cached) }
            guard let writer = state.writer, !state.failed.contains(key) else { return nil }
            let lock = state.locks[key] ?? RecordLock()
            do throws(MmStatsError) {
                let handler = try make(writer, key, lock)
                state.handlers[key] = handler
                state.locks[key] = lock
                return .success(handler)
            } catch {
                state.failed.insert(key)
                return .failure(error)
            }
        }
        switch made {
        case .success(let handler): return handler
        case .failure(let error):
            reporter.report("\(error) (a swift-metrics \(storage): not recorded)")
            return nil
        case nil: return nil
        }
    }

    private func forget(_ handler: AnyObject) {
        guard let handler = handler as? any CachedHandler else { return }
        let key = handler.key
        state.withLock { state in
            if let cached = state.handlers[key], cached === handler { state.handlers[key] = nil }
        }
    }
}

/// What a handler is cached under: the mmstats storage, name and dimensions.
struct HandlerKey: Hashable, Sendable {
    enum Storage: Sendable, CustomStringConvertible {
        case counter, doubleGauge, histogram, timer
        var description: String {
            switch self {
            case .counter: "counter"
            case .doubleGauge: "gauge"
            case .histogram: "recorder"
            case .timer: "timer"
            }
        }
    }
    let storage: Storage
    let name: String
    let dimensions: [Dimension]
}
