import MmStatsCore

/// Metrics whose names share a prefix: `stats.group("index")` registers `index.response_ok`,
/// `index.response_time.p50`, … on one writer.
///
/// A group keeps its writer alive. Dimensions are given per metric, as on `StatsWriter`. Kinds
/// from other modules plug in through `metric(_:_:)`, or through their own `StatsGroup`
/// extension that calls it.
///
/// ```swift
/// let stats = try StatsWriter(WriterOptions(application: "web", model: "Search"))
/// let index = stats.group("index")
/// let ok = try index.counter("response_ok")      // "index.response_ok"
/// let shards = index.group("shards")             // "index.shards.…"
/// ok.increment()
/// ```
public struct StatsGroup {
    /// The writer the group registers on.
    public let writer: StatsWriter
    /// The prefix, without its trailing dot; empty for the writer's top level.
    public let prefix: String

    /// A group of `writer` with `prefix` (dots inside it are kept: `"api.v2"`).
    ///
    /// ```swift
    /// let api = StatsGroup(writer: stats, prefix: "api.v2")
    /// ```
    public init(writer: StatsWriter, prefix: String) {
        self.writer = writer
        self.prefix = prefix
    }

    /// The full name of `name` in this group: `prefix.name` (just `name` without a prefix,
    /// just the prefix for an empty `name`).
    ///
    /// ```swift
    /// stats.group("index").name("response_time")   // "index.response_time"
    /// ```
    public func name(_ name: String) -> String {
        if prefix.isEmpty { return name }
        return name.isEmpty ? prefix : prefix + "." + name
    }

    /// A group nested in this one.
    ///
    /// ```swift
    /// let p = stats.group("index").group("response_time")   // names "index.response_time.…"
    /// ```
    public func group(_ name: String) -> StatsGroup {
        StatsGroup(writer: writer, prefix: self.name(name))
    }

    /// Registers a metric of any kind under this group's name for `name`: `make` receives
    /// the writer and the full name and registers it (the way kinds of other modules plug in).
    ///
    /// ```swift
    /// let timing = try index.metric("time") { writer, name throws(MmStatsError) in
    ///     try writer.record(name, kind: AverageKind())
    /// }
    /// ```
    public func metric<Handle>(
        _ name: String, _ make: (StatsWriter, String) throws(MmStatsError) -> Handle
    ) throws(MmStatsError) -> Handle {
        try make(writer, self.name(name))
    }

    /// A single-writer counter named `prefix.name`.
    ///
    /// ```swift
    /// let ok = try index.counter("response_ok", dimensions: ["code": "200"])
    /// ```
    public func counter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> Counter {
        try writer.counter(self.name(name), dimensions: dimensions, unit: unit, help: help)
    }

    /// A thread-safe counter named `prefix.name`: increment it from any thread or task.
    ///
    /// ```swift
    /// let hits = try index.sharedCounter("cache_hits")
    /// ```
    public func sharedCounter(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> SharedCounter {
        try writer.sharedCounter(self.name(name), dimensions: dimensions, unit: unit, help: help)
    }

    /// An integer gauge named `prefix.name`.
    ///
    /// ```swift
    /// let depth = try index.gauge("queue_depth")
    /// ```
    public func gauge(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> Gauge {
        try writer.gauge(self.name(name), dimensions: dimensions, unit: unit, help: help)
    }

    /// A floating-point gauge named `prefix.name`.
    ///
    /// ```swift
    /// let load = try index.doubleGauge("load")
    /// ```
    public func doubleGauge(
        _ name: String, dimensions: KeyValuePairs<String, String> = [:], unit: String = "", help: String = ""
    ) throws(MmStatsError) -> DoubleGauge {
        try writer.doubleGauge(self.name(name), dimensions: dimensions, unit: unit, help: help)
    }

    /// A record of `kind` named `prefix.name` (see `StatsWriter.record`).
    ///
    /// ```swift
    /// let latency = try index.record("latency", kind: AverageKind())
    /// ```
    public func record(
        _ name: String, kind: any MetricKind, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = "", layout: LayoutID? = nil
    ) throws(MmStatsError) -> Record {
        try writer.record(self.name(name), kind: kind, dimensions: dimensions, unit: unit, help: help, layout: layout)
    }
}

extension StatsWriter {
    /// The group of this writer's metrics named `prefix.…`.
    ///
    /// ```swift
    /// let ok = try stats.group("index").counter("response_ok")   // "index.response_ok"
    /// ```
    public func group(_ prefix: String) -> StatsGroup {
        StatsGroup(writer: self, prefix: prefix)
    }
}
