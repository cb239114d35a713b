/// What an expression asks for while it evaluates: metric values, deltas, elapsed time and
/// the functions that are not pure. Every answer may be nil: no value.
///
/// ```swift
/// struct Fixed: ExpressionResolver {
///     func value(of name: String) -> Number? { .int(1) }
///     func delta(of name: String) -> Number? { nil }
///     func elapsed(_ name: String) -> Number? { nil }
///     func call(_ function: String, _ arguments: [FunctionArgument]) -> Number? { nil }
/// }
/// ```
public protocol ExpressionResolver {
    /// The current value of a metric or exposed field (`web.response_time.p99`).
    func value(of name: String) -> Number?
    /// `#name`: the change since the entry last ran (nil on the first run).
    func delta(of name: String) -> Number?
    /// `_NAME` (`_DIFFTIME`): nanoseconds since the entry last ran (nil on the first run).
    func elapsed(_ name: String) -> Number?
    /// A function without an implementation of its own (`rate`, `sum`, `percentile`, a plugin's).
    func call(_ function: String, _ arguments: [FunctionArgument]) -> Number?
}

/// A resolver over dictionaries set by the caller, for tests and for `mmstats eval` previews.
///
/// ```swift
/// let inputs = ExpressionInputs(values: ["a": .int(2)], elapsed: .int(1_000_000_000))
/// try ExpressionCompiler().compile("a * 3").evaluate(with: inputs)  // .int(6)
/// ```
public struct ExpressionInputs: ExpressionResolver, Sendable {
    /// Metric values by name.
    public var values: [String: Number]
    /// Deltas by metric name.
    public var deltas: [String: Number]
    /// The elapsed nanoseconds every `_NAME` reads.
    public var elapsed: Number?
    /// Results of resolver functions, by function name.
    public var functions: [String: @Sendable ([FunctionArgument]) -> Number?]

    /// Creates inputs.
    ///
    /// ```swift
    /// ExpressionInputs(values: ["x": .double(0.5)])
    /// ```
    public init(
        values: [String: Number] = [:], deltas: [String: Number] = [:], elapsed: Number? = nil,
        functions: [String: @Sendable ([FunctionArgument]) -> Number?] = [:]
    ) {
        self.values = values
        self.deltas = deltas
        self.elapsed = elapsed
        self.functions = functions
    }

    /// The value set for `name`, or nil.
    ///
    /// ```swift
    /// ExpressionInputs(values: ["a": .int(1)]).value(of: "a")  // .int(1)
    /// ```
    public func value(of name: String) -> Number? { values[name] }
    /// The delta set for `name`, or nil.
    ///
    /// ```swift
    /// ExpressionInputs(deltas: ["a": .int(5)]).delta(of: "a")  // .int(5)
    /// ```
    public func delta(of name: String) -> Number? { deltas[name] }
    /// The elapsed time set, for any `_NAME`.
    ///
    /// ```swift
    /// ExpressionInputs(elapsed: .int(1_000_000_000)).elapsed("_DIFFTIME")  // .int(1_000_000_000)
    /// ```
    public func elapsed(_ name: String) -> Number? { elapsed }
    /// The closure set for `function`, applied, or nil.
    ///
    /// ```swift
    /// ExpressionInputs(functions: ["sum": { _ in .int(3) }]).call("sum", [.glob("a.*")])  // .int(3)
    /// ```
    public func call(_ function: String, _ arguments: [FunctionArgument]) -> Number? {
        functions[function]?(arguments)
    }
}

extension CompiledExpression {
    /// Evaluates the tree: any missing operand, division by zero or non-finite result is nil.
    ///
    /// ```swift
    /// let e = try ExpressionCompiler().compile("a / b")
    /// e.evaluate(with: ExpressionInputs(values: ["a": .int(1), "b": .int(0)]))  // nil
    /// ```
    public func evaluate(with resolver: some ExpressionResolver) -> Number? {
        ExpressionEvaluation(functions: functions).evaluate(root, resolver)
    }
}

/// The recursive evaluation (the tree's height is bounded at compile time).
struct ExpressionEvaluation {
    let functions: [String: ExpressionFunction]

    func evaluate(_ node: ExpressionNode, _ resolver: some ExpressionResolver) -> Number? {
        switch node {
        case .number(let n): return n
        case .constant(_, let value): return value
        case .metric(let name): return resolver.value(of: name)
        case .delta(let name): return resolver.delta(of: name)
        case .elapsed(let name): return resolver.elapsed(name)
        case .negate(let operand):
            guard let x = evaluate(operand, resolver) else { return nil }
            return Number.negate(x)
        case .binary(let op, let lhs, let rhs):
            guard let a = evaluate(lhs, resolver), let b = evaluate(rhs, resolver) else { return nil }
            switch op {
            case .add: return Number.add(a, b)
            case .subtract: return Number.subtract(a, b)
            case .multiply: return Number.multiply(a, b)
            case .divide: return Number.divide(a, b)
            }
        case .call(let name, let arguments):
            var values: [FunctionArgument] = []
            values.reserveCapacity(arguments.count)
            var numbers: [Number] = []
            for argument in arguments {
                switch argument {
                case .value(let node):
                    guard let n = evaluate(node, resolver) else { return nil }
                    values.append(.number(n))
                    numbers.append(n)
                case .metric(let metric): values.append(.metric(metric))
                case .glob(let glob): values.append(.glob(glob))
                }
            }
            if let implementation = functions[name]?.implementation, numbers.count == arguments.count {
                return implementation(numbers).flatMap { n in n.doubleValue.isFinite ? n : nil }
            }
            guard let result = resolver.call(name, values) else { return nil }
            if case .double(let d) = result, !d.isFinite { return nil }
            return result
        }
    }
}
