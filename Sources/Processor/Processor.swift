import MmStatsCore

/// The statistics processor: derived statistics from a manifest of expressions.
///
/// This module's manifest, expression language and evaluators are being built; it registers
/// as a plugin already so that hosts and packages can depend on it.
///
/// ```swift
/// try PluginRegistry.shared.register(ProcessorPlugin.plugin)
/// ```
public enum ProcessorPlugin {
    /// The plugin holding this module's evaluators.
    public static let plugin = Plugin(name: "processor", version: "0.1")
}
