// swift-prometheus used directly: metrics from a PrometheusCollectorRegistry.
import Prometheus

func prometheusRows(_ bench: Bench) {
    let registry = PrometheusCollectorRegistry()
    let counter = registry.makeCounter(
        descriptor: MetricNameDescriptor(metricName: "counter", unitName: "total", helpText: "a counter"))
    let gauge = registry.makeGauge(
        descriptor: MetricNameDescriptor(metricName: "gauge", unitName: "", helpText: "a gauge"))
    // Ten buckets over the recorded range (0-1023), like a latency histogram's.
    let histogram = registry.makeValueHistogram(
        descriptor: MetricNameDescriptor(metricName: "histogram", unitName: "", helpText: "a histogram"),
        buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000])
    bench.measure("swift-prometheus Counter.increment()", .counter) { n in
        for _ in 0..<n { counter.increment() }
        return UInt64(n)
    }
    bench.measure("swift-prometheus Gauge.set(to:)", .gauge) { n in
        for i in 0..<n { gauge.set(to: Double(i)) }
        return UInt64(n)
    }
    bench.measure("swift-prometheus ValueHistogram.record(_:) (10 buckets)", .histogram) { n in
        for i in 0..<n { histogram.record(Double(i & 1023)) }
        return UInt64(n)
    }
}
