import MmStatsCore

/// The expression language's own functions, as `Evaluator`s: the processor plugin registers
/// them, and the engine calls them the way it calls a user's plugin evaluators, resolving
/// each argument as its `EvaluatorParameter` says.
///
/// ```swift
/// BuiltinEvaluators.all.map(\.name)  // ["rate", "delta", "sum", "min", "max", "avg", "count", "percentile", "abs", "clamp"]
/// ```
public enum BuiltinEvaluators {
    /// Every built-in function.
    public static let all: [any Evaluator] = [
        RateEvaluator(), DeltaEvaluator(),
        AggregateEvaluator(name: "sum"), AggregateEvaluator(name: "min"), AggregateEvaluator(name: "max"),
        AggregateEvaluator(name: "avg"), AggregateEvaluator(name: "count"),
        PercentileEvaluator(), AbsEvaluator(), ClampEvaluator(),
    ]
}

/// `rate(x)`: the change of `x` since the entry last ran, per second of monotonic time.
///
/// ```swift
/// try RateEvaluator().evaluate([.int(30)], context: EvaluationContext(elapsedNanoseconds: 10_000_000_000))  // .double(3.0)
/// ```
public struct RateEvaluator: Evaluator {
    /// Creates the evaluator.
    public init() {}
    /// `rate`.
    public var name: String { "rate" }
    /// One delta.
    public var parameters: [EvaluatorParameter] { [.delta] }
    /// The delta over the elapsed seconds; no value when no time has elapsed.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 1, let change = Number(inputs[0]), context.elapsedNanoseconds > 0 else { return nil }
        return Number.divide(change, .double(Double(context.elapsedNanoseconds) / 1e9))?.value
    }
}

/// `delta(x)`: the change of `x` since the entry last ran (the same as `#x`).
///
/// ```swift
/// try DeltaEvaluator().evaluate([.int(30)], context: context)  // .int(30)
/// ```
public struct DeltaEvaluator: Evaluator {
    /// Creates the evaluator.
    public init() {}
    /// `delta`.
    public var name: String { "delta" }
    /// One delta.
    public var parameters: [EvaluatorParameter] { [.delta] }
    /// The delta itself.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 1, let change = Number(inputs[0]) else { return nil }
        return change.value
    }
}

/// `sum`, `min`, `max`, `avg` or `count` over the names a glob matches.
///
/// ```swift
/// try AggregateEvaluator(name: "max").evaluate([.int(2), .int(3), .int(5)], context: context)  // .int(5)
/// ```
public struct AggregateEvaluator: Evaluator {
    /// `sum`, `min`, `max`, `avg` or `count`.
    public let name: String
    /// Creates the aggregate of that name.
    public init(name: String) { self.name = name }
    /// One glob.
    public var parameters: [EvaluatorParameter] { [.glob] }
    /// The aggregate of the matching names' values; `count` is 0 and the others no value when
    /// no name has a value.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard let first = inputs.first, case .int(let n) = first, n >= 0, Int(n) == inputs.count - 1 else {
            return nil
        }
        if name == "count" { return .int(n) }
        var result: Number?
        for input in inputs.dropFirst() {
            guard let v = Number(input) else { return nil }
            guard let current = result else {
                result = v
                continue
            }
            switch name {
            case "min": if Number.isLess(v, current) { result = v }
            case "max": if Number.isLess(current, v) { result = v }
            default:
                guard let sum = Number.add(current, v) else { return nil }
                result = sum
            }
        }
        guard let result else { return nil }
        return name == "avg" ? Number.divide(result, .int(n))?.value : result.value
    }
}

/// `percentile(h, q)`: the upper bound of the bucket holding the observation of rank
/// ⌈q × total⌉ (at least 1) in the histogram's buckets merged across the instance's files.
///
/// ```swift
/// // buckets (10: 1), (20: 3); q = 0.5 → rank 2 → 20
/// try PercentileEvaluator().evaluate([.int(2), .double(10), .int(1), .double(20), .int(3), .double(0.5)], context: context)
/// ```
public struct PercentileEvaluator: Evaluator {
    /// Creates the evaluator.
    public init() {}
    /// `percentile`.
    public var name: String { "percentile" }
    /// A histogram and a quantile.
    public var parameters: [EvaluatorParameter] { [.histogram, .value] }
    /// No value without observations, with `q` outside [0, 1], or when the bucket's bound is
    /// infinite.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard let first = inputs.first, case .int(let n) = first, n >= 0, inputs.count == 2 * Int(n) + 2,
            let q = inputs[inputs.count - 1].doubleValue, q >= 0, q <= 1
        else { return nil }
        var total = 0.0  // doubles: hostile counts cannot overflow
        for k in 0..<Int(n) { total += inputs[2 + 2 * k].doubleValue ?? 0 }
        guard total > 0 else { return nil }
        let rank = max(1, (q * total).rounded(.up))
        var cumulative = 0.0
        for k in 0..<Int(n) {
            cumulative += inputs[2 + 2 * k].doubleValue ?? 0
            if cumulative >= rank { return (inputs[1 + 2 * k].doubleValue).flatMap(Number.finite)?.value }
        }
        return nil
    }
}

/// `abs(x)`: the absolute value (`abs` of `Int64.min` is a double).
///
/// ```swift
/// try AbsEvaluator().evaluate([.int(-3)], context: context)  // .int(3)
/// ```
public struct AbsEvaluator: Evaluator {
    /// Creates the evaluator.
    public init() {}
    /// `abs`.
    public var name: String { "abs" }
    /// The absolute value.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 1, let x = Number(inputs[0]) else { return nil }
        return (Number.isLess(x, .int(0)) ? Number.negate(x) : x)?.value
    }
}

/// `clamp(x, lo, hi)`: `x` limited to [lo, hi]; no value when `hi < lo`.
///
/// ```swift
/// try ClampEvaluator().evaluate([.int(12), .int(0), .int(10)], context: context)  // .int(10)
/// ```
public struct ClampEvaluator: Evaluator {
    /// Creates the evaluator.
    public init() {}
    /// `clamp`.
    public var name: String { "clamp" }
    /// Three numbers.
    public var parameters: [EvaluatorParameter] { [.value, .value, .value] }
    /// The clamped value.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 3, let x = Number(inputs[0]), let lo = Number(inputs[1]), let hi = Number(inputs[2]),
            !Number.isLess(hi, lo)
        else { return nil }
        if Number.isLess(x, lo) { return lo.value }
        if Number.isLess(hi, x) { return hi.value }
        return x.value
    }
}
