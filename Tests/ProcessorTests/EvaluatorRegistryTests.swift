import MmStatsCore
import Processor
import Testing

/// max − min over a glob's values.
struct Spread: Evaluator {
    let name = "spread"
    var parameters: [EvaluatorParameter] { [.glob] }
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        let values = inputs.dropFirst().compactMap(\.doubleValue)
        guard let lo = values.min(), let hi = values.max() else { return nil }
        return .double(hi - lo)
    }
}

/// A delta times a metric's value, to see both resolved.
struct Weighted: Evaluator {
    let name = "weighted"
    var parameters: [EvaluatorParameter] { [.delta, .metric] }
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 2, let d = inputs[0].doubleValue, let w = inputs[1].doubleValue else { return nil }
        return .double(d * w)
    }
}

/// The number of observations in a merged histogram, and its largest bound.
struct Observations: Evaluator {
    let name = "observations"
    var parameters: [EvaluatorParameter] { [.histogram] }
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard case .int(let n)? = inputs.first else { return nil }
        var total = 0.0
        for k in 0..<Int(n) { total += inputs[2 + 2 * k].doubleValue ?? 0 }
        return .double(total)
    }
}

/// Throws on every call.
struct Broken: Evaluator {
    let name = "broken"
    struct Failure: Error {}
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? { throw Failure() }
}

@Suite("Evaluators in the plugin registry")
struct EvaluatorRegistryTests {
    /// A fresh registry with the processor's plugin and one user plugin.
    func registry() throws -> PluginRegistry {
        let registry = PluginRegistry()
        try registry.register(ProcessorPlugin.plugin)
        try registry.register(
            Plugin(name: "user", version: "1", evaluators: [Spread(), Weighted(), Observations(), Broken()]))
        return registry
    }

    @Test("the built-in functions are the processor plugin's evaluators, and a plugin cannot take their names")
    func builtinsAreEvaluators() throws {
        let names = Set(ProcessorPlugin.plugin.evaluators.map(\.name))
        #expect(
            names == ["rate", "delta", "sum", "min", "max", "avg", "count", "percentile", "abs", "clamp"])
        let registry = try registry()
        #expect(registry.evaluator(named: "percentile")?.parameters == [.histogram, .value])
        #expect(throws: MmStatsError.self) {
            try registry.register(Plugin(name: "thief", version: "1", evaluators: [AbsEvaluator()]))
        }
    }

    @Test("an evaluator named like a built-in is refused by the registry and by the engine, never half-used")
    func builtinNamesAreNotOverridden() throws {
        /// A `rate` that would take a value, not a metric, and answer 42.
        struct FakeRate: Evaluator {
            let name = "rate"
            var parameters: [EvaluatorParameter] { [.value] }
            func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? { .int(42) }
        }
        // The registry holding the processor's plugin: the name is taken, and the owner named.
        #expect {
            try registry().register(Plugin(name: "thief", version: "1", evaluators: [FakeRate()]))
        } throws: { error in
            let text = "\(error)"
            return text.contains("plugin thief") && text.contains("'rate'") && text.contains("by plugin processor")
        }
        // An engine given it directly (a registry without the processor's plugin): refused, not
        // compiled as the built-in `rate(metric)` and run as the plugin's.
        #expect {
            _ = try Engine(entries: [entry("r", "rate(x)")], evaluators: [FakeRate()])
        } throws: { error in
            "\(error)".contains("evaluator 'rate' has the name of a built-in function")
        }
        // The built-ins themselves (as a reload passes them back) are fine.
        var engine = try Engine(entries: [entry("r", "abs(x)")], evaluators: ProcessorPlugin.plugin.evaluators)
        engine = try engine.reloaded(with: [entry("r", "abs(x)")])
        let pass = engine.run(EngineInputs(samples: [sample(file(1), "x", .int(-3))], generation: 1))
        #expect(pass.results.first?.value == .double(3))
    }

    @Test("a user's evaluators compile by name with their parameters, and the engine resolves each kind")
    func userEvaluators() throws {
        let registry = try registry()
        let compiler = ExpressionCompiler(functions: ExpressionFunction.registered(in: registry))
        func e(_ name: String, _ text: String) throws -> EngineEntry {
            EngineEntry(destinations: [name], type: .float, expression: try compiler.compile(text))
        }
        let clock = StatsClock.manual(at: 0)
        var engine = try Engine(
            entries: [
                try e("spread", "spread(lat.*)"), try e("weighted", "weighted(hits, weight)"),
                try e("obs", "observations(h)"), try e("broken", "broken(1)"),
                try e("missing", "weighted(hits, nothing)"), try e("p", "percentile(h, 0.5)"),
            ],
            clock: clock, evaluators: registry.plugins.flatMap(\.evaluators))
        func inputs(hits: Int64) -> EngineInputs {
            var h = EngineSample(file: file(1), metric: "h", kind: .gauge, fields: ["value": .int(4)])
            h.buckets = [EngineBucket(upperBound: 10, count: 3), EngineBucket(upperBound: 20, count: 1)]
            var h2 = EngineSample(file: file(2), metric: "h", kind: .gauge, fields: ["value": .int(2)])
            h2.buckets = [EngineBucket(upperBound: 20, count: 2), EngineBucket(upperBound: 5, count: 0)]
            return EngineInputs(
                samples: [
                    sample(file(1), "lat.a", .int(5)), sample(file(1), "lat.b", .double(2.5)),
                    sample(file(2), "lat.c", .int(9)), sample(file(1), "hits", .int(hits), .counter),
                    sample(file(1), "weight", .int(3)), h, h2,
                ], generation: 1)
        }
        let first = engine.run(inputs(hits: 100))
        #expect(first["spread"] == .double(6.5))
        #expect(first["weighted"] == nil)  // no delta on the first pass
        #expect(first["obs"] == .double(6))
        #expect(first["broken"] == nil)
        #expect(first["p"] == .double(10))  // 10 → 3, 20 → 3: rank 3 is in the bound-10 bucket
        clock.advance(by: second)
        let second = engine.run(inputs(hits: 110))
        #expect(second["weighted"] == .double(30))
        #expect(second["missing"] == nil)
    }

    @Test("percentile through its evaluator: rank ⌈q × total⌉ over buckets merged across files")
    func percentileExact() throws {
        var engine = try Engine(entries: [
            try entry("p50", "percentile(h, 0.5)"), try entry("p90", "percentile(h, 0.9)"),
        ])
        var a = EngineSample(file: file(1), metric: "h", kind: .gauge, fields: ["value": .int(4)])
        a.buckets = [EngineBucket(upperBound: 10, count: 3), EngineBucket(upperBound: 20, count: 1)]
        var b = EngineSample(file: file(2), metric: "h", kind: .gauge, fields: ["value": .int(2)])
        b.buckets = [EngineBucket(upperBound: 20, count: 2)]
        let pass = engine.run(EngineInputs(samples: [a, b], generation: 1))
        // Merged: 10 → 3, 20 → 3; total 6. p50: rank 3 → 10. p90: rank ⌈5.4⌉ = 6 → 20.
        #expect(pass["p50"] == .double(10))
        #expect(pass["p90"] == .double(20))
    }

    @Test("a manifest loaded with the registry's table knows a registered plugin's functions")
    func manifestUsesRegistry() throws {
        let registry = try registry()
        let json = #"{ "entries": [ { "destination": "s", "type": "float", "expression": "spread(lat.*)" } ] }"#
        let manifest = try Manifest.parse(
            Array(json.utf8), file: "m.json", functions: ExpressionFunction.registered(in: registry))
        var engine = try Engine(entries: manifest.engineEntries(), evaluators: registry.plugins.flatMap(\.evaluators))
        let pass = engine.run(
            EngineInputs(
                samples: [sample(file(1), "lat.a", .int(1)), sample(file(1), "lat.b", .int(4))], generation: 1))
        #expect(pass["s"] == .double(3))
        // Without the plugin, the name is a load error naming the function.
        #expect {
            _ = try Manifest.parse(Array(json.utf8), file: "m.json", functions: ExpressionFunction.standard)
        } throws: { error in
            "\(error)".contains("unknown function 'spread'")
        }
    }

    @Test("built-in evaluators called directly give the documented answers")
    func direct() throws {
        let context = EvaluationContext(elapsedNanoseconds: 10 * second)
        #expect(try RateEvaluator().evaluate([.int(30)], context: context) == .double(3))
        #expect(try RateEvaluator().evaluate([.int(30)], context: EvaluationContext(elapsedNanoseconds: 0)) == nil)
        #expect(try DeltaEvaluator().evaluate([.int(-4)], context: context) == .int(-4))
        #expect(
            try AggregateEvaluator(name: "avg").evaluate([.int(2), .int(3), .int(6)], context: context) == .double(4.5))
        #expect(try AggregateEvaluator(name: "count").evaluate([.int(0)], context: context) == .int(0))
        #expect(try AggregateEvaluator(name: "sum").evaluate([.int(0)], context: context) == nil)
        // Bad framing: the count says 5 values, there is 1.
        #expect(try AggregateEvaluator(name: "sum").evaluate([.int(5), .int(1)], context: context) == nil)
        #expect(try AbsEvaluator().evaluate([.int(Int64.min)], context: context) == .double(9.223372036854775808e18))
        #expect(try ClampEvaluator().evaluate([.int(12), .int(0), .int(10)], context: context) == .int(10))
        #expect(try ClampEvaluator().evaluate([.int(5), .int(10), .int(0)], context: context) == nil)
        #expect(
            try PercentileEvaluator().evaluate(
                [.int(2), .double(10), .int(1), .double(20), .int(3), .double(0.5)], context: context) == .double(20))
        #expect(
            try PercentileEvaluator().evaluate([.int(1), .double(10), .int(1), .double(1.5)], context: context) == nil)
    }
}
