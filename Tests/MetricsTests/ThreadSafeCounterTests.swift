import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

@Suite("Thread-safe counters")
struct ThreadSafeCounterTests {
    @Test("N threads on one shared counter give the exact total, in the handle and to a reader")
    func exactTotal() throws {
        let directory = TemporaryDirectory("shared-total")
        let writer = try StatsWriter(directory.options())
        let hits = try writer.sharedCounter("hits")
        let threads = 8
        let perThread = 200_000
        onThreads(threads) { _ in
            for _ in 0..<perThread { hits.increment() }
        }
        #expect(hits.value == UInt64(threads * perThread))
        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(snapshot.value("hits") == .uint(UInt64(threads * perThread)))
        #expect(snapshot.metric("hits")?.descriptor.layout == .sharded)
        #expect(snapshot.metric("hits")?.descriptor.kind == "counter")
    }

    @Test("threads beyond the file's shards add atomically to shard 0 and the total stays exact")
    func moreThreadsThanShards() throws {
        let directory = TemporaryDirectory("shared-overflow")
        var options = directory.options()
        options.shards = 2  // shard 0 (atomic) and one thread's own shard
        let writer = try StatsWriter(options)
        let hits = try writer.sharedCounter("hits")
        onThreads(6) { i in
            for _ in 0..<50_000 { hits.increment(by: UInt64(i + 1)) }
        }
        let expected: UInt64 = 50_000 * 21  // 1 + 2 + … + 6
        #expect(try StatsReader(path: writer.path).snapshot().value("hits") == .uint(expected))
    }

    @Test("threads that exit leave their counts; the next threads reuse their shards and totals only grow")
    func exitedThreadsKeepTheirCounts() throws {
        let directory = TemporaryDirectory("shared-reuse")
        let writer = try StatsWriter(directory.options())
        let hits = try writer.sharedCounter("hits")
        let reader = try StatsReader(path: writer.path)
        var previous: UInt64 = 0
        for round in 1...5 {
            onThreads(4) { _ in
                for _ in 0..<10_000 { hits.increment() }
            }
            guard case .uint(let total) = try reader.snapshot().value("hits") else {
                Issue.record("no counter value")
                return
            }
            #expect(total == UInt64(round * 40_000))
            #expect(total >= previous)
            previous = total
        }
    }

    @Test("a second shared counter and a second file keep separate totals")
    func separateCounters() throws {
        let directory = TemporaryDirectory("shared-separate")
        let first = try StatsWriter(directory.options(model: "A"))
        let second = try StatsWriter(directory.options(model: "B"))
        let a = try first.sharedCounter("a")
        let b = try first.sharedCounter("b", dimensions: ["k": "v"])
        let c = try second.sharedCounter("a")
        onThreads(3) { _ in
            for _ in 0..<1000 {
                a.increment()
                b.increment(by: 2)
                c.increment(by: 3)
            }
        }
        let one = try StatsReader(path: first.path).snapshot()
        #expect(one.value("a") == .uint(3000))
        #expect(one.value("b", dimensions: ["k": "v"]) == .uint(6000))
        #expect(try StatsReader(path: second.path).snapshot().value("a") == .uint(9000))
    }

    @Test("a shared counter is refused in a page-flip file, and a non-integer sharded record anywhere")
    func refusals() throws {
        let directory = TemporaryDirectory("shared-refused")
        var options = directory.options()
        options.layout = .pageFlip
        let flip = try StatsWriter(options)
        #expect(throws: MmStatsError.self) { try flip.sharedCounter("x") }
        let words = try StatsWriter(directory.options(model: "Words"))
        #expect(throws: MmStatsError.self) { try words.record("d", kind: GaugeKind.double, layout: .sharded) }
    }

    @Test("handles outlive their writer safely: updates go to private memory, the file is gone")
    func handlesOutliveTheWriter() throws {
        let directory = TemporaryDirectory("shared-outlive")
        var writer: StatsWriter? = try StatsWriter(directory.options())
        let path = try #require(writer?.path)
        let hits = try #require(try writer?.sharedCounter("hits"))
        let plain = try #require(try writer?.counter("plain"))
        let record = try #require(try writer?.record("avg", kind: AverageKind()))
        hits.increment()
        writer = nil
        #expect(!FileManager.default.fileExists(atPath: path))
        onThreads(2) { _ in hits.increment() }
        plain.increment(by: 5)
        record.update { w in w[0] += 1 }
        #expect(plain.value == 5)
        #expect(record.descriptor.name == "avg")
        #expect(record.currentWords[0] == 1)
    }
}
