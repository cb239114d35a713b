import MmStatsCore
import Processor
import Synchronization
import Testing

/// Compiles and evaluates `text` against `inputs`.
func evaluate(_ text: String, _ inputs: ExpressionInputs = ExpressionInputs()) throws -> Number? {
    try compile(text).evaluate(with: inputs)
}

@Suite("Expression evaluation")
struct ExpressionEvaluatorTests {
    /// Hand-computed results: precedence, associativity, unary minus, promotion.
    static let table: [(String, Number)] = [
        ("2 + 3 * 4", .int(14)),
        ("(2 + 3) * 4", .int(20)),
        ("2 * 3 + 4", .int(10)),
        ("10 - 4 - 3", .int(3)),
        ("2 - 3 + 4", .int(3)),
        ("2 * 3 - 4 * 5", .int(-14)),
        ("100 / 10 / 5", .double(2)),
        ("8 / 4 * 2", .double(4)),
        ("7 / 2", .double(3.5)),
        ("6 / 3", .double(2)),
        ("1 - -1", .int(2)),
        ("-2 * -3", .int(6)),
        ("-(2 + 3) * 2", .int(-10)),
        ("- - 4", .int(4)),
        ("-a", .int(-5)),
        ("1 + 2.5", .double(3.5)),
        ("2.5e1 - 5", .double(20)),
        ("a+b*c", .int(5 + 7 * 11)),
        ("a\n+\tb * c", .int(82)),
        ("(a - b) / (c - a)", .double(-2.0 / 6.0)),
        ("$HRTIME_SECOND / $SECOND_TO_MILLISECOND_SCALE", .double(1_000_000)),
        ("$BYTES_TO_MB_SCALE * 2097152", .double(2)),
        ("1250000 * $BYTES_TO_MBIT_SCALE * $MBIT_TO_KBIT_SCALE", .double(10_000)),
        ("9223372036854775807 + 1", .double(9_223_372_036_854_775_808)),
        ("-9223372036854775807 - 2", .double(-9_223_372_036_854_775_808)),
        ("9223372036854775807 * 2", .double(18_446_744_073_709_551_616)),
        ("-(-9223372036854775807 - 1)", .double(9_223_372_036_854_775_808)),
    ]

    static let abc = ExpressionInputs(values: ["a": .int(5), "b": .int(7), "c": .int(11)])

    @Test("precedence, associativity and promotion, by hand", arguments: 0..<table.count)
    func arithmetic(_ i: Int) throws {
        let (text, expected) = Self.table[i]
        #expect(try evaluate(text, Self.abc) == expected, "\(text)")
    }

    @Test("Traffic Server defect 1: float × constant and counter + integer are exact, not bit garbage")
    func mixedTypes() throws {
        #expect(try evaluate("0.5 * $PCT_TO_INTPCT_SCALE") == .double(50))
        let ratio = ExpressionInputs(values: ["hit_ratio": .double(0.25)])
        #expect(try evaluate("hit_ratio * $PCT_TO_INTPCT_SCALE", ratio) == .double(25))
        let counter = ExpressionInputs(values: ["requests": try #require(Number(Value.uint(5)))])
        #expect(try evaluate("requests + 1", counter) == .int(6))
        #expect(try evaluate("requests + 0.5", counter) == .double(5.5))
        let huge = ExpressionInputs(values: ["requests": try #require(Number(Value.uint(UInt64.max)))])
        #expect(try evaluate("requests + 1", huge) == .double(18_446_744_073_709_551_616))
    }

    @Test("x / 0, NaN and infinity are no value, never 0 or garbage")
    func noValueRules() throws {
        let inputs = ExpressionInputs(values: ["x": .int(3), "zero": .double(0), "y": .int(4)])
        #expect(try evaluate("x / 0", inputs) == nil)
        #expect(try evaluate("0 / 0") == nil)
        #expect(try evaluate("x / zero", inputs) == nil)
        #expect(try evaluate("x / (y - y)", inputs) == nil)
        #expect(try evaluate("x / -0.0", inputs) == nil)
        #expect(try evaluate("1e300 * 1e300") == nil)
        #expect(try evaluate("-1e300 * 1e300") == nil)
        #expect(try evaluate("1e308 + 1e308") == nil)
        #expect(try evaluate("1 / 1e-320") == nil)
        #expect(try evaluate("(x / 0) * 0 + 1", inputs) == nil)
    }

    @Test("a missing input makes the whole result no value")
    func missing() throws {
        #expect(try evaluate("a + 1") == nil)
        #expect(try evaluate("0 * a") == nil)
        #expect(try evaluate("#a") == nil)
        #expect(try evaluate("_DIFFTIME") == nil)
        #expect(try evaluate("abs(a)") == nil)
        #expect(try evaluate("clamp(1, a, 2)") == nil)
        #expect(try evaluate("rate(a)") == nil)
        #expect(try evaluate("percentile(h, a)", ExpressionInputs(functions: ["percentile": { _ in .int(1) }])) == nil)
    }

    @Test("the canonical rate: #requests * $HRTIME_SECOND / _DIFFTIME")
    func rate() throws {
        let inputs = ExpressionInputs(deltas: ["proxy.requests": .int(50)], elapsed: .int(10_000_000_000))
        #expect(try evaluate("#proxy.requests * $HRTIME_SECOND / _DIFFTIME", inputs) == .double(5))
        #expect(try evaluate("#proxy.requests * $HRTIME_SECOND / _DIFFTIME", ExpressionInputs(elapsed: .int(0))) == nil)
        let zero = ExpressionInputs(deltas: ["proxy.requests": .int(50)], elapsed: .int(0))
        #expect(try evaluate("#proxy.requests * $HRTIME_SECOND / _DIFFTIME", zero) == nil)
    }

    @Test("names reach the resolver unsplit: quoted, dotted fields, deltas")
    func names() throws {
        let inputs = ExpressionInputs(
            values: ["web.response_time.p99": .double(12.5), "name with + and spaces": .int(3)],
            deltas: ["odd-name": .int(4)])
        #expect(try evaluate("web.response_time.p99 * 2", inputs) == .double(25))
        #expect(try evaluate(#""name with + and spaces" - #"odd-name""#, inputs) == .int(-1))
        #expect(try compile("$PAGE * 2", constants: ["PAGE": .int(4096)]).evaluate(with: inputs) == .int(8192))
    }

    @Test("abs and clamp are pure and keep integers integral")
    func pureFunctions() throws {
        #expect(try evaluate("abs(-3)") == .int(3))
        #expect(try evaluate("abs(3)") == .int(3))
        #expect(try evaluate("abs(-2.5)") == .double(2.5))
        #expect(try evaluate("abs(-9223372036854775807 - 1)") == .double(9_223_372_036_854_775_808))
        #expect(try evaluate("clamp(150, 0, 100)") == .int(100))
        #expect(try evaluate("clamp(-5, 0, 100)") == .int(0))
        #expect(try evaluate("clamp(50, 0, 100)") == .int(50))
        #expect(try evaluate("clamp(0.5, 0, 1)") == .double(0.5))
        #expect(try evaluate("clamp(2.5, 0, 1)") == .int(1))
        #expect(try evaluate("clamp(1, 5, 0)") == nil)
        let twice = ExpressionFunction(name: "twice", parameters: [.value]) { Number.multiply($0[0], .int(2)) }
        let compiler = ExpressionCompiler(functions: ExpressionFunction.standard + [twice])
        #expect(try compiler.compile("twice(3) + 1").evaluate(with: ExpressionInputs()) == .int(7))
    }

    @Test("resolver functions receive metric, glob and number arguments; a non-finite answer is no value")
    func resolverFunctions() throws {
        let seen = Mutex<[[FunctionArgument]]>([])
        let inputs = ExpressionInputs(
            values: ["q": .double(0.99)],
            functions: [
                "percentile": { args in
                    seen.withLock { $0.append(args) }
                    return .double(12.5)
                },
                "sum": { args in
                    seen.withLock { $0.append(args) }
                    return .int(30)
                },
                "rate": { _ in .double(.infinity) },
            ])
        #expect(try evaluate("percentile(web.latency, q) + sum(web.*.requests)", inputs) == .double(42.5))
        #expect(
            seen.withLock { $0 } == [
                [.metric("web.latency"), .number(.double(0.99))], [.glob("web.*.requests")],
            ])
        #expect(try evaluate("rate(x)", inputs) == nil)
    }

    @Test("Number converts from stored values: big unsigned to double, non-finite and strings to no value")
    func conversions() {
        #expect(Number(Value.uint(7)) == .int(7))
        #expect(Number(Value.uint(UInt64.max)) == .double(18_446_744_073_709_551_616))
        #expect(Number(Value.int(-3)) == .int(-3))
        #expect(Number(Value.bool(true)) == .int(1))
        #expect(Number(Value.double(.nan)) == nil)
        #expect(Number(Value.double(-.infinity)) == nil)
        #expect(Number(Value.string("1")) == nil)
        #expect(Number.int(7).value == .int(7))
        #expect(Number.double(0.5).value == .double(0.5))
        #expect(Number.finite(.nan) == nil)
    }
}

@Suite("Expression functions from plugin evaluators")
struct ExpressionPluginFunctionTests {
    /// A resolver that answers calls with the registry's evaluators.
    struct RegistryResolver: ExpressionResolver {
        let registry: PluginRegistry
        let values: [String: Number]
        func value(of name: String) -> Number? { values[name] }
        func delta(of name: String) -> Number? { nil }
        func elapsed(_ name: String) -> Number? { nil }
        func call(_ function: String, _ arguments: [FunctionArgument]) -> Number? {
            guard let evaluator = registry.evaluator(named: function) else { return nil }
            return ExpressionFunction.call(evaluator, arguments, context: EvaluationContext(elapsedNanoseconds: 0))
        }
    }

    @Test("a registered Evaluator becomes a function: compiled by name and arity, evaluated through the resolver")
    func registryFunction() throws {
        let registry = PluginRegistry()
        try registry.register(Plugin(name: "ratios", version: "1", evaluators: [Ratio()]))
        let ratio = try #require(registry.evaluator(named: "ratio"))
        let compiler = ExpressionCompiler(
            functions: ExpressionFunction.standard + [
                ExpressionFunction(evaluator: ratio, parameters: [.value, .value])
            ])
        let resolver = RegistryResolver(
            registry: registry, values: ["hits": .int(3), "total": .int(4), "zero": .int(0)])
        #expect(try compiler.compile("ratio(hits, total) * 100").evaluate(with: resolver) == .double(75))
        #expect(try compiler.compile("ratio(hits, zero)").evaluate(with: resolver) == nil)
        #expect(
            compileErrorWith(compiler, "ratio(hits)")
                == ExpressionError(line: 1, column: 1, text: "ratio", reason: "'ratio' takes 2 arguments, got 1"))
        #expect(FunctionArgument.metric("a.b").value == .string("a.b"))
        #expect(FunctionArgument.glob("a.*").value == .string("a.*"))
        #expect(FunctionArgument.number(.double(0.5)).value == .double(0.5))
    }

    func compileErrorWith(_ compiler: ExpressionCompiler, _ text: String) -> ExpressionError? {
        do {
            _ = try compiler.compile(text)
            return nil
        } catch {
            return error
        }
    }
}
