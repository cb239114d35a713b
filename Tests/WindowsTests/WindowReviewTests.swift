import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing
import Windows

@Suite("Windows, histograms and shards: review findings")
struct WindowReviewTests {
    @Test("a percentile window asked for again with another resolution is refused")
    func resolutionChecked() throws {
        let directory = TemporaryDirectory("wh-resolution")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        _ = try writer.windowHistogram("latency", resolution: 0.001, clock: clock)
        _ = try writer.windowHistogram("latency", resolution: 0.001, clock: clock)
        #expect(throws: MmStatsError.self) { _ = try writer.windowHistogram("latency", resolution: 1, clock: clock) }
    }

    @Test("a percentile window rounds x / resolution, as FORMAT.md says (0.35 / 0.1 is 3 units)")
    func roundingByDivision() throws {
        let directory = TemporaryDirectory("wh-rounding")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let window = try writer.windowHistogram("x", resolution: 0.1, clock: clock)
        window.record(0.35)  // 0.35 / 0.1 = 3.4999999999999996: 3 units; 0.35 * 10 would give 4
        let fields = try WindowTests.exposed(writer, "x", now: clock.now())
        #expect(fields["max"] == .double(3 * 0.1))
    }

    @Test("a window's fields at the largest time do not overflow")
    func largestNow() throws {
        let directory = TemporaryDirectory("window-max")
        let writer = try StatsWriter(directory.options())
        let clock = StatsClock.manual(at: 0)
        let window = try writer.window("w", length: .nanoseconds(10), granularity: .nanoseconds(1), clock: clock)
        window.record(1)
        let fields = try WindowTests.exposed(writer, "w", now: .max)
        #expect(fields["count"] == .uint(0))
    }

    @Test("record() refuses the sharded layout: only sharedCounter makes sharded records")
    func noShardedRecord() throws {
        let directory = TemporaryDirectory("no-sharded-record")
        let writer = try StatsWriter(directory.options())
        #expect(throws: MmStatsError.self) { _ = try writer.record("x", kind: CounterKind(), layout: .sharded) }
        _ = try writer.sharedCounter("shared")
        #expect(throws: MmStatsError.self) { _ = try writer.record("shared", kind: CounterKind()) }
    }

    @Test("bucket bounds past the scheme's last bucket are the last bucket's, never a trap")
    func bucketsPastTheScheme() {
        let last = HistogramScheme.bucketCount - 1
        #expect(HistogramScheme.width(10_000) == HistogramScheme.width(last))
        #expect(HistogramScheme.lowerBound(10_000) == HistogramScheme.lowerBound(last))
        let buckets = [UInt64](repeating: 1, count: 5_000)
        let q = buckets.withUnsafeBufferPointer {
            HistogramScheme.quantile(1, buckets: $0, count: 5_000, minimum: 0, maximum: .max)
        }
        #expect(q.isFinite)
    }
}
