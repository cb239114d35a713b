import MmStatsCore

/// Time windows over metrics: the count, sum, mean and rate of the last N seconds
/// (``WindowKind``) and their percentiles (``WindowHistogramKind``), computed by readers for
/// their own time. (EWMA rates are the meter's, in the Metrics module.)
///
/// ```swift
/// try PluginRegistry.shared.register(WindowsPlugin.plugin)
/// let window = try stats.window("http.requests", length: .seconds(60), granularity: .seconds(1))
/// window.increment()
/// ```
public enum WindowsPlugin {
    /// The plugin holding this module's kinds and evaluators.
    public static let plugin = Plugin(name: "windows", version: "0.1", kinds: [WindowKind(), WindowHistogramKind()])
}
