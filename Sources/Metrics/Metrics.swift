import MmStatsCore

/// Metric kinds beyond the core's counter and gauge.
///
/// ```swift
/// try PluginRegistry.shared.register(MetricsPlugin.plugin)
/// let latency = try stats.record("db.latency", kind: AverageKind())
/// latency.update { w in w[0] += 1; w[double: 1] += 0.004 }
/// ```
public enum MetricsPlugin {
    /// The plugin holding this module's kinds.
    public static let plugin = Plugin(
        name: "metrics", version: "0.2",
        kinds: [
            AverageKind(),
            BoolKind(),
            TextKind(),
            StaticKind(.int64),
            MovingAverageKind(),
            HistogramKind(),
            TimerKind(),
            MeterKind(),
        ])
}

/// A running average: a count and a sum updated together (double buffer), exposing the mean.
public struct AverageKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `average`.
    public var name: String { "average" }
    /// `Qd`: count, sum.
    public var signature: Signature { Signature([.uint64, .float64]) }
    /// `count`, `sum`.
    public var fieldNames: [String] { ["count", "sum"] }
    /// Count and sum must be read together.
    public var defaultLayout: LayoutID { .doubleBuffer }

    /// `count`, `sum` and `mean` (sum / count, 0 when there is nothing yet).
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        let count = components.first { $0.name == "count" }?.value.doubleValue ?? 0
        let sum = components.first { $0.name == "sum" }?.value.doubleValue ?? 0
        return components + [(name: "mean", value: .double(count == 0 ? 0 : sum / count))]
    }
}
