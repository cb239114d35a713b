/// Which file a sample was read from: its path and the writer that owns it. A file whose
/// pid or start time changed belongs to a restarted writer: another file for the engine.
///
/// ```swift
/// EngineFile(path: "/run/mmstats/web/1-2.mmstats", pid: 1, startTime: 2, tid: 3)
/// ```
public struct EngineFile: Sendable, Hashable {
    /// The file's path.
    public var path: String
    /// The writer's process id.
    public var pid: Int64
    /// The writer's start time (any unit; only compared).
    public var startTime: UInt64
    /// The writer thread's id.
    public var tid: Int64

    /// Creates a file identity.
    ///
    /// ```swift
    /// EngineFile(path: "a", pid: 1, startTime: 0, tid: 1)
    /// ```
    public init(path: String, pid: Int64, startTime: UInt64, tid: Int64) {
        self.path = path
        self.pid = pid
        self.startTime = startTime
        self.tid = tid
    }
}

/// How the engine takes a metric's changes.
///
/// ```swift
/// EngineSampleKind.counter  // a decrease is a reset
/// ```
public enum EngineSampleKind: Sendable, Hashable {
    /// A value that goes up and down: its delta is a plain difference.
    case gauge
    /// A value that only grows: a decrease is a reset, and the delta is then the new value.
    case counter
}

/// One metric of one file at one pass: its exposed fields and, for a histogram, its raw
/// buckets (so that histograms merge exactly across files).
///
/// ```swift
/// EngineSample(file: f, metric: "web.requests", kind: .counter, fields: ["value": .int(10)])
/// ```
public struct EngineSample: Sendable {
    /// The file.
    public var file: EngineFile
    /// The metric's name.
    public var metric: String
    /// Counter or gauge.
    public var kind: EngineSampleKind
    /// Exposed fields by name; `value` is the metric's own value (`web.requests`), the
    /// others are reached as `metric.field` (`web.latency.p99`).
    public var fields: [String: Number]
    /// A histogram's buckets: upper bound and count of each (nil for other metrics).
    public var buckets: [EngineBucket]?

    /// Creates a sample.
    ///
    /// ```swift
    /// EngineSample(file: f, metric: "a", fields: ["value": .int(1)])
    /// ```
    public init(
        file: EngineFile, metric: String, kind: EngineSampleKind = .gauge, fields: [String: Number],
        buckets: [EngineBucket]? = nil
    ) {
        self.file = file
        self.metric = metric
        self.kind = kind
        self.fields = fields
        self.buckets = buckets
    }
}

/// One histogram bucket: the observations at most `upperBound` (and above the previous bound).
///
/// ```swift
/// EngineBucket(upperBound: 0.1, count: 42)
/// ```
public struct EngineBucket: Sendable, Hashable {
    /// The bucket's upper bound.
    public var upperBound: Double
    /// Its count.
    public var count: Int64

    /// Creates a bucket.
    ///
    /// ```swift
    /// EngineBucket(upperBound: 1, count: 3)
    /// ```
    public init(upperBound: Double, count: Int64) {
        self.upperBound = upperBound
        self.count = count
    }
}

/// The inputs of one pass: every sample, and a generation that the caller changes whenever
/// the set of files or metrics changes (names are resolved again only then).
///
/// ```swift
/// EngineInputs(samples: samples, generation: 1)
/// ```
public struct EngineInputs: Sendable {
    /// The samples.
    public var samples: [EngineSample]
    /// Changes when the set of files or metrics (not their values) changes.
    public var generation: UInt64
    /// When the samples were read, on the engine's clock (monotonic ns); nil: when `run` starts.
    /// A pass's `elapsed`, rates and entry intervals count from it, so that the time a slow
    /// read takes does not shorten or lengthen them.
    public var time: UInt64?

    /// Creates the inputs of a pass.
    ///
    /// ```swift
    /// EngineInputs(samples: [], generation: 0)
    /// EngineInputs(samples: samples, generation: 3, time: readStart)
    /// ```
    public init(samples: [EngineSample], generation: UInt64, time: UInt64? = nil) {
        self.samples = samples
        self.generation = generation
        self.time = time
    }
}
