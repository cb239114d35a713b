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
        call(evaluator, arguments.map(\.value), context: context)
    }

    /// Calls a plugin's evaluator with resolved inputs (see `EvaluatorParameter`): a throw, a
    /// nil, a string or a non-finite answer is no value.
    ///
    /// ```swift
    /// ExpressionFunction.call(AbsEvaluator(), [Value.int(-3)], context: context)  // .int(3)
    /// ```
    public static func call(_ evaluator: any Evaluator, _ inputs: [Value], context: EvaluationContext) -> Number? {
        guard let result = try? evaluator.evaluate(inputs, context: context) else { return nil }
        return Number(result)
    }

    /// A table entry for an evaluator, its parameters taken from the evaluator: `.value` is
    /// parsed as an expression, `.metric`, `.delta` and `.histogram` as a name, `.glob` as a
    /// glob.
    ///
    /// ```swift
    /// ExpressionFunction(evaluator: RateEvaluator()).parameters  // [.metric]
    /// ```
    public init(evaluator: any Evaluator) {
        self.init(
            name: evaluator.name,
            parameters: evaluator.parameters.map { parameter in
                switch parameter {
                case .value: .value
                case .metric, .delta, .histogram: .metric
                case .glob: .glob
                }
            })
    }

    /// The function table for a registry: the built-in functions, then every evaluator the
    /// registry's plugins provide under another name.
    ///
    /// ```swift
    /// try PluginRegistry.shared.register(Plugin(name: "mine", version: "1", evaluators: [Ratio()]))
    /// let manifest = try Manifest.load(path: "m.json", functions: ExpressionFunction.registered())
    /// ```
    public static func registered(in registry: PluginRegistry = .shared) -> [ExpressionFunction] {
        var table = standard
        var names = Set(table.map(\.name))
        for evaluator in registry.plugins.flatMap(\.evaluators) where names.insert(evaluator.name).inserted {
            table.append(ExpressionFunction(evaluator: evaluator))
        }
        return table
    }
}
