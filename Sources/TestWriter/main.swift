// A writer process for tests: updates records that keep known invariants as fast as it can,
// so that readers in other processes can check that no read is ever torn.
//
//   mmstats-test-writer MODE ROOT SECONDS
//
// MODE: word | double-buffer | page-flip | grow | grow-paced | jobs. Prints the file's path on one line, then
// runs for SECONDS (or until killed) and prints `done N` with the number of updates. `jobs` is a loaded
// application: it adds 1 to the counter `jobs` in bursts of 1,000 (a short pause between bursts), sets the
// gauge `busy`, and leaves its file in place when it exits (application `load`, model `Jobs`), so that a
// processor can compare its totals with the `done N` lines.
//
//   mmstats-test-writer scan ROOT LIMIT
//
// is no writer: it scans ROOT with RLIMIT_NOFILE lowered to LIMIT (see below).
import MmStatsCore
import MmStatsTestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

let arguments = CommandLine.arguments
// `mmstats-test-writer scan ROOT LIMIT`: not a writer. Lowers this process's RLIMIT_NOFILE to
// LIMIT, scans ROOT twice with one `StatsScanner`, and prints `listed N read M errors E kept K`
// after each scan (tests check that many files need no descriptor each).
if arguments.count == 4, arguments[1] == "scan", let limit = Int(arguments[3]) {
    var descriptors = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &descriptors)
    descriptors.rlim_cur = rlim_t(limit)
    guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &descriptors) == 0 else {
        say("error: setrlimit: \(String(cString: strerror(errno)))")
        exit(1)
    }
    let scanner = StatsScanner(paths: [arguments[2]])
    for _ in 0..<2 {
        var errors: [MmStatsError] = []
        let files = scanner.files { errors.append($0) }
        var read = 0
        scanner.forEachSnapshot(of: files, onError: { errors.append($0) }) { _ in read += 1 }
        say("listed \(files.count) read \(read) errors \(errors.count) kept \(scanner.cachedReaders)")
        if let first = errors.first { say("first error: \(first)") }
    }
    exit(0)
}
guard arguments.count == 4, let seconds = Double(arguments[3]) else {
    say("usage: mmstats-test-writer word|double-buffer|page-flip|grow|grow-paced ROOT SECONDS")
    exit(2)
}
let mode = arguments[1]
var options = Torture.options(mode: mode, root: arguments[2])
if mode == "jobs" {
    options = WriterOptions(application: "load", model: "Jobs")
    options.root = arguments[2]
    options.removeOnClose = false
}

do {
    let stats = try StatsWriter(options)
    let deadline = monotonicSeconds() + seconds
    var n: UInt64 = 0
    switch mode {
    case "word", "double-buffer", "page-flip":
        let update = try Torture.writer(for: mode, on: stats)
        say(stats.path)  // readers start now: everything is registered and consistent
        while true {
            n &+= 1
            update(n)
            if n & 0xFFF == 0, monotonicSeconds() > deadline { break }
        }
    case "grow", "grow-paced":
        say(stats.path)
        // Adds a metric every iteration (the file grows and new segments are chained);
        // metric grow.N holds N from the moment it is published. grow-paced waits 100 us
        // between metrics, so that slow readers see the file at many sizes.
        while monotonicSeconds() < deadline, n < 20_000 {
            _ = try stats.record(
                "grow.\(n)", kind: GaugeKind.integer, dimensions: ["n": String(n)], initial: [.int(Int64(n))])
            n += 1
            if mode == "grow-paced" { usleep(100) }
        }
        while monotonicSeconds() < deadline { usleep(10_000) }
    case "jobs":
        let jobs = try stats.counter("jobs")
        let busy = try stats.gauge("busy")
        say(stats.path)
        while monotonicSeconds() < deadline {
            for _ in 0..<1_000 { jobs.increment() }
            n += 1_000
            busy.set(Int64(n % 7))
            usleep(200)
        }
    default:
        say("error: unknown mode \(mode)")
        exit(2)
    }
    say("done \(n)")
    stats.close()
} catch {
    say("error: \(error)")
    exit(1)
}
