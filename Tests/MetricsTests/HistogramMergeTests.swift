import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

/// Hands a value to another thread that then owns it (a histogram handle belongs to one thread).
struct Handed<Value>: @unchecked Sendable {
    let value: Value
}

/// Merging shards (threads, processes) by adding buckets equals the histogram of the union.
@Suite("Histogram merging")
struct HistogramMergeTests {
    @Test("shards written by four threads, each to its own file, merge into the union's histogram")
    func threads() throws {
        let directory = TemporaryDirectory("hist-merge")
        var random = SeededGenerator(seed: 7)
        let values = (0..<40_000).map { _ in UInt64(exp(log(2e5) + 1.5 * random.normal()).rounded()) }
        let shards = 4
        let writers = try (0..<shards).map { try StatsWriter(directory.options(model: "Shard\($0)")) }
        let handles = try writers.map { Handed(value: try $0.histogram("latency", unit: "ns")) }
        let handed = Handed(value: values)
        onThreads(shards) { shard in
            let part = handed.value[(shard * handed.value.count / shards)..<((shard + 1) * handed.value.count / shards)]
            for value in part { handles[shard].value.record(value) }
        }
        let samples = try writers.map { writer in
            try #require(try StatsReader(path: writer.path).snapshot().metric("latency"))
        }
        let merged = try #require(HistogramValues.merged(samples))

        let union = try StatsWriter(directory.options(model: "Union"))
        let all = try union.histogram("latency", unit: "ns")
        for value in values { all.record(value) }
        let unionSample = try #require(try StatsReader(path: union.path).snapshot().metric("latency"))
        let expected = try #require(HistogramValues(unionSample.fields))
        #expect(merged == expected, "buckets, min, max and (integer, exact) sum all equal")
        #expect(merged.count == 40_000)
        let mergedFields = HistogramKind().exposedFields(merged.components)
        let unionFields = HistogramKind().exposedFields(expected.components)
        #expect(mergedFields.map(\.value) == unionFields.map(\.value))
    }

    @Test("merging: buckets add, min of mins, max of maxes, sums add; empty parts change nothing")
    func rules() throws {
        var a = HistogramValues()
        a.record(units: 10)
        a.record(units: 300)
        var b = HistogramValues()
        b.record(units: 3)
        b.record(units: 10)
        let empty = HistogramValues()
        let merged = try #require(HistogramValues.merged([a, empty, b]))
        #expect(merged.count == 4)
        #expect(merged.buckets[10] == 2 && merged.buckets[3] == 1 && merged.buckets[HistogramScheme.index(300)] == 1)
        #expect(merged.minimum == 3 && merged.maximum == 300 && merged.sum == 323)
        #expect(HistogramValues.merged([empty, empty]) == empty, "min stays 'none'")
        #expect(HistogramValues.merged([HistogramValues]()) == nil)
    }

    @Test("histograms of different resolutions do not merge")
    func resolutions() throws {
        var a = HistogramValues(resolution: 1)
        a.record(units: 1)
        let b = HistogramValues(resolution: 0.001)
        let merged = a.merge(b)
        #expect(!merged)
        #expect(a.count == 1, "unchanged")
        #expect(HistogramValues.merged([a, b]) == nil)
        let directory = TemporaryDirectory("hist-merge-res")
        let stats = try StatsWriter(directory.options())
        _ = try stats.histogram("one")
        _ = try stats.histogram("milli", resolution: 0.001)
        _ = try stats.counter("plain")
        let snapshot = try StatsReader(path: stats.path).snapshot()
        let one = try #require(snapshot.metric("one"))
        let milli = try #require(snapshot.metric("milli"))
        let plain = try #require(snapshot.metric("plain"))
        #expect(HistogramValues.merged([one, milli]) == nil)
        #expect(HistogramValues.merged([one, plain]) == nil, "a counter is not a histogram")
        #expect(HistogramValues.merged([one, one])?.count == 0)
    }
}

/// A reader next to a writer that keeps recording.
@Suite("Histogram read while recorded")
struct HistogramConcurrencyTests {
    @Test("count never goes back, percentiles stay ordered and within [min, max]")
    func readerDuringWrites() throws {
        let directory = TemporaryDirectory("hist-concurrent")
        let stats = try StatsWriter(directory.options())
        let histogram = Handed(value: try stats.histogram("h"))
        histogram.value.record(5_000)  // past the first record's moment with min set and max not yet
        let path = stats.path
        let done = Mutex(false)
        let problems = Mutex<[String]>([])
        let reads = Mutex(0)
        onThreads(2) { thread in
            if thread == 0 {
                var random = SeededGenerator(seed: 8)
                for _ in 0..<2_000_000 { histogram.value.record(UInt64.random(in: 1...10_000_000, using: &random)) }
                done.withLock { $0 = true }
                return
            }
            var last: UInt64 = 0
            let registry = HistogramTesting.registry
            while true {
                let finished = done.withLock { $0 }
                guard let reader = try? StatsReader(path: path, registry: registry),
                    let sample = try? reader.snapshot().metric("h"),
                    let values = HistogramValues(sample.fields)
                else {
                    problems.withLock { $0.append("cannot read") }
                    return
                }
                let count = values.count
                let p = HistogramValues.exposedQuantiles.map { values.quantile($0.q) }
                var problem: String? = nil
                if count < last { problem = "count went back: \(count) < \(last)" }
                if zip(p, p.dropFirst()).contains(where: { $0 > $1 }) { problem = "unordered percentiles \(p)" }
                if count > 0, let first = p.first, let top = p.last,
                    first < Double(values.minimum) || top > Double(values.maximum)
                {
                    problem = "percentiles \(p) outside [\(values.minimum), \(values.maximum)]"
                }
                if let problem { problems.withLock { $0.append(problem) } }
                last = count
                reads.withLock { $0 += 1 }
                if finished { return }
            }
        }
        #expect(problems.withLock { $0 } == [])
        #expect(reads.withLock { $0 } >= 1)
        #expect(histogram.value.values.count == 2_000_001)
    }
}
