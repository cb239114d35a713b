// Histogram and timer records against the same work on a histogram in private memory.
import Metrics
import MmStatsCore

/// 4,096 values (a mask of 4,095 picks them), spread over 1 µs to about 100 ms in
/// nanoseconds so that records land in many buckets, as real latencies do.
private let valueCount = 4_096

/// Writers, handles, inputs and the private-memory histogram of the histogram rows.
final class HistogramFixture {
    let words: StatsWriter
    let flip: StatsWriter
    let histogram: Histogram
    let seconds: Histogram
    let flipHistogram: Histogram
    let timer: StatsTimer
    let values: UnsafeMutablePointer<UInt64>
    let reals: UnsafeMutablePointer<Double>
    let durations: UnsafeMutablePointer<Duration>
    let plain = makePlainBuffer(words: HistogramKind().signature.words)
    /// Bytes of one histogram's record in the file.
    let recordBytes = HistogramKind().signature.words * 8

    init(root: String) {
        words = makeWriter(root: root, model: "histogram-word")
        flip = makeWriter(root: root, model: "histogram-pageflip", layout: .pageFlip)
        let words = words
        let flip = flip
        (histogram, seconds, timer, flipHistogram) = must("registering histograms") { () throws(MmStatsError) in
            (
                try words.histogram("bench.histogram", unit: "ns"),
                try words.histogram("bench.seconds", unit: "s", resolution: 1e-9),
                try words.timer("bench.timer"),
                try flip.histogram("bench.flip.histogram", unit: "ns")
            )
        }
        values = .allocate(capacity: valueCount)
        reals = .allocate(capacity: valueCount)
        durations = .allocate(capacity: valueCount)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for i in 0..<valueCount {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            // 1,000 × 2^(0…16.6): 1 µs to ~100 ms, log-uniform.
            let value = 1_000 << (state % 17) + (state >> 40) % 1_000
            values[i] = value
            reals[i] = Double(value) * 1e-9
            durations[i] = .nanoseconds(Int64(value))
        }
        plain[1] = .max  // min: none
    }

    deinit {
        values.deallocate()
        reals.deallocate()
        durations.deallocate()
        plain.deallocate()
    }
}

// MARK: Timed loops

@inline(never)
func recordHistogram(_ histogram: Histogram, _ values: UnsafeMutablePointer<UInt64>, times n: Int) -> UInt64 {
    for i in 0..<n { histogram.record(values[i & (valueCount - 1)]) }
    return histogram.values.count
}

@inline(never)
func recordHistogramReals(_ histogram: Histogram, _ values: UnsafeMutablePointer<Double>, times n: Int) -> UInt64 {
    for i in 0..<n { histogram.record(values[i & (valueCount - 1)]) }
    return histogram.values.count
}

@inline(never)
func recordTimerNanoseconds(_ timer: StatsTimer, _ values: UnsafeMutablePointer<UInt64>, times n: Int) -> UInt64 {
    for i in 0..<n { timer.record(nanoseconds: values[i & (valueCount - 1)]) }
    return timer.histogram.values.count
}

@inline(never)
func recordTimerDurations(_ timer: StatsTimer, _ values: UnsafeMutablePointer<Duration>, times n: Int) -> UInt64 {
    for i in 0..<n { timer.record(values[i & (valueCount - 1)]) }
    return timer.histogram.values.count
}

/// The same record on plain private memory: min, max, sum and a bucket, with plain loads
/// and stores (the bucket index as the handle computes it).
@inline(never)
func recordPlainHistogram(_ words: UnsafeMutablePointer<UInt64>, _ values: UnsafeMutablePointer<UInt64>, times n: Int)
    -> UInt64
{
    for i in 0..<n {
        let v = values[i & (valueCount - 1)]
        words[1] = min(words[1], v)
        words[2] = max(words[2], v)
        words[0] = (Double(bitPattern: words[0]) + Double(v)).bitPattern
        words[4 &+ HistogramScheme.index(v)] &+= 1
    }
    return words[2]
}

/// The same as `recordPlainHistogram` for real values at a resolution: divide, round, clamp.
@inline(never)
func recordPlainHistogramReals(
    _ words: UnsafeMutablePointer<UInt64>, _ values: UnsafeMutablePointer<Double>, resolution: Double, times n: Int
) -> UInt64 {
    for i in 0..<n {
        let x = values[i & (valueCount - 1)]
        let clamped = x > 0 ? min(x, 1e300) : 0
        let v = UInt64(min(clamped / resolution + 0.5, 18_446_744_073_709_549_568.0))
        words[1] = min(words[1], v)
        words[2] = max(words[2], v)
        words[0] = (Double(bitPattern: words[0]) + clamped).bitPattern
        words[4 &+ HistogramScheme.index(v)] &+= 1
    }
    return words[2]
}

// MARK: Rows

/// Benchmark rows of histograms and timers.
func histogramRows(_ plan: Plan, root: String) -> [Row] {
    let f = HistogramFixture(root: root)
    let plainName = "the same min, max, sum and bucket updates with plain loads and stores on a private histogram"
    var rows: [Row] = []

    var (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordHistogram(f.histogram, f.values, times: $0) },
        baseline: { recordPlainHistogram(f.plain, f.values, times: $0) })
    rows.append(
        Row(
            operation: "`Histogram.record(UInt64)`, word layout (\(f.recordBytes) bytes per histogram)",
            mmstats: ours, baseline: base, baselineName: plainName + " (values 1 µs to 100 ms in ns, 4,096 of them)",
            target: 3))

    (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordHistogramReals(f.seconds, f.reals, times: $0) },
        baseline: { recordPlainHistogramReals(f.plain, f.reals, resolution: 1e-9, times: $0) })
    rows.append(
        Row(
            operation: "`Histogram.record(Double)`, resolution 1e-9, word layout", mmstats: ours, baseline: base,
            // No target: the 3 ns is the integer record's (the row above), BENCHMARKS.md.
            baselineName: plainName + ", after the same division, rounding and clamping", target: nil))

    (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordHistogram(f.flipHistogram, f.values, times: $0) },
        baseline: { recordPlainHistogram(f.plain, f.values, times: $0) })
    rows.append(
        Row(
            operation: "`Histogram.record(UInt64)`, page-flip file (private working page)", mmstats: ours,
            baseline: base, baselineName: plainName + " (as the first histogram row)", target: 3))

    (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordTimerNanoseconds(f.timer, f.values, times: $0) },
        baseline: { recordPlainHistogram(f.plain, f.values, times: $0) })
    rows.append(
        Row(
            operation: "`StatsTimer.record(nanoseconds:)`, word layout", mmstats: ours, baseline: base,
            baselineName: plainName + " (as the first histogram row)", target: 5))

    (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordTimerDurations(f.timer, f.durations, times: $0) },
        baseline: { recordPlainHistogram(f.plain, f.values, times: $0) })
    rows.append(
        Row(
            operation: "`StatsTimer.record(Duration)`, word layout", mmstats: ours, baseline: base,
            baselineName: plainName + ", given the nanoseconds as UInt64 (no Duration conversion)", target: 5))

    f.words.close()
    f.flip.close()
    return rows
}
