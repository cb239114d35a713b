// mmstats' own handles, straight from a StatsWriter.
import Metrics
import MmStatsCore

let oneWriterPerThread = "a handle belongs to one thread; see the per-thread row"

/// One writer's handles, each used by one thread at a time.
struct Handles: @unchecked Sendable {
    let writer: StatsWriter
    let counter: MmStatsCore.Counter
    let gauge: MmStatsCore.Gauge
    let histogram: Metrics.Histogram
    let timer: StatsTimer

    init(root: String, model: String) {
        var options = WriterOptions(application: "peers", model: model)
        options.root = root
        do throws(MmStatsError) {
            writer = try StatsWriter(options)
            counter = try writer.counter("counter")
            gauge = try writer.gauge("gauge")
            histogram = try writer.histogram("histogram")
            timer = try writer.timer("timer")
        } catch {
            fail("mmstats setup: \(error)")
        }
    }
}

/// The loops, one per handle kind, shared by the 1-thread and the per-thread rows.
func counterLoop(_ handles: Handles) -> Body {
    { n in
        let handle = handles.counter
        for _ in 0..<n { handle.increment() }
        return handle.value
    }
}

func gaugeLoop(_ handles: Handles) -> Body {
    { n in
        let handle = handles.gauge
        for i in 0..<n { handle.set(Int64(i)) }
        return UInt64(bitPattern: handle.value)
    }
}

func histogramLoop(_ handles: Handles) -> Body {
    { n in
        let handle = handles.histogram
        for i in 0..<n { handle.record(UInt64(i & 1023)) }
        return handle.values.maximum
    }
}

func timerLoop(_ handles: Handles) -> Body {
    { n in
        let handle = handles.timer
        for i in 0..<n { handle.record(nanoseconds: UInt64(i & 1023)) }
        return handle.histogram.values.maximum
    }
}

/// Measures the rows; returns the writers, which must stay open until the end.
func mmstatsRows(_ bench: Bench, root: String) -> [StatsWriter] {
    let first = Handles(root: root, model: "MmStats")
    let second = Handles(root: root, model: "MmStatsSecondThread")
    let shared: SharedCounter
    do throws(MmStatsError) {
        shared = try first.writer.sharedCounter("shared")
    } catch {
        fail("mmstats setup: \(error)")
    }
    let perThread = "mmstats, 1 writer per thread:"
    bench.measure(
        "mmstats Counter.increment()", .counter, threadSafe: false, why: oneWriterPerThread, counterLoop(first))
    bench.run("\(perThread) Counter.increment()", .counter, [counterLoop(first), counterLoop(second)])
    bench.measure("mmstats SharedCounter.increment() (thread-safe)", .counter, reference: true) { n in
        for _ in 0..<n { shared.increment() }
        return UInt64(n)
    }
    bench.measure(
        "mmstats Gauge.set(_:)", .gauge, reference: true, threadSafe: false, why: oneWriterPerThread, gaugeLoop(first))
    bench.run("\(perThread) Gauge.set(_:)", .gauge, reference: true, [gaugeLoop(first), gaugeLoop(second)])
    bench.measure(
        "mmstats Histogram.record(_:) (values 0-1023)", .histogram, reference: true, threadSafe: false,
        why: oneWriterPerThread, histogramLoop(first))
    bench.run(
        "\(perThread) Histogram.record(_:)", .histogram, reference: true,
        [histogramLoop(first), histogramLoop(second)])
    bench.measure(
        "mmstats StatsTimer.record(nanoseconds:)", .timer, reference: true, threadSafe: false,
        why: oneWriterPerThread, timerLoop(first))
    bench.run(
        "\(perThread) StatsTimer.record(nanoseconds:)", .timer, reference: true, [timerLoop(first), timerLoop(second)])
    return [first.writer, second.writer]
}
