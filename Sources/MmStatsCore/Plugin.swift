import Synchronization

/// Computes a derived value from input values; the statistics processor's unit of work.
///
/// ```swift
/// struct Ratio: Evaluator {
///     var name: String { "ratio" }
///     func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
///         guard inputs.count == 2, let a = inputs[0].doubleValue, let b = inputs[1].doubleValue, b != 0 else { return nil }
///         return .double(a / b)
///     }
/// }
/// ```
public protocol Evaluator: Sendable {
    /// The name a manifest uses for it.
    var name: String { get }
    /// What each argument of a call is, in order; the processor resolves the arguments to
    /// `inputs` accordingly (see `EvaluatorParameter`). The default is one `.value`.
    var parameters: [EvaluatorParameter] { get }
    /// The result for these inputs, or nil when there is none (the destination keeps its value).
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value?
}

extension Evaluator {
    /// One number.
    ///
    /// ```swift
    /// Ratio().parameters  // [.value]
    /// ```
    public var parameters: [EvaluatorParameter] { [.value] }
}

/// What one argument of an evaluator's call is, and how the processor turns it into inputs.
///
/// The inputs are the arguments' resolutions concatenated in order: `.value`, `.metric` and
/// `.delta` add one number each (when one of them has no value, neither has the call, and the
/// evaluator is not called); `.glob` adds a count `n` and then the `n` values of the matching
/// names that have one; `.histogram` adds a count `n` and then `n` pairs (upper bound,
/// observations), bounds ascending, empty buckets left out.
///
/// ```swift
/// struct Spread: Evaluator {  // spread(web.*.latency): max minus min over a glob
///     var name: String { "spread" }
///     var parameters: [EvaluatorParameter] { [.glob] }
///     func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
///         let values = inputs.dropFirst().compactMap(\.doubleValue)
///         guard let lo = values.min(), let hi = values.max() else { return nil }
///         return .double(hi - lo)
///     }
/// }
/// ```
public enum EvaluatorParameter: Sendable, Hashable {
    /// Any expression; its value.
    case value
    /// A metric or destination name; its value at the instance evaluated.
    case metric
    /// A metric or destination name; its change since the entry last ran (counter resets and
    /// restarted writers counted from zero; no value on the first run).
    case delta
    /// A glob over metric and destination names; the values of every matching name.
    case glob
    /// A histogram's name; its buckets merged across the instance's files.
    case histogram
}

/// What an evaluator knows about the pass it runs in.
public struct EvaluationContext: Sendable {
    /// Nanoseconds since the previous pass of the same entry (monotonic clock), 0 on the first.
    public var elapsedNanoseconds: UInt64
    /// Creates a context.
    public init(elapsedNanoseconds: UInt64) { self.elapsedNanoseconds = elapsedNanoseconds }
}

/// A named bundle of metric kinds, storage layouts and evaluators that a registry can hold.
///
/// ```swift
/// try PluginRegistry.shared.register(Plugin(name: "myapp", version: "1.0", kinds: [MinMaxKind()]))
/// ```
public struct Plugin: Sendable {
    /// Unique name.
    public let name: String
    /// Version text, for listings.
    public let version: String
    /// Kinds it provides.
    public let kinds: [any MetricKind]
    /// Layouts it provides.
    public let layouts: [any StorageLayout]
    /// Evaluators it provides.
    public let evaluators: [any Evaluator]

    /// Creates a plugin.
    public init(
        name: String, version: String, kinds: [any MetricKind] = [], layouts: [any StorageLayout] = [],
        evaluators: [any Evaluator] = []
    ) {
        self.name = name
        self.version = version
        self.kinds = kinds
        self.layouts = layouts
        self.evaluators = evaluators
    }

    /// The core's own plugin: counter and gauge kinds and the four built-in layouts.
    public static let core = Plugin(
        name: "core", version: "2.0", kinds: [CounterKind(), GaugeKind.integer],
        layouts: [WordLayout(), DoubleBufferLayout(), PageFlipLayout(), ShardedLayout()])
}

/// Holds plugins and finds their kinds, layouts and evaluators by name or id; thread-safe.
public final class PluginRegistry: Sendable {
    private struct State {
        var plugins: [Plugin] = []
        var kinds: [String: any MetricKind] = [:]
        var layouts: [UInt16: any StorageLayout] = [:]
        var evaluators: [String: any Evaluator] = [:]
    }

    private let state = Mutex(State())

    /// The process-wide registry, holding the core plugin.
    public static let shared: PluginRegistry = PluginRegistry()

    /// A registry holding only the core plugin.
    public init() {
        // The core's names are unique, so this cannot fail.
        try? register(.core)
    }

    /// Adds a plugin; throws if any of its names or ids is already taken (nothing is added then).
    public func register(_ plugin: Plugin) throws(MmStatsError) {
        try state.withLock { (state: inout State) throws(MmStatsError) in
            func taken(_ what: String) -> MmStatsError {
                MmStatsError(
                    .invalidArgument, path: nil, entry: "plugin \(plugin.name)", "\(what) is already registered")
            }
            if state.plugins.contains(where: { $0.name == plugin.name }) { throw taken("the plugin name") }
            var kinds = state.kinds
            var layouts = state.layouts
            var evaluators = state.evaluators
            for kind in plugin.kinds {
                if kinds[kind.name] != nil { throw taken("kind '\(kind.name)'") }
                kinds[kind.name] = kind
            }
            for layout in plugin.layouts {
                if layouts[layout.id.rawValue] != nil { throw taken("layout \(layout.id.rawValue)") }
                layouts[layout.id.rawValue] = layout
            }
            for evaluator in plugin.evaluators {
                if evaluators[evaluator.name] != nil {
                    // Name the owner: the processor's plugin holds the built-in functions.
                    let owner = state.plugins.first { $0.evaluators.contains { $0.name == evaluator.name } }
                    throw taken("evaluator '\(evaluator.name)'" + (owner.map { " (by plugin \($0.name))" } ?? ""))
                }
                evaluators[evaluator.name] = evaluator
            }
            state.plugins.append(plugin)
            state.kinds = kinds
            state.layouts = layouts
            state.evaluators = evaluators
        }
    }

    /// The registered plugins, in registration order.
    public var plugins: [Plugin] { state.withLock { $0.plugins } }
    /// The kind with this name.
    public func kind(named name: String) -> (any MetricKind)? { state.withLock { $0.kinds[name] } }
    /// The layout with this id.
    public func layout(_ id: LayoutID) -> (any StorageLayout)? { state.withLock { $0.layouts[id.rawValue] } }
    /// The evaluator with this name.
    public func evaluator(named name: String) -> (any Evaluator)? { state.withLock { $0.evaluators[name] } }
}
