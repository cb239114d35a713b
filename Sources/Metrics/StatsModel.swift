import MmStatsCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A declarative stats type: a final class whose stored properties are metric handles,
/// registered in one call, in one file under a directory named after the type.
///
/// Declare each metric with `Metric` (a name and a kind); `register` creates the file
/// `<root>/<application>/<TypeName>/<pid>-<tid>.mmstats` and registers the metrics while it
/// creates the object, in declaration order, each under the optional prefix. The properties
/// are the core's plain handles, so recording through them costs what it costs through a
/// local. The object keeps its file: when it goes, the file is removed.
///
/// ```swift
/// final class IndexStats: StatsModel {
///     let ok = Metric.counter("response_ok")
///     let errors = Metric.counter("response_error", dimensions: ["code": "500"])
///     let hits = Metric.sharedCounter("cache_hits")      // any thread or task
///     let depth = Metric.gauge("queue_depth")
/// }
///
/// let index = try IndexStats.register(application: "web", prefix: "index")
/// index.ok.increment()                                   // "index.response_ok"
/// ```
open class StatsModel {
    /// The model's writer (its file); register more metrics on it at any time.
    public let stats: StatsWriter
    /// The prefix the declared metrics were registered under (empty for none).
    public let prefix: String

    /// Takes the writer of the registration in progress. Create models with `register`, not
    /// by calling this: a model created directly records into a detached file no reader sees.
    ///
    /// ```swift
    /// final class Jobs: StatsModel { let done = Metric.counter("done") }
    /// let jobs = try Jobs.register()
    /// ```
    public required init() {
        if let registration = ModelRegistration.current {
            stats = registration.writer
            prefix = registration.prefix
        } else {
            stats = Detached.writer
            prefix = ""
        }
    }

    /// The group of this model's metrics under its prefix, for registering more at run time.
    ///
    /// ```swift
    /// let late = try index.group.counter("late")   // "index.late"
    /// ```
    public var group: StatsGroup { StatsGroup(writer: stats, prefix: prefix) }

    /// Creates the model's file and registers its declared metrics.
    ///
    /// - Parameters:
    ///   - application: the application directory (default: the program name).
    ///   - prefix: prepended to every declared name with a dot (`"index"`: `index.response_ok`).
    ///   - options: everything else about the file; its `model` is replaced by the type's name
    ///     and its `application` by `application`. A second live model of the same type in
    ///     the process gets a file name with `-2`, `-3`, … before `.mmstats`.
    ///
    /// ```swift
    /// var options = WriterOptions()
    /// options.root = "/run/myapp/stats"
    /// let index = try IndexStats.register(application: "web", prefix: "index", options: options)
    /// ```
    public static func register(
        application: String = ProcessIdentity.command, prefix: String = "", options: WriterOptions = WriterOptions()
    ) throws(MmStatsError) -> Self {
        var options = options
        options.application = application
        options.model = String(describing: self)
        let instance = ModelRegistration.instanceNumber(options)
        if instance > 1 {
            let template = options.fileNameTemplate
            let stem = template.hasSuffix(".mmstats") ? String(template.dropLast(8)) : template
            options.fileNameTemplate = "\(stem)-\(instance).mmstats"
        }
        let writer = try StatsWriter(options)
        let registration = ModelRegistration(writer: writer, prefix: prefix)
        let model = ModelRegistration.$current.withValue(registration) { Self() }
        if let error = registration.firstError { throw error }
        return model
    }
}

/// Declarations of a `StatsModel`'s metrics: each returns the handle its property holds.
///
/// Used as property initializers of a `StatsModel`; `declare` plugs in kinds of other modules.
///
/// ```swift
/// final class DiskStats: StatsModel {
///     let reads = Metric.counter("reads", unit: "ops")
///     let latency = Metric.record("latency", kind: AverageKind())
/// }
/// ```
public enum Metric {
    /// A metric of any kind: `make` registers it on the model's writer under its full name
    /// (prefix included). The way kinds of other modules join a model.
    ///
    /// If registration fails, `register` throws that error once the object is built; the
    /// handle `make` then returns is registered on a detached writer no reader sees.
    ///
    /// ```swift
    /// let time = Metric.declare("time") { writer, name throws(MmStatsError) in
    ///     try writer.record(name, kind: AverageKind())
    /// }
    /// ```
    public static func declare<Handle>(
        _ name: String, _ make: (StatsWriter, String) throws(MmStatsError) -> Handle
    ) -> Handle {
        if let registration = ModelRegistration.current, registration.firstError == nil {
            do {
                return try make(registration.writer, registration.fullName(name))
            } catch {
                registration.firstError = error
            }
        }
        return Detached.register(make)
    }

    /// A single-writer counter.
    ///
    /// ```swift
    /// let ok = Metric.counter("response_ok")
    /// ```
    public static func counter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) -> Counter {
        declare(name) { writer, name throws(MmStatsError) in
            try writer.counter(name, dimensions: dimensions, unit: unit, help: help)
        }
    }

    /// A thread-safe counter: increment it from any thread or task.
    ///
    /// ```swift
    /// let hits = Metric.sharedCounter("cache_hits")
    /// ```
    public static func sharedCounter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) -> SharedCounter {
        declare(name) { writer, name throws(MmStatsError) in
            try writer.sharedCounter(name, dimensions: dimensions, unit: unit, help: help)
        }
    }

    /// An integer gauge.
    ///
    /// ```swift
    /// let depth = Metric.gauge("queue_depth")
    /// ```
    public static func gauge(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) -> Gauge {
        declare(name) { writer, name throws(MmStatsError) in
            try writer.gauge(name, dimensions: dimensions, unit: unit, help: help)
        }
    }

    /// A floating-point gauge.
    ///
    /// ```swift
    /// let load = Metric.doubleGauge("load")
    /// ```
    public static func doubleGauge(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) -> DoubleGauge {
        declare(name) { writer, name throws(MmStatsError) in
            try writer.doubleGauge(name, dimensions: dimensions, unit: unit, help: help)
        }
    }

    /// A record of `kind`.
    ///
    /// ```swift
    /// let latency = Metric.record("latency", kind: AverageKind())
    /// ```
    public static func record(
        _ name: String, kind: any MetricKind, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = "", layout: LayoutID? = nil
    ) -> Record {
        declare(name) { writer, name throws(MmStatsError) in
            try writer.record(name, kind: kind, dimensions: dimensions, unit: unit, help: help, layout: layout)
        }
    }
}

/// The registration in progress on this thread: the writer, the prefix, the first error.
final class ModelRegistration: @unchecked Sendable {
    // @unchecked: used only by the thread that runs `register`, inside its task-local scope.
    @TaskLocal static var current: ModelRegistration?

    let writer: StatsWriter
    let prefix: String
    var firstError: MmStatsError?

    init(writer: StatsWriter, prefix: String) {
        self.writer = writer
        self.prefix = prefix
    }

    func fullName(_ name: String) -> String {
        StatsGroup(writer: writer, prefix: prefix).name(name)
    }

    private static let instances = Mutex([String: Int]())

    /// 1 for the first model of this root, application and type in the process, then 2, 3, …
    static func instanceNumber(_ options: WriterOptions) -> Int {
        let key = "\(options.root ?? "")\u{0}\(options.application)\u{0}\(options.model)"
        return instances.withLock { counts in
            counts[key, default: 0] += 1
            return counts[key, default: 1]
        }
    }
}

/// A writer whose file is in no directory: where declarations go when there is no registration
/// in progress or registration failed. Readers never see it.
enum Detached {
    private struct State: @unchecked Sendable {
        // @unchecked: the writer is only used under the mutex.
        let writer: StatsWriter
        var count = 0
    }

    private static let state: Mutex<State> = Mutex(State(writer: makeWriter()))

    /// The detached writer (register on it only through `register(_:)`).
    static var writer: StatsWriter { state.withLock { $0.writer } }

    /// Registers a handle under a fresh name on the detached writer.
    static func register<Handle>(_ make: (StatsWriter, String) throws(MmStatsError) -> Handle) -> Handle {
        state.withLock { state in
            state.count += 1
            do {
                return try make(state.writer, "detached.\(state.count)")
            } catch {
                preconditionFailure("mmstats: cannot register even on the detached writer: \(error)")
            }
        }
    }

    /// A writer in a fresh private directory, whose file and directories are removed at once:
    /// the mapping lives on, no path leads to it.
    private static func makeWriter() -> StatsWriter {
        for base in ["/dev/shm", "/tmp"] {
            var template = Array("\(base)/mmstats-detached-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress.flatMap { mkdtemp($0) } != nil
            }
            guard made else { continue }
            let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var options = WriterOptions(application: "detached", model: "detached")
            options.root = path
            guard let writer = try? StatsWriter(options) else {
                rmdir(path + "/detached/detached")
                rmdir(path + "/detached")
                rmdir(path)
                continue
            }
            unlink(writer.path)
            rmdir(path + "/detached/detached")
            rmdir(path + "/detached")
            rmdir(path)
            return writer
        }
        preconditionFailure("mmstats: cannot create a detached writer in /dev/shm or /tmp")
    }
}
