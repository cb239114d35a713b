// hdrhistogram-swift: a value type, mutated in place by one thread.
import Histogram

/// Holds the histogram between runs; a run takes it out, so that it is uniquely referenced
/// while recording (no copy on write).
final class HdrBox: @unchecked Sendable {
    var histogram: Histogram<UInt64>? = Histogram<UInt64>(
        highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
}

func hdrRows(_ bench: Bench) {
    let box = HdrBox()
    bench.measure(
        "hdrhistogram-swift Histogram.record(_:) (3 digits)", .histogram, threadSafe: false,
        why: "a value type with no synchronization"
    ) { n in
        guard var histogram = box.histogram else { return 0 }
        box.histogram = nil
        for i in 0..<n { _ = histogram.record(UInt64(i & 1023)) }
        let count = histogram.totalCount
        box.histogram = histogram
        return count
    }
}
