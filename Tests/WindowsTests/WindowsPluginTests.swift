import MmStatsCore
import Testing
import Windows

@Suite("Windows plugin")
struct WindowsPluginTests {
    @Test("the plugin registers beside the core under its own name")
    func registration() throws {
        let registry = PluginRegistry()
        try registry.register(WindowsPlugin.plugin)
        #expect(registry.plugins.map(\.name) == ["core", "windows"])
    }
}
