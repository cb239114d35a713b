// Time windows and meters: the record paths against plain private-memory equivalents.
import Metrics
import MmStatsCore
import Windows

/// Benchmark rows of time windows and meters.
func windowRows(_ plan: Plan, root: String) -> [Row] {
    let writer = makeWriter(root: root, model: "windows")
    let (meter, window, histogram) = must("registering windows") { () throws(MmStatsError) in
        (
            try writer.meter("bench.meter"),
            try writer.window("bench.window", length: .seconds(60), granularity: .seconds(1)),
            try writer.windowHistogram("bench.window_histogram", length: .seconds(60), granularity: .seconds(20))
        )
    }
    let plain = makePlainBuffer(words: 4096)
    defer { plain.deallocate() }
    var rows: [Row] = []
    var (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { markMeter(meter, times: $0) },
        baseline: { incrementTwoPlain(plain, mask: opaqueMask, times: $0) })
    rows.append(
        Row(
            operation: "`Meter.mark()` (tick check, slot + total)", mmstats: ours, baseline: base,
            baselineName: "`p[i & m] &+= 1; p[1 + i & m] &+= 1` on private memory", target: 5))
    (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordWindow(window, times: $0) },
        baseline: { addCountSumPlain(plain, mask: opaqueMask, times: $0) })
    rows.append(
        Row(
            operation: "`Window.record(Double)` (60 s in 1 s slots)", mmstats: ours, baseline: base,
            baselineName: "count `&+= 1` and sum `+= Double(i)` on private memory", target: 10))
    (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { recordWindowHistogram(histogram, times: $0) },
        baseline: { recordPlainHistogram(plain, mask: opaqueMask, times: $0) })
    rows.append(
        Row(
            operation: "`WindowHistogram.record(UInt64)` (60 s in 20 s slots)", mmstats: ours, baseline: base,
            baselineName: "bucket `HistogramScheme.index` `&+= 1`, sum, min, max on private memory", target: 10))
    return rows
}

@inline(never)
func markMeter(_ meter: Meter, times n: Int) -> UInt64 {
    for _ in 0..<n { meter.mark() }
    return meter.count
}

@inline(never)
func recordWindow(_ window: Window, times n: Int) -> UInt64 {
    for i in 0..<n { window.record(Double(i & 1023)) }
    return UInt64(n)
}

@inline(never)
func recordWindowHistogram(_ histogram: WindowHistogram, times n: Int) -> UInt64 {
    for i in 0..<n { histogram.record(UInt64(i & 1023)) }
    return UInt64(n)
}

@inline(never)
func incrementTwoPlain(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n {
        words[i & mask] &+= 1
        words[1 + i & mask] &+= 1
    }
    return words[0]
}

@inline(never)
func addCountSumPlain(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n {
        words[i & mask] &+= 1
        words[1 + i & mask] = (Double(bitPattern: words[1 + i & mask]) + Double(i & 1023)).bitPattern
    }
    return words[0]
}

@inline(never)
func recordPlainHistogram(_ words: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    for i in 0..<n {
        let units = UInt64(i & 1023)
        let data = words + (i & mask)
        data[3 + HistogramScheme.index(units)] &+= 1
        data[0] = (Double(bitPattern: data[0]) + Double(units)).bitPattern
        if units < data[1] { data[1] = units }
        if units > data[2] { data[2] = units }
    }
    return words[0]
}
