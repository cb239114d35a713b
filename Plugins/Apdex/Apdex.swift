import MmStatsCore
import PluginExport

/// Apdex (Application Performance Index): requests counted as satisfied, tolerating or
/// frustrated, and the score `(satisfied + tolerating / 2) / total`.
///
/// ```swift
/// try PluginRegistry.shared.register(ApdexPlugin.plugin)   // or load libApdex.so
/// ```
public enum ApdexPlugin {
    /// The kind `apdex` and the evaluator `apdex(s, t, f)`.
    public static let plugin = Plugin(
        name: "apdex", version: "1.0", kinds: [ApdexKind()], evaluators: [ApdexEvaluator()])

    /// The score of these counts; nil when there are none.
    ///
    /// ```swift
    /// ApdexPlugin.score(satisfied: 60, tolerating: 30, frustrated: 10)  // 0.75
    /// ```
    public static func score(satisfied: Double, tolerating: Double, frustrated: Double) -> Double? {
        let total = satisfied + tolerating + frustrated
        return total > 0 ? (satisfied + tolerating / 2) / total : nil
    }
}

/// The `apdex` kind: three counts (`QQQ`, double buffer, so a reader sees them together),
/// exposing the counts, `total` and `score` (0.0 when there are no requests yet).
///
/// ```swift
/// let checkout = try stats.record("checkout.apdex", kind: ApdexKind())
/// checkout.update { w in w[0] += 1 }   // a satisfied request
/// ```
public struct ApdexKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `apdex`.
    public var name: String { "apdex" }
    /// `QQQ`.
    public var signature: Signature { Signature([.uint64, .uint64, .uint64]) }
    /// `satisfied`, `tolerating`, `frustrated`.
    public var fieldNames: [String] { ["satisfied", "tolerating", "frustrated"] }
    /// The three counts change together.
    public var defaultLayout: LayoutID { .doubleBuffer }

    /// The counts, `total` and `score`.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        func count(_ name: String) -> UInt64 {
            guard case .uint(let v) = components.first(where: { $0.name == name })?.value else { return 0 }
            return v
        }
        let (s, t, f) = (count("satisfied"), count("tolerating"), count("frustrated"))
        let total = s &+ t &+ f
        let score = ApdexPlugin.score(satisfied: Double(s), tolerating: Double(t), frustrated: Double(f)) ?? 0
        return components + [(name: "total", value: .uint(total)), (name: "score", value: .double(score))]
    }
}

/// `apdex(satisfied, tolerating, frustrated)`: the score, or no result when all are 0.
///
/// ```swift
/// try ApdexEvaluator().evaluate([.int(60), .int(30), .int(10)], context: .init(elapsedNanoseconds: 0))  // 0.75
/// ```
public struct ApdexEvaluator: FixedArityEvaluator {
    /// Creates the evaluator.
    public init() {}
    /// `apdex`.
    public var name: String { "apdex" }
    /// Three counts.
    public var parameterCount: Int { 3 }

    /// The score, nil when there are no requests; throws on a negative count.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        let counts = inputs.compactMap(\.doubleValue)
        guard counts.count == 3, counts.allSatisfy({ $0 >= 0 }) else { throw ApdexError() }
        return ApdexPlugin.score(satisfied: counts[0], tolerating: counts[1], frustrated: counts[2]).map(Value.double)
    }
}

/// Inputs that are not three non-negative counts.
public struct ApdexError: Error, CustomStringConvertible {
    /// What `apdex` takes.
    public var description: String { "apdex takes three non-negative counts" }
}

/// The plugin's descriptor, built once.
let exported = ExportedPlugin(ApdexPlugin.plugin)

/// The entry the host looks up (docs/PLUGINS.md).
@_cdecl("mmstats_plugin_v1")
public func mmstatsPluginV1() -> UnsafeRawPointer? { exported.descriptor }
