// Benchmark 7: how much a reader thread snapshotting the same file slows the writer down.
import MmStatsCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A reader thread that snapshots one file until told to stop.
final class ReaderLoop: Sendable {
    let path: String
    /// Nanoseconds between snapshot starts; 0 means back to back.
    let interval: UInt64
    let running = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let snapshots = Atomic<Int>(0)
    let failures = Atomic<Int>(0)

    init(path: String, interval: UInt64) {
        self.path = path
        self.interval = interval
    }

    func run() {
        defer { running.store(true, ordering: .releasing) }
        guard let reader = try? StatsReader(path: path) else {
            failures.add(1, ordering: .relaxed)
            return
        }
        running.store(true, ordering: .releasing)
        var next = monotonicNanoseconds()
        while !stop.load(ordering: .relaxed) {
            if (try? reader.snapshot()) != nil {
                snapshots.add(1, ordering: .relaxed)
            } else {
                failures.add(1, ordering: .relaxed)
            }
            if interval > 0 {
                next = max(next + interval, monotonicNanoseconds())
                var wake = timespec(tv_sec: Int(next / 1_000_000_000), tv_nsec: Int(next % 1_000_000_000))
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil)
            }
        }
    }

    /// Starts the loop on a new thread and waits until it has opened the file.
    func start() -> pthread_t {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { context in
                guard let context else { return nil }
                Unmanaged<ReaderLoop>.fromOpaque(context).takeRetainedValue().run()
                return nil
            }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        while !running.load(ordering: .acquiring) { sched_yield() }
        return thread
    }

    func finish(_ thread: pthread_t) {
        stop.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
    }
}

/// Counter increments per second on this thread for about `seconds`.
func writerRate(_ counter: Counter, seconds: Double) -> Double {
    let chunk = 1 << 18
    let start = monotonicNanoseconds()
    let deadline = start + UInt64(seconds * 1e9)
    var done = 0
    var now = start
    repeat {
        sink(incrementCounter(counter, times: chunk))
        done += chunk
        now = monotonicNanoseconds()
    } while now < deadline
    return Double(done) / (Double(now - start) / 1e9)
}

struct InterferenceResult {
    let scenario: String
    /// Increments per second, one per repetition.
    var alone: [Double] = []
    var withReader: [Double] = []
    var snapshotsPerSecond: [Double] = []
    var failures = 0

    /// Best of the repetitions (the run least disturbed by other load on the machine).
    var bestAlone: Double { alone.max() ?? .nan }
    var bestWithReader: Double { withReader.max() ?? .nan }
    var change: Double { (bestWithReader / bestAlone - 1) * 100 }
}

/// Alternates runs without and with a reader, `repetitions` times.
func measureInterference(
    _ scenario: String, counter: Counter, path: String, interval: UInt64, seconds: Double, repetitions: Int
) -> InterferenceResult {
    var result = InterferenceResult(scenario: scenario)
    _ = writerRate(counter, seconds: seconds / 4)  // warm-up
    for _ in 0..<repetitions {
        result.alone.append(writerRate(counter, seconds: seconds))
        let loop = ReaderLoop(path: path, interval: interval)
        let thread = loop.start()
        let start = monotonicNanoseconds()
        result.withReader.append(writerRate(counter, seconds: seconds))
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        loop.finish(thread)
        result.snapshotsPerSecond.append(Double(loop.snapshots.load(ordering: .relaxed)) / elapsed)
        result.failures += loop.failures.load(ordering: .relaxed)
    }
    return result
}

func interferenceResults(_ plan: Plan, root: String) -> [InterferenceResult] {
    let large = SnapshotFixture(root: root)
    let single = makeWriter(root: root, model: "reader-1")
    let lone = must("registering the lone counter") { () throws(MmStatsError) in try single.counter("bench.lone") }
    let seconds = plan.interferenceSeconds
    let results = [
        measureInterference(
            "reader snapshotting back to back, 1,000-metric file", counter: large.counters[0],
            path: large.writer.path, interval: 0, seconds: seconds, repetitions: 3),
        measureInterference(
            "reader snapshotting at ~1 kHz, 1,000-metric file", counter: large.counters[0],
            path: large.writer.path, interval: 1_000_000, seconds: seconds, repetitions: 3),
        measureInterference(
            "reader snapshotting back to back, file with only this counter", counter: lone,
            path: single.path, interval: 0, seconds: seconds, repetitions: 3),
    ]
    large.writer.close()
    single.close()
    return results
}

func printInterference(_ results: [InterferenceResult]) {
    print(
        "| scenario | writer increments/s alone | with reader | change | with reader, every run (M/s) | reader snapshots/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for result in results {
        let snapshots = fixed(result.snapshotsPerSecond.max() ?? .nan, 0)
        let failures = result.failures == 0 ? "" : " (\(result.failures) failed)"
        let runs = result.withReader.map { fixed($0 / 1e6, 0) }.joined(separator: ", ")
        print(
            "| \(result.scenario) | \(fixed(result.bestAlone / 1e6, 1)) M (\(nanoseconds(1e9 / result.bestAlone)) ns) | \(fixed(result.bestWithReader / 1e6, 1)) M (\(nanoseconds(1e9 / result.bestWithReader)) ns) | \(fixed(result.change, 1)) % | \(runs) | \(snapshots)\(failures) |"
        )
    }
}
