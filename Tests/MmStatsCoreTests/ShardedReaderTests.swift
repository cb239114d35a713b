import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("Sharded records and a reader that mapped the file earlier")
struct ShardedReaderTests {
    @Test("a shared counter registered after the reader mapped the file is read, all shards mapped")
    func lateSharedCounter() throws {
        let directory = TemporaryDirectory("sharded-late")
        let writer = try StatsWriter(directory.options())
        let reader = try StatsReader(path: writer.path)
        #expect(try reader.snapshot().count == 0)
        // The shard block lands past the 16 KiB the reader mapped; its descriptor fits the
        // first segment, so nothing else makes the reader map the file again.
        let shared = try writer.sharedCounter("late")
        shared.increment(by: 5)
        let snapshot = try reader.snapshot()
        #expect(snapshot.value("late") == .uint(5))
        #expect(snapshot.metric("late")?.descriptor.layout == .sharded)
    }
}
