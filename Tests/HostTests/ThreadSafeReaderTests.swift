import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("Both readers sum thread-safe counters")
struct ThreadSafeReaderTests {
    @Test("slurp --json and the Python reader print the same bytes and the exact total of N threads")
    func sameTotal() throws {
        let directory = TemporaryDirectory("shared-readers")
        var options = directory.options(application: "web", model: "Shared")
        options.shards = 4  // threads beyond 3 share shard 0: both kinds of shard are summed
        let writer = try StatsWriter(options)
        let hits = try writer.sharedCounter("hits", unit: "requests")
        let big = try writer.sharedCounter("wraps")
        big.increment(by: UInt64.max)  // sums wrap at 2^64 in both readers
        let threads = 6
        let perThread = 100_000
        onThreads(threads) { _ in
            for _ in 0..<perThread { hits.increment() }
            big.increment(by: 1)
        }
        let swift = try run(Binaries.mmstats, ["slurp", "--json", "--now", "1000", writer.path])
        let python = try run(
            "/usr/bin/env", ["python3", PythonReaderTests.script, "--json", "--now", "1000", writer.path])
        #expect(swift.status == 0, "\(swift.stderr)")
        #expect(python.status == 0, "\(python.stderr)")
        #expect(swift.stdout == python.stdout, "swift:\n\(swift.stdout)\npython:\n\(python.stdout)")
        let files = try #require(try JSONSerialization.jsonObject(with: Data(swift.stdout.utf8)) as? [[String: Any]])
        let metrics = try #require(files.first?["metrics"] as? [[String: Any]])
        let total = try #require(metrics.first { $0["name"] as? String == "hits" })
        #expect((total["value"] as? NSNumber)?.uint64Value == UInt64(threads * perThread))
        #expect(total["layout"] as? String == "sharded")
        #expect(total["kind"] as? String == "counter")
        let exposed = try #require(total["exposed"] as? [String: Any])
        #expect((exposed["value"] as? NSNumber)?.uint64Value == UInt64(threads * perThread))
        let wraps = try #require(metrics.first { $0["name"] as? String == "wraps" })
        #expect((wraps["value"] as? NSNumber)?.uint64Value == UInt64(threads - 1))
    }
}
