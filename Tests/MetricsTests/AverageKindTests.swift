import Metrics
import MmStatsCore
import Testing

@Suite("Metrics plugin")
struct AverageKindTests {
    @Test("the average kind exposes a mean derived from count and sum")
    func mean() {
        let kind = AverageKind()
        let fields = kind.exposedFields([(name: "count", value: .uint(4)), (name: "sum", value: .double(10))])
        #expect(fields.map(\.name) == ["count", "sum", "mean"])
        #expect(fields.last?.value == .double(2.5))
        let empty = kind.exposedFields([(name: "count", value: .uint(0)), (name: "sum", value: .double(0))])
        #expect(empty.last?.value == .double(0))
    }

    @Test("the plugin registers its kinds; registering it twice is refused")
    func registration() throws {
        let registry = PluginRegistry()
        #expect(registry.kind(named: "average") == nil)
        try registry.register(MetricsPlugin.plugin)
        #expect(registry.kind(named: "average")?.signature == AverageKind().signature)
        #expect(registry.plugins.map(\.name) == ["core", "metrics"])
        #expect(throws: MmStatsError.self) { try registry.register(MetricsPlugin.plugin) }
    }
}
