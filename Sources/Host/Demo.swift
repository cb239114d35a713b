import Metrics
import MmStatsCore
import Windows

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats demo [--seconds N]`: a writer recording live metrics, read back every second.
enum Demo {
    static let usage = """
        usage: mmstats demo [--seconds N]
          Writes a demo stats file under the stats root (\(StatsDirectory.defaultRoot())),
          updates it continuously, and prints what a reader sees once a second.
        """

    static func run(_ arguments: [String]) -> Int32 {
        var seconds = 5
        var index = 0
        while index < arguments.count {
            switch arguments[index] {
            case "--seconds":
                guard index + 1 < arguments.count, let value = Int(arguments[index + 1]), value >= 0 else {
                    printError("mmstats demo: --seconds takes a whole number\n\(usage)")
                    return 2
                }
                seconds = value
                index += 1
            case "-h", "--help":
                print(usage)
                return 0
            default:
                let what = arguments[index].hasPrefix("-") ? "option" : "argument"
                printError("mmstats demo: unknown \(what) '\(arguments[index].terminalSafe)'\n\(usage)")
                return 2
            }
            index += 1
        }
        do throws(MmStatsError) {
            let stats = try StatsWriter(WriterOptions(application: "mmstats-demo", model: "DemoStats"))
            // One metric of every built-in kind (docs/FORMAT.md §11).
            let requests = try stats.counter("http.requests", dimensions: ["code": "200"], help: "requests answered")
            let errors = try stats.counter("http.requests", dimensions: ["code": "500"])
            let depth = try stats.gauge("queue.depth", unit: "jobs")
            let load = try stats.doubleGauge("cpu.load")
            let ready = try stats.flag("server.ready")
            let state = try stats.text("server.state", capacity: 16)
            try stats.processFacts(version: "1.0.0", build: "demo")
            let jobs = try stats.record("job.time", kind: AverageKind(), unit: "s")
            let recent = try stats.movingAverage("job.recent", window: 100, unit: "s")
            let sizes = try stats.histogram("response.bytes", unit: "B")
            let latency = try stats.timer("request.latency")
            let arrivals = try stats.meter("http.arrivals")
            let recentWait = try stats.window("queue.wait", unit: "s", length: .seconds(10), granularity: .seconds(1))
            let recentSizes = try stats.windowHistogram(
                "response.bytes.recent", unit: "B", length: .seconds(30), granularity: .seconds(10))
            print("mmstats demo: writing \(stats.path.terminalSafe) for \(seconds) s\n")
            let reader = try StatsReader(path: stats.path)
            var tick = 0
            state.set("starting")
            for second in 0..<max(seconds, 1) {
                ready.set(true)
                state.set(second % 2 == 0 ? "serving" : "busy")
                for _ in 0..<1000 {
                    tick += 1
                    requests.increment()
                    if tick % 97 == 0 { errors.increment() }
                    depth.set(Int64(tick % 37))
                    load.set(Double(tick % 97) / 97)
                    let jobSeconds = 0.001 * Double(tick % 7)
                    jobs.update { w in
                        w[0] += 1
                        w[double: 1] += jobSeconds
                    }
                    recent.add(jobSeconds)
                    let size = 200 + (tick * 7919) % 4000
                    sizes.record(size)
                    recentSizes.record(UInt64(size))
                    arrivals.mark()
                    recentWait.record(jobSeconds)
                    latency.record(nanoseconds: UInt64(50_000 + (tick * 104_729) % 2_000_000))
                    if seconds > 0 { usleep(1000) }
                }
                print("-- after \(second + 1) s")
                print(Slurp.text(try reader.snapshot()))
            }
            stats.close()
            return 0
        } catch {
            printError(error.description)
            return 1
        }
    }
}
