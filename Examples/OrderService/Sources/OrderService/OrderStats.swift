import Metrics
import MmStatsCore

/// The order service's metrics, registered in one call; every name gets the prefix `orders`.
///
/// ```swift
/// let stats = try OrderStats.register(application: "order-service", prefix: "orders")
/// stats.received.increment()                     // "orders.received"
/// ```
final class OrderStats: StatsModel {
    let received = Metric.counter("received", unit: "orders", help: "orders received")
    let completed = Metric.counter("completed", unit: "orders", help: "orders answered, declined ones included")
    let failed = Metric.counter("failed", unit: "orders", help: "orders the payment step declined")
    let inFlight = Metric.gauge("in_flight", unit: "orders", help: "orders waiting or being processed")
    // A timer is a histogram of nanoseconds (module Metrics); `declare` plugs it into the model.
    let latency = Metric.declare("latency") { writer, name throws(MmStatsError) in
        try writer.timer(name, help: "from arrival to answer")
    }
    // The application's own kind.
    let pool = Metric.record("db_pool", kind: PoolKind(), help: "database connection pool")
}
