import MmStatsCore

extension FunctionArgument {
    /// The argument as an `Evaluator` input: a number as `.int` or `.double`, a metric name
    /// or a glob as `.string`.
    ///
    /// ```swift
    /// FunctionArgument.metric("web.latency").value  // .string("web.latency")
    /// ```
    public var value: Value {
        switch self {
        case .number(let n): n.value
        case .metric(let name): .string(name)
        case .glob(let glob): .string(glob)
        }
    }
}

extension ExpressionFunction {
    /// A table entry for a plugin's `Evaluator`: its name, with the parameter kinds the
    /// registry does not know (the manifest or the plugin declares them).
    ///
    /// The resolver answers calls to it with `ExpressionFunction.call(_:_:context:)`.
    ///
    /// ```swift
    /// let ratio = try #require(PluginRegistry.shared.evaluator(named: "ratio"))
    /// let entry = ExpressionFunction(evaluator: ratio, parameters: [.value, .value])
    /// ```
    public init(evaluator: any Evaluator, parameters: [ExpressionParameter]) {
        self.init(name: evaluator.name, parameters: parameters)
    }

    /// Calls a plugin's evaluator with a call's arguments: a throw, a nil, a string or a
    /// non-finite answer is no value.
    ///
    /// ```swift
    /// ExpressionFunction.call(ratio, [.number(.int(3)), .number(.int(4))], context: context)  // .double(0.75)
    /// ```
    public static func call(
        _ evaluator: any Evaluator, _ arguments: [FunctionArgument], context: EvaluationContext
    ) -> Number? {
        guard let result = try? evaluator.evaluate(arguments.map(\.value), context: context) else { return nil }
        return Number(result)
    }
}
