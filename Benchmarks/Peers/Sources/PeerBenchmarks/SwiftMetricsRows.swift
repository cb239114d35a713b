// swift-metrics' API over two backends: mmstats' (Integrations/SwiftMetrics) and
// swift-prometheus' PrometheusMetricsFactory. Metrics are made with the initialisers that take a
// factory (no global bootstrap); the rows call the swift-metrics types users call.
import CoreMetrics
import MmStatsMetricsBackend
import Prometheus

func swiftMetricsRows(_ bench: Bench, root: String) -> MmStatsMetricsFactory {
    let mmstats = MmStatsMetricsFactory(application: "peers", model: "SwiftMetrics", root: root)
    let counter = CoreMetrics.Counter(label: "counter", factory: mmstats)
    let timer = CoreMetrics.Timer(label: "timer", factory: mmstats)
    let recorder = CoreMetrics.Recorder(label: "recorder", aggregate: true, factory: mmstats)
    bench.measure("swift-metrics → mmstats Counter.increment()", .counter) { n in
        for _ in 0..<n { counter.increment() }
        return UInt64(n)
    }
    bench.measure("swift-metrics → mmstats Timer.recordNanoseconds(_:)", .timer) { n in
        for i in 0..<n { timer.recordNanoseconds(Int64(i & 1023)) }
        return UInt64(n)
    }
    bench.measure("swift-metrics → mmstats Recorder.record(_:) (histogram)", .histogram) { n in
        for i in 0..<n { recorder.record(Double(i & 1023)) }
        return UInt64(n)
    }

    let prometheus = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
    let promCounter = CoreMetrics.Counter(label: "counter", factory: prometheus)
    let promTimer = CoreMetrics.Timer(label: "timer", factory: prometheus)
    bench.measure("swift-metrics → swift-prometheus Counter.increment()", .counter) { n in
        for _ in 0..<n { promCounter.increment() }
        return UInt64(n)
    }
    bench.measure("swift-metrics → swift-prometheus Timer.recordNanoseconds(_:)", .timer) { n in
        for i in 0..<n { promTimer.recordNanoseconds(Int64(i & 1023)) }
        return UInt64(n)
    }
    // The handlers alone, called as swift-metrics' front end calls them, to tell the front
    // end's cost from the backend's.
    let mmstatsHandler = mmstats.makeRecorder(label: "recorder-handler", dimensions: [], aggregate: true)
    bench.measure("MmStatsMetricsFactory RecorderHandler.record(Double) (no front end)", .histogram) { n in
        for i in 0..<n { mmstatsHandler.record(Double(i & 1023)) }
        return UInt64(n)
    }
    let promHandler = prometheus.makeRecorder(label: "recorder-handler", dimensions: [], aggregate: true)
    bench.measure("PrometheusMetricsFactory RecorderHandler.record(Double) (no front end)", .histogram) { n in
        for i in 0..<n { promHandler.record(Double(i & 1023)) }
        return UInt64(n)
    }
    let promRecorder = CoreMetrics.Recorder(label: "recorder", aggregate: true, factory: prometheus)
    bench.measure("swift-metrics → swift-prometheus Recorder.record(_:) (histogram)", .histogram) { n in
        for i in 0..<n { promRecorder.record(Double(i & 1023)) }
        return UInt64(n)
    }
    return mmstats
}
