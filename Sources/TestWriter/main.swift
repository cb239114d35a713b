// A writer process for tests: updates records that keep known invariants as fast as it can,
// so that readers in other processes can check that no read is ever torn.
//
//   mmstats-test-writer MODE ROOT SECONDS
//
// MODE: word | double-buffer | page-flip | grow. Prints the file's path on one line, then runs
// for SECONDS (or until killed) and prints `done N` with the number of updates.
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Four components a, b, c, d written as one record.
struct QuadKind: MetricKind {
    var name: String { "quad" }
    var signature: Signature { Signature([.uint64, .uint64, .uint64, .uint64]) }
    var fieldNames: [String] { ["a", "b", "c", "d"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

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
guard arguments.count == 4, let seconds = Double(arguments[3]) else {
    say("usage: mmstats-test-writer word|double-buffer|page-flip|grow ROOT SECONDS")
    exit(2)
}
let mode = arguments[1]
var options = WriterOptions(application: "torture", model: mode)
options.root = arguments[2]
if mode == "page-flip" { options.layout = .pageFlip }

do throws(MmStatsError) {
    let stats = try StatsWriter(options)
    // Readers start as soon as the path is printed: register everything before that.
    let deadline = monotonicSeconds() + seconds
    var n: UInt64 = 0
    switch mode {
    case "word":
        // Each word holds n in both halves: a torn word would have different halves.
        let record = try stats.record("torture.word", kind: QuadKind(), layout: .word)
        say(stats.path)
        while true {
            n &+= 1
            let pattern = (n & 0xFFFF_FFFF) << 32 | (n & 0xFFFF_FFFF)
            record.update { w in
                w[0] = pattern
                w[1] = pattern
                w[2] = pattern
                w[3] = pattern
            }
            if n & 0xFFFF == 0, monotonicSeconds() > deadline { break }
        }
    case "double-buffer":
        // b = 2a, c = a + b, d = a ^ 0x5555…: a reader seeing a mix of two updates breaks them.
        let record = try stats.record(
            "torture.quad", kind: QuadKind(), initial: [.uint(0), .uint(0), .uint(0), .uint(0x5555_5555_5555_5555)])
        say(stats.path)
        while true {
            n &+= 1
            record.update { w in
                w[0] = n
                w[1] = 2 &* n
                w[2] = 3 &* n
                w[3] = n ^ 0x5555_5555_5555_5555
            }
            if n & 0xFFFF == 0, monotonicSeconds() > deadline { break }
        }
    case "page-flip":
        // Three separate metrics, published together: y = 2x and z = 3x in every published page.
        let x = try stats.counter("torture.x")
        let y = try stats.counter("torture.y")
        let z = try stats.counter("torture.z")
        stats.publish()
        say(stats.path)
        while true {
            n &+= 1
            x.increment()
            y.increment(by: 2)
            z.increment(by: 3)
            stats.publish()
            if n & 0xFFF == 0, monotonicSeconds() > deadline { break }
        }
    case "grow":
        say(stats.path)
        // Adds a metric every iteration (the file grows and new segments are chained);
        // metric grow.N holds N from the moment it is published.
        while monotonicSeconds() < deadline, n < 20_000 {
            _ = try stats.record(
                "grow.\(n)", kind: GaugeKind.integer, dimensions: ["n": String(n)], initial: [.int(Int64(n))])
            n += 1
        }
        while monotonicSeconds() < deadline { usleep(10_000) }
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
