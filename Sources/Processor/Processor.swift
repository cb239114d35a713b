import MmStatsCore

/// The statistics processor: derived statistics from a manifest of expressions.
///
/// Its plugin holds the expression language's functions as `Evaluator`s and the kinds of
/// its results file (`derived`, `derived-counter`); register it so that readers expose the
/// results and the registry lists the functions.
///
/// ```swift
/// try PluginRegistry.shared.register(ProcessorPlugin.plugin)
/// ```
public enum ProcessorPlugin {
    /// The plugin: built-in functions and the results' kinds.
    public static let plugin = Plugin(
        name: "processor", version: "1.0", kinds: [DerivedKind.float, DerivedKind.counter],
        evaluators: BuiltinEvaluators.all)
}
