import Metrics
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// order-service [--seconds N]: simulates an order service for N seconds (default 10),
// recording its metrics in <root>/order-service/OrderStats/<pid>-<tid>.mmstats.

let usage = "usage: order-service [--seconds N]   (N > 0, default 10; files go under $MMSTATS_PATH)"

/// Writes a line to stderr, after what is already on stdout.
func printError(_ message: String) {
    fflush(nil)  // every output stream: `stdout` is a global Swift 6 will not touch
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    printError("order-service: \(message)\n\(usage)")
    exit(2)
}

var seconds = 10.0
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--seconds":
        guard let text = arguments.popFirst(), let value = Double(text), value > 0, value <= 86_400 else {
            fail("--seconds needs a number of seconds above 0, at most 86400")
        }
        seconds = value
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        fail("unknown argument '\(argument)'")
    }
}

do {
    // The application's own kind, known to readers in this process (the summary below).
    try PluginRegistry.shared.register(PoolKind.plugin)
    try PluginRegistry.shared.register(MetricsPlugin.plugin)

    let stats = try OrderStats.register(application: "order-service", prefix: "orders")
    print("stats file: \(stats.stats.path)")
    fflush(nil)  // at once, for scripts that wait for the path

    var simulation = Simulation(stats: stats, seed: 42)
    let stepMs = 10
    let clock = ContinuousClock()
    let start = clock.now
    var nowMs = 0
    while Double(nowMs) < seconds * 1000 {
        nowMs += stepMs
        simulation.step(to: nowMs, stepMs: stepMs)
        // Keep simulated time in step with real time, so readers' rates are per real second.
        let ahead = start + .milliseconds(nowMs) - clock.now
        if ahead > .zero { usleep(UInt32(ahead / .microseconds(1))) }
    }

    // Read our own file back: this process knows the pool kind, so `utilisation` shows.
    let snapshot = try StatsReader(path: stats.stats.path).snapshot()
    for name in ["orders.received", "orders.completed", "orders.failed", "orders.latency", "orders.db_pool"] {
        guard let sample = snapshot.metric(name) else { continue }
        print("\(name): " + sample.exposedFields().map { "\($0.name)=\($0.value)" }.joined(separator: " "))
    }
} catch {
    printError("order-service: \(error)")
    exit(1)
}
