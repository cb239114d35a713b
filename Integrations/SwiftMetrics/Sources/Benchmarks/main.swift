// What an update costs through swift-metrics, against the mmstats handle underneath.
// swift run -c release --package-path Integrations/SwiftMetrics mmstats-swift-metrics-benchmarks
import CoreMetrics
import Metrics
import MmStatsCore
import MmStatsMetricsBackend

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

let root = "/tmp/mmstats-swift-metrics-benchmarks-\(getpid())"
let factory = MmStatsMetricsFactory(application: "benchmarks", root: root)
MetricsSystem.bootstrap(factory)
let iterations = 10_000_000

/// Runs `body(n)` on `threads` threads at once; prints the nanoseconds per update per thread.
func measure(_ name: String, threads: Int = 1, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    body(iterations / 10)  // warm-up
    let clock = ContinuousClock()
    let start = clock.now
    var ids: [pthread_t] = []
    for _ in 0..<threads {
        let job = Unmanaged.passRetained(Job { body(iterations) }).toOpaque()
        var id = pthread_t()
        let status = pthread_create(
            &id, nil,
            { raw in
                if let raw { Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().run() }
                return nil
            }, job)
        precondition(status == 0, "pthread_create failed: \(status)")
        ids.append(id)
    }
    for id in ids { pthread_join(id, nil) }
    let elapsed = clock.now - start
    let (seconds, attoseconds) = elapsed.components
    let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    let perUpdate = nanoseconds / Double(iterations)
    print("\(name.padding(56)) \(threads) thread\(threads == 1 ? " " : "s") \(String(perUpdate, places: 1)) ns")
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    init(_ value: Double, places: Int) {
        let scale = Double(10 * places)
        self = String((value * scale).rounded() / scale)
    }
}

var rawOptions = WriterOptions(application: "benchmarks", model: "Raw")
rawOptions.root = root
let writer = try StatsWriter(rawOptions)
let shared = try writer.sharedCounter("raw.shared")
let rawHistogram = try writer.histogram("raw.histogram", resolution: 0.001)
let counter = CoreMetrics.Counter(label: "counter")
let timer = CoreMetrics.Timer(label: "timer")
let recorder = Recorder(label: "recorder")
let meter = Meter(label: "meter")
let gauge = Gauge(label: "gauge")

for threads in [1, 2] {
    measure("mmstats SharedCounter.increment()", threads: threads) { n in
        for _ in 0..<n { shared.increment() }
    }
    measure("swift-metrics Counter.increment()", threads: threads) { n in
        for _ in 0..<n { counter.increment() }
    }
    if threads == 1 {
        // Histogram handles are not Sendable: this one runs on the main thread only.
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for i in 0..<iterations { rawHistogram.record(Double(i & 1023) * 0.001) }
        }
        let (seconds, attoseconds) = elapsed.components
        let perUpdate = (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations)
        print(
            "\("mmstats Histogram.record(_:) (single writer, no lock)".padding(56)) 1 thread  \(String(perUpdate, places: 1)) ns"
        )
    }
    measure("swift-metrics Recorder.record(_:) (histogram)", threads: threads) { n in
        for i in 0..<n { recorder.record(Double(i & 1023) * 0.001) }
    }
    measure("swift-metrics Recorder.record(_:) (histogram, Int)", threads: threads) { n in
        for i in 0..<n { recorder.record(i & 1023) }
    }
    measure("swift-metrics Timer.recordNanoseconds(_:)", threads: threads) { n in
        for i in 0..<n { timer.recordNanoseconds(Int64(i & 1023)) }
    }
    measure("swift-metrics Meter.increment(by:)", threads: threads) { n in
        for _ in 0..<n { meter.increment(by: 1) }
    }
    measure("swift-metrics Gauge.record(_:)", threads: threads) { n in
        for i in 0..<n { gauge.record(i) }
    }
}
factory.close()
writer.close()
rmdir("\(root)/benchmarks/SwiftMetrics")
rmdir("\(root)/benchmarks/Raw")
rmdir("\(root)/benchmarks")
rmdir(root)
