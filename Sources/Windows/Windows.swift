import MmStatsCore

/// Time windows over metrics (last-N-seconds averages, rates, percentiles, EWMA).
///
/// This module's kinds are being built; it registers as a plugin already so that hosts and
/// packages can depend on it.
///
/// ```swift
/// try PluginRegistry.shared.register(WindowsPlugin.plugin)
/// ```
public enum WindowsPlugin {
    /// The plugin holding this module's kinds and evaluators.
    public static let plugin = Plugin(name: "windows", version: "0.1", kinds: [WindowKind(), WindowHistogramKind()])
}
