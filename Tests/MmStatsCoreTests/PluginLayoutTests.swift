import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// A plugin layout for the test: one copy of the record, every word stored inverted.
struct InvertedLayout: StorageLayout {
    var id: LayoutID { LayoutID(rawValue: 42) }
    var name: String { "inverted" }
    func storageBytes(recordWords: Int) -> Int { recordWords * 8 }
    func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        try region.words(at: descriptor.valueOffset, count: descriptor.signature.words).map { ~$0 }
    }
}

@Suite("Plugin layouts")
struct PluginLayoutTests {
    /// A file whose second metric claims layout 42 with its word stored inverted.
    static func makeFile(_ directory: TemporaryDirectory) throws -> String {
        let writer = try StatsWriter(directory.options())
        try writer.counter("plain").increment(by: 3)
        let special = try writer.counter("special")
        special.increment(by: 5)
        let descriptor = try #require(try StatsReader(path: writer.path).snapshot().metric("special")?.descriptor)
        let copy = directory.path + "/plugin.mmstats"
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: writer.path)))
        // The second descriptor follows the first in segment 0 (at 256 + 32).
        let first = Int(bytes[288]) | Int(bytes[289]) << 8
        let second = 288 + first
        bytes[second + 4] = 42
        bytes[second + 5] = 0
        withUnsafeBytes(of: ~UInt64(5)) {
            bytes.replaceSubrange(descriptor.valueOffset..<descriptor.valueOffset + 8, with: $0)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: copy))
        return copy
    }

    @Test("records in a registered plugin layout are read through the plugin")
    func registered() throws {
        let directory = TemporaryDirectory("plugin-layout")
        let path = try Self.makeFile(directory)
        let registry = PluginRegistry()
        try registry.register(Plugin(name: "inverted", version: "1", layouts: [InvertedLayout()]))
        let snapshot = try StatsReader(path: path, registry: registry).snapshot()
        #expect(snapshot.value("plain") == .uint(3))
        #expect(snapshot.metric("special")?.descriptor.layout == LayoutID(rawValue: 42))
        #expect(snapshot.value("special") == .uint(5))
    }

    @Test("without the plugin, that metric is unreadable and the rest of the file reads")
    func unregistered() throws {
        let directory = TemporaryDirectory("plugin-layout-missing")
        let path = try Self.makeFile(directory)
        let snapshot = try StatsReader(path: path, registry: PluginRegistry()).snapshot()
        #expect(snapshot.value("plain") == .uint(3))
        #expect(snapshot.metric("special")?.error == "unknown layout 42")
        #expect(snapshot.value("special") == nil)
    }
}
