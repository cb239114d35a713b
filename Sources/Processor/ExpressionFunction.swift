/// What a function accepts in one argument position.
///
/// ```swift
/// ExpressionFunction(name: "rate", parameters: [.metric])
/// ```
public enum ExpressionParameter: Sendable, Hashable {
    /// Any expression; evaluated before the call (a missing value makes the call no value).
    case value
    /// A metric name (bare or quoted, dotted fields allowed), passed as text.
    case metric
    /// A name glob (`*` and `?` allowed in the bare form), passed as text.
    case glob
}

/// One argument as the resolver receives it in a call.
///
/// ```swift
/// let args: [FunctionArgument] = [.metric("web.latency"), .number(.double(0.99))]
/// ```
public enum FunctionArgument: Sendable, Hashable {
    /// An evaluated `.value` argument.
    case number(Number)
    /// A `.metric` argument's name.
    case metric(String)
    /// A `.glob` argument's text.
    case glob(String)
}

/// A function the compiler knows: its name, its parameters (the arity) and, for pure
/// functions, an implementation; the others are evaluated by the resolver.
///
/// A processor fills the table from the plugin registry's `Evaluator`s by wrapping each in an
/// `ExpressionFunction` without an implementation and answering `ExpressionResolver.call`.
///
/// ```swift
/// let ratio = ExpressionFunction(name: "ratio", parameters: [.value, .value])
/// let compiler = ExpressionCompiler(functions: ExpressionFunction.standard + [ratio])
/// ```
public struct ExpressionFunction: Sendable {
    /// The name used in expressions.
    public var name: String
    /// One entry per argument; the count is the arity.
    public var parameters: [ExpressionParameter]
    /// For a pure function whose parameters are all `.value`: computes the result itself
    /// (the arguments are checked to number `parameters.count`; a non-finite result is no value).
    ///
    /// ```swift
    /// ExpressionFunction.standard.first { $0.name == "abs" }?.implementation?([.int(-2)])  // .int(2)
    /// ```
    public var implementation: (@Sendable ([Number]) -> Number?)?

    /// Creates a function entry.
    ///
    /// ```swift
    /// ExpressionFunction(name: "twice", parameters: [.value]) { Number.multiply($0[0], .int(2)) }
    /// ```
    public init(
        name: String, parameters: [ExpressionParameter],
        implementation: (@Sendable ([Number]) -> Number?)? = nil
    ) {
        self.name = name
        self.parameters = parameters
        self.implementation = implementation
    }

    /// The standard table: `rate`, `delta`, `sum`, `min`, `max`, `avg`, `count`, `percentile`
    /// (resolved by the resolver) and `abs`, `clamp` (pure).
    ///
    /// ```swift
    /// ExpressionFunction.standard.map(\.name).contains("clamp")  // true
    /// ```
    public static let standard: [ExpressionFunction] = [
        ExpressionFunction(name: "rate", parameters: [.metric]),
        ExpressionFunction(name: "delta", parameters: [.metric]),
        ExpressionFunction(name: "sum", parameters: [.glob]),
        ExpressionFunction(name: "min", parameters: [.glob]),
        ExpressionFunction(name: "max", parameters: [.glob]),
        ExpressionFunction(name: "avg", parameters: [.glob]),
        ExpressionFunction(name: "count", parameters: [.glob]),
        ExpressionFunction(name: "percentile", parameters: [.metric, .value]),
        ExpressionFunction(name: "abs", parameters: [.value]) { args in
            Number.isLess(args[0], .int(0)) ? Number.negate(args[0]) : args[0]
        },
        ExpressionFunction(name: "clamp", parameters: [.value, .value, .value]) { args in
            let (x, lo, hi) = (args[0], args[1], args[2])
            if Number.isLess(hi, lo) { return nil }
            if Number.isLess(x, lo) { return lo }
            if Number.isLess(hi, x) { return hi }
            return x
        },
    ]
}
