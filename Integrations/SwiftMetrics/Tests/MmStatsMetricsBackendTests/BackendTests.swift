import CoreMetrics
import MmStatsCore
import MmStatsMetricsBackend
import Testing

// Every test records through swift-metrics' own API into the process's one bootstrapped
// factory, then reads the file back with StatsReader.
@Suite(.bootstrappedBackend)
struct BackendTests {
    @Test func counterIsAThreadSafeMmStatsCounterWithDimensions() throws {
        let counter = CoreMetrics.Counter(label: "http.requests", dimensions: [("method", "GET"), ("code", "200")])
        counter.increment()
        counter.increment(by: 5)
        counter.increment(by: -3)  // a counter only grows: ignored
        let sample = try Backend.metric("http.requests", ["code": "200", "method": "GET"])
        #expect(sample.descriptor.kind == "counter")
        #expect(sample.descriptor.layout == .sharded)
        #expect(sample.value == .uint(6))
    }

    @Test func countersFromFourThreadsAddUpExactly() throws {
        let counter = CoreMetrics.Counter(label: "threads.increments")
        onThreads(4) { _ in
            for _ in 0..<100_000 { counter.increment() }
        }
        #expect(try Backend.metric("threads.increments").value == .uint(400_000))
    }

    @Test func countersFromFourTasksAddUpExactly() async throws {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    // Each task makes the metric itself: the factory returns the cached handler.
                    let counter = CoreMetrics.Counter(label: "tasks.increments")
                    for _ in 0..<100_000 { counter.increment() }
                }
            }
        }
        #expect(try Backend.metric("tasks.increments").value == .uint(400_000))
    }

    @Test func theSameMetricMadeTwiceIsOneRecordAndSurvivesDestroy() throws {
        let first = CoreMetrics.Counter(label: "made.twice", dimensions: [("a", "1")])
        let second = CoreMetrics.Counter(label: "made.twice", dimensions: [("a", "1")])
        first.increment()
        second.increment()
        let snapshot = try Backend.snapshot()
        #expect(snapshot.metrics.filter { $0.descriptor.name == "made.twice" }.count == 1)
        #expect(snapshot.value("made.twice", dimensions: ["a": "1"]) == .uint(2))
        first.destroy()
        CoreMetrics.Counter(label: "made.twice", dimensions: [("a", "1")]).increment()
        #expect(try Backend.metric("made.twice", ["a": "1"]).value == .uint(3))
    }

    @Test func floatingPointCounterIsADoubleSum() throws {
        let counter = FloatingPointCounter(label: "bytes.fraction", dimensions: [("disk", "sda")])
        counter.increment(by: 0.5)
        counter.increment(by: 0.25)
        counter.increment(by: -1.0)  // dropped, as swift-metrics' own counters do
        counter.increment(by: Double.nan)
        let sample = try Backend.metric("bytes.fraction", ["disk": "sda"])
        #expect(sample.descriptor.kind == "gauge")
        #expect(sample.value == .double(0.75))
        counter.reset()
        #expect(try Backend.metric("bytes.fraction", ["disk": "sda"]).value == .double(0))
    }

    @Test func meterIsADoubleGauge() throws {
        let meter = Meter(label: "queue.depth")
        meter.set(10)
        meter.increment(by: 2.5)
        meter.decrement(by: 0.5)
        let sample = try Backend.metric("queue.depth")
        #expect(sample.descriptor.kind == "gauge")
        #expect(sample.value == .double(12))
        meter.set(-4.25)
        #expect(try Backend.metric("queue.depth").value == .double(-4.25))
    }

    @Test func nonAggregatingRecorderAndGaugeKeepTheLastValue() throws {
        let recorder = Recorder(label: "cpu.load", aggregate: false)
        recorder.record(3)
        recorder.record(0.75)
        CoreMetrics.Gauge(label: "memory.used", dimensions: [("pool", "heap")]).record(1_024)
        let load = try Backend.metric("cpu.load")
        #expect(load.descriptor.kind == "gauge")
        #expect(load.value == .double(0.75))
        #expect(try Backend.metric("memory.used", ["pool": "heap"]).value == .double(1_024))
    }

    @Test func aggregatingRecorderIsAHistogram() throws {
        let recorder = Recorder(label: "response.seconds", dimensions: [("route", "/")])
        for value in [0.25, 0.5, 1.25] { recorder.record(value) }
        recorder.record(2)
        let sample = try Backend.metric("response.seconds", ["route": "/"])
        #expect(sample.descriptor.kind == "histogram")
        #expect(histogramCount(sample) == 4)
        #expect(sample.field("sum") == .double(4))
        #expect(sample.field("resolution") == .double(0.001))
        #expect(sample.field("min") == .uint(250))  // units of 0.001
        #expect(sample.field("max") == .uint(2_000))
    }

    @Test func timerIsAnMmStatsTimerInNanoseconds() throws {
        let timer = CoreMetrics.Timer(label: "db.query", dimensions: [("table", "orders")])
        timer.recordNanoseconds(1_500)
        timer.recordMilliseconds(2)
        timer.recordNanoseconds(-5)  // a negative duration counts as 0
        let sample = try Backend.metric("db.query", ["table": "orders"])
        #expect(sample.descriptor.kind == "timer")
        #expect(sample.descriptor.unit == "ns")
        #expect(histogramCount(sample) == 3)
        #expect(sample.field("sum") == .double(2_001_500))
        #expect(sample.field("min") == .uint(0))
        #expect(sample.field("max") == .uint(2_000_000))
    }

    @Test func timersFromSeveralTasksRecordEveryDuration() async throws {
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let timer = CoreMetrics.Timer(label: "tasks.timer")
                    for i in 0..<10_000 { timer.recordNanoseconds(Int64(task * 10_000 + i)) }
                }
            }
        }
        let sample = try Backend.metric("tasks.timer")
        #expect(histogramCount(sample) == 80_000)
        #expect(sample.field("sum") == .double(Double(79_999 * 80_000 / 2)))
        #expect(sample.field("max") == .uint(79_999))
    }

    @Test func histogramsAndGaugesFromThreadsLoseNothing() throws {
        let recorder = Recorder(label: "threads.histogram")
        let meter = Meter(label: "threads.meter")
        onThreads(4) { _ in
            for _ in 0..<20_000 {
                recorder.record(1)
                meter.increment(by: 1)
            }
        }
        #expect(histogramCount(try Backend.metric("threads.histogram")) == 80_000)
        #expect(try Backend.metric("threads.meter").value == .double(80_000))
    }

    @Test func labelsAreKeptAsTheyAreAndDimensionsNormalized() throws {
        let label = "weird label/with ünïcode, \"quotes\" and a \u{1} control"
        CoreMetrics.Counter(label: label).increment()
        #expect(try Backend.metric(label).value == .uint(1))

        CoreMetrics.Counter(label: "").increment()
        #expect(try Backend.metric("unnamed").value == .uint(1))

        // Over 65,535 bytes: cut at the last whole character that fits (é is 2 bytes).
        CoreMetrics.Counter(label: String(repeating: "é", count: 40_000), dimensions: [("k", "v")]).increment()
        #expect(try Backend.metric(String(repeating: "é", count: 32_767), ["k": "v"]).value == .uint(1))

        // A repeated key keeps its last value; keys are sorted, so the order does not matter.
        CoreMetrics.Counter(label: "dims", dimensions: [("b", "2"), ("a", "1"), ("b", "3")]).increment()
        CoreMetrics.Counter(label: "dims", dimensions: [("a", "1"), ("b", "3")]).increment()
        let sample = try Backend.metric("dims", ["a": "1", "b": "3"])
        #expect(sample.value == .uint(2))
        #expect(sample.descriptor.dimensions == [Dimension("a", "1"), Dimension("b", "3")])
    }

    @Test func aLabelUsedForTwoKindsKeepsTheFirstAndDropsTheOther() throws {
        let counter = CoreMetrics.Counter(label: "two.kinds")
        let timer = CoreMetrics.Timer(label: "two.kinds")  // refused by the file: a no-op, reported
        let again = CoreMetrics.Timer(label: "two.kinds")  // a no-op at once, not reported again
        counter.increment()
        timer.recordNanoseconds(10)
        again.recordNanoseconds(10)
        let samples = try Backend.snapshot().metrics.filter { $0.descriptor.name == "two.kinds" }
        #expect(samples.map(\.descriptor.kind) == ["counter"])
        #expect(samples.first?.value == .uint(1))
    }
}

// Factories of their own, used through swift-metrics' explicit-factory API.
struct FactoryTests {
    @Test func aFactoryWithoutAFileHandsOutNoOpHandlers() {
        // A root under a regular file cannot be created: no file, no crash.
        let factory = MmStatsMetricsFactory(application: "no-file", root: "/dev/null/mmstats")
        #expect(factory.path == nil)
        CoreMetrics.Counter(label: "c", factory: factory).increment()
        FloatingPointCounter(label: "f", factory: factory).increment(by: 1.5)
        Meter(label: "m", factory: factory).set(1)
        Recorder(label: "r", factory: factory).record(1)
        CoreMetrics.Timer(label: "t", factory: factory).recordNanoseconds(1)
    }

    @Test func closeRemovesTheFileAndLaterMetricsAreNoOps() throws {
        let root = temporaryDirectory("mmstats-swift-metrics-close")
        defer { removeTree(root) }
        var options = MmStatsMetricsOptions(application: "closing", model: "Metrics", root: root)
        options.recorderResolutions["sizes"] = 1
        let factory = MmStatsMetricsFactory(options: options)
        let path = try #require(factory.path)
        #expect(path.hasPrefix("\(root)/closing/Metrics/"))
        let sizes = Recorder(label: "sizes", factory: factory)
        sizes.record(1_500)
        let sample = try #require(try StatsReader(path: path).snapshot().metric("sizes"))
        #expect(sample.field("resolution") == .double(1))
        #expect(sample.field("max") == .uint(1_500))

        factory.close()
        #expect(!exists(path))
        sizes.record(3)  // still safe: into memory no reader sees
        CoreMetrics.Counter(label: "after", factory: factory).increment()
    }
}
