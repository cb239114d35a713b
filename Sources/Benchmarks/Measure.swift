// Timing, repetition and dead-code protection shared by every benchmark.
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Nanoseconds on the monotonic clock.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Run sizes: `--quick` divides every iteration count and duration by 10.
struct Plan {
    let quick: Bool
    /// Measured runs per benchmark (after one warm-up run); the table shows the fastest.
    let runs = 5

    /// Iterations for operations of a few nanoseconds.
    var nanoIterations: Int { quick ? 10_000_000 : 100_000_000 }
    /// Iterations for operations of about a microsecond.
    var microIterations: Int { quick ? 2_000 : 20_000 }
    /// Iterations for operations of tens or hundreds of microseconds.
    var milliIterations: Int { quick ? 200 : 2_000 }
    /// Seconds the writer runs in each reader-interference measurement.
    var interferenceSeconds: Double { quick ? 0.1 : 1.0 }
}

/// The nanoseconds per operation of every measured run of one benchmark.
struct Timing {
    var samples: [Double] = []

    var best: Double { samples.min() ?? .nan }
    var median: Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
    var worst: Double { samples.max() ?? .nan }
}

/// Everything a benchmark computes ends up here, so the optimizer cannot drop the work.
nonisolated(unsafe) var checksum: UInt64 = 0

@inline(never)
func sink(_ value: UInt64) {
    checksum = checksum &* 31 &+ value
}

/// Zero, but computed at run time so the optimizer cannot see it: baselines index their
/// buffers with `i & opaqueMask`, which keeps every store a real store to memory.
let opaqueMask: Int = time(nil) < 0 ? 1 : 0

/// One run: `body(iterations)` does `iterations` operations and returns a value to sink.
func timeOnce(iterations: Int, _ body: (Int) -> UInt64) -> Double {
    let start = monotonicNanoseconds()
    let result = body(iterations)
    let elapsed = monotonicNanoseconds() - start
    sink(result)
    return Double(elapsed) / Double(iterations)
}

/// Measures two implementations of one operation with interleaved runs (one warm-up run
/// each, then `plan.runs` measured runs each), so both see the same machine load.
func compare(
    _ plan: Plan, iterations: Int, mmstats: (Int) -> UInt64, baseline: ((Int) -> UInt64)?
) -> (mmstats: Timing, baseline: Timing?) {
    _ = timeOnce(iterations: max(1, iterations / 10), mmstats)
    if let baseline { _ = timeOnce(iterations: max(1, iterations / 10), baseline) }
    var ours = Timing()
    var theirs = Timing()
    for _ in 0..<plan.runs {
        ours.samples.append(timeOnce(iterations: iterations, mmstats))
        if let baseline { theirs.samples.append(timeOnce(iterations: iterations, baseline)) }
    }
    return (ours, baseline == nil ? nil : theirs)
}

/// Stops the program with a message when the library reports an error during setup.
func must<T>(_ what: String, _ body: () throws(MmStatsError) -> T) -> T {
    do {
        return try body()
    } catch {
        fail("\(what): \(error)")
    }
}

/// Prints `message` on standard error and exits with status 1.
func fail(_ message: String) -> Never {
    let line = "mmstats-benchmarks: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}
