import MmStatsCore
import Processor
import Testing

/// A ratio evaluator, to exercise the core's evaluator registration.
struct Ratio: Evaluator {
    var name: String { "ratio" }
    func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? {
        guard inputs.count == 2, let a = inputs[0].doubleValue, let b = inputs[1].doubleValue, b != 0 else {
            return nil
        }
        return .double(a / b)
    }
}

@Suite("Processor plugin")
struct ProcessorPluginTests {
    @Test("evaluators register by name and evaluate; a duplicate name is refused without partial registration")
    func evaluators() throws {
        let registry = PluginRegistry()
        try registry.register(ProcessorPlugin.plugin)
        try registry.register(Plugin(name: "ratios", version: "1", evaluators: [Ratio()]))
        let ratio = try #require(registry.evaluator(named: "ratio"))
        let context = EvaluationContext(elapsedNanoseconds: 0)
        #expect(try ratio.evaluate([.uint(3), .uint(4)], context: context) == .double(0.75))
        #expect(try ratio.evaluate([.uint(3), .uint(0)], context: context) == nil)
        // A plugin whose second name collides adds nothing at all.
        let clash = Plugin(name: "clash", version: "1", kinds: [ClashKind()], evaluators: [Ratio()])
        #expect(throws: MmStatsError.self) { try registry.register(clash) }
        #expect(registry.kind(named: "clash-kind") == nil)
        #expect(registry.plugins.map(\.name) == ["core", "processor", "ratios"])
    }
}

struct ClashKind: MetricKind {
    var name: String { "clash-kind" }
    var signature: Signature { Signature([.uint64]) }
    var fieldNames: [String] { ["value"] }
    var defaultLayout: LayoutID { .word }
}
