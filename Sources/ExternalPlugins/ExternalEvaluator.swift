import CMmStatsPlugin
import MmStatsCore

/// An evaluator from a plugin's shared object: a function of a fixed number of numbers.
///
/// ```swift
/// let apdex = try #require(plugin.evaluators.first { $0.name == "apdex" })
/// try apdex.evaluate([.uint(60), .uint(30), .uint(10)], context: EvaluationContext(elapsedNanoseconds: 0))
/// // .double(0.75)
/// ```
public struct ExternalEvaluator: Evaluator {
    /// The plugin's callback and its context, which any thread may call (docs/PLUGINS.md).
    struct Callback: @unchecked Sendable {
        let evaluate: mmstats_plugin_evaluate_fn
        let context: UnsafeMutableRawPointer?
    }

    /// The name expressions call it by.
    public let name: String
    /// How many inputs it takes.
    public let parameterCount: Int
    /// `parameterCount` numbers: the C interface passes expression values only.
    public var parameters: [EvaluatorParameter] { Array(repeating: .value, count: parameterCount) }
    let path: String
    let callback: Callback

    /// The plugin's result for these inputs; nil when it has none. Throws when the inputs are
    /// not `parameterCount` numbers, or when the plugin refuses them or answers out of bounds.
    public func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        func fail(_ reason: String) -> MmStatsError {
            MmStatsError(.invalidArgument, path: path, entry: "evaluator '\(name)'", reason)
        }
        guard inputs.count == parameterCount else {
            throw fail("takes \(parameterCount) inputs, not \(inputs.count)")
        }
        var values: [mmstats_value] = []
        for (i, input) in inputs.enumerated() {
            guard let value = mmstats_value(input) else { throw fail("input \(i + 1) is not a number") }
            values.append(value)
        }
        var result = mmstats_value()
        let status = values.withUnsafeBufferPointer { buffer in
            callback.evaluate(
                callback.context, buffer.baseAddress, UInt32(buffer.count), context.elapsedNanoseconds, &result)
        }
        switch Int(status) {
        case Int(MMSTATS_EVALUATE_OK):
            guard let value = Value(result) else { throw fail("the result has an unknown type tag \(result.type)") }
            return value
        case Int(MMSTATS_EVALUATE_NONE):
            return nil
        case Int(MMSTATS_EVALUATE_ERROR):
            throw fail("the plugin refused the inputs")
        default:
            throw fail("the plugin returned an unknown status \(status)")
        }
    }
}
