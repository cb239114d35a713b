// One harness for every row: calibrated iterations, one warm-up run, the best of `runs`
// measured runs, nanoseconds per operation. The same code times mmstats and its peers.
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Nanoseconds on the monotonic clock.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Everything a benchmark computes ends up here, so the optimizer cannot drop the work.
nonisolated(unsafe) var checksum: UInt64 = 0

@inline(never)
func sink(_ value: UInt64) {
    checksum = checksum &* 31 &+ value
}

/// Zero, but computed at run time so the optimizer cannot see it: the plain-store baseline
/// indexes its buffer with `i & opaqueMask`, which keeps every store a real store to memory.
let opaqueMask: Int = time(nil) < 0 ? 1 : 0

/// A value used from one thread at a time only, handed to a `@Sendable` body. Rows that
/// capture one never run with more than one thread (see `Bench.measure`).
struct SingleThreaded<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// `iterations` operations; returns a value to sink.
typealias Body = @Sendable (_ iterations: Int) -> UInt64

/// What a row updates: the ratio column compares a row with mmstats' reference row of its kind.
enum Kind: String {
    case baseline, counter, gauge, histogram, timer
}

/// One line of the table.
struct Row {
    let name: String
    let kind: Kind
    /// mmstats' row that the other rows of this kind and thread count are compared with.
    let reference: Bool
    let threads: Int
    /// Best run: wall-clock nanoseconds divided by the operations each thread did; nil when
    /// the row was not run with this many threads.
    let nanoseconds: Double?
    let note: String
}

/// Runs each of `bodies` with `iterations` on a thread of its own, all at once (one body runs on
/// the calling thread); returns the wall-clock nanoseconds per operation per thread, from the
/// moment all threads are ready.
func runOnce(_ bodies: [Body], iterations: Int) -> Double {
    let threads = bodies.count
    if threads == 1 {
        let start = monotonicNanoseconds()
        let result = bodies[0](iterations)
        let elapsed = monotonicNanoseconds() - start
        sink(result)
        return Double(elapsed) / Double(iterations)
    }
    final class Gate: Sendable {
        let ready = Atomic<Int>(0)
        let go = Atomic<Bool>(false)
        let results = Mutex<[UInt64]>([])
    }
    final class Job: Sendable {
        let gate: Gate
        let run: @Sendable () -> Void
        init(_ gate: Gate, _ run: @escaping @Sendable () -> Void) {
            self.gate = gate
            self.run = run
        }
    }
    let gate = Gate()
    var ids: [pthread_t] = []
    for body in bodies {
        let job = Job(gate) {
            gate.ready.add(1, ordering: .sequentiallyConsistent)
            while !gate.go.load(ordering: .acquiring) {}
            let result = body(iterations)
            gate.results.withLock { $0.append(result) }
        }
        var id = pthread_t()
        let status = pthread_create(
            &id, nil,
            { raw in
                if let raw { Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().run() }
                return nil
            }, Unmanaged.passRetained(job).toOpaque())
        precondition(status == 0, "pthread_create failed: \(status)")
        ids.append(id)
    }
    while gate.ready.load(ordering: .sequentiallyConsistent) < threads {}
    let start = monotonicNanoseconds()
    gate.go.store(true, ordering: .releasing)
    for id in ids { pthread_join(id, nil) }
    let elapsed = monotonicNanoseconds() - start
    for result in gate.results.withLock({ $0 }) { sink(result) }
    return Double(elapsed) / Double(iterations)
}

/// The harness's settings and the rows measured so far.
final class Bench {
    /// Measured runs per row (after one warm-up run); the table shows the fastest.
    let runs: Int
    /// Wall-clock time one measured run aims at; iterations are calibrated to it.
    let targetNanoseconds: Double
    private(set) var rows: [Row] = []

    init(quick: Bool) {
        runs = quick ? 3 : 7
        targetNanoseconds = quick ? 20_000_000 : 100_000_000
    }

    /// Iterations for one run of about `targetNanoseconds`: doubled from 1,000 until a run
    /// takes a tenth of the target, then scaled.
    func calibrate(_ bodies: [Body]) -> Int {
        var iterations = 1_000
        while true {
            let perOperation = runOnce(bodies, iterations: iterations)
            let elapsed = perOperation * Double(iterations)
            if elapsed >= targetNanoseconds / 10 || iterations >= 1 << 40 {
                return max(1_000, Int(targetNanoseconds / perOperation))
            }
            iterations *= 2
        }
    }

    /// Measures `body` on 1 thread, then on 2 threads at once (the same metric); with
    /// `threadSafe: false` the 2-thread row is recorded as not run (with `why`), since two
    /// threads on a handle that is not thread-safe is a data race.
    func measure(
        _ name: String, _ kind: Kind, reference: Bool = false, threadSafe: Bool = true, why: String = "",
        _ body: @escaping Body
    ) {
        run(name, kind, reference: reference, [body])
        if threadSafe {
            run(name, kind, reference: reference, [body, body])
        } else {
            rows.append(Row(name: name, kind: kind, reference: reference, threads: 2, nanoseconds: nil, note: why))
        }
    }

    /// Measures `bodies` on one thread each, all at once (one row; each body updates a metric of
    /// its own, as mmstats' one-writer-per-thread handles are used).
    func run(_ name: String, _ kind: Kind, reference: Bool = false, _ bodies: [Body]) {
        let iterations = calibrate(bodies)
        _ = runOnce(bodies, iterations: max(1, iterations / 10))  // warm-up
        var best = Double.infinity
        for _ in 0..<runs { best = min(best, runOnce(bodies, iterations: iterations)) }
        let threads = bodies.count
        rows.append(Row(name: name, kind: kind, reference: reference, threads: threads, nanoseconds: best, note: ""))
        report("\(name), \(threads) thread\(threads == 1 ? "" : "s"): \(fixed(best, 2)) ns/op")
    }

    /// The reference row's nanoseconds for `row`'s kind and thread count.
    func reference(for row: Row) -> Double? {
        rows.first { $0.reference && $0.kind == row.kind && $0.threads == row.threads && $0.nanoseconds != nil }?
            .nanoseconds
    }
}

/// A line on standard error (progress, while the table is built).
func report(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// `value` with `places` decimals.
func fixed(_ value: Double, _ places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    guard places > 0 else { return String(whole) }
    let fraction = Int(abs(scaled) - abs(Double(whole)) * scale)
    let digits = String(fraction)
    return
        "\(scaled < 0 && whole == 0 ? "-" : "")\(whole).\(String(repeating: "0", count: places - digits.count))\(digits)"
}

/// Stops the program with a message.
func fail(_ message: String) -> Never {
    report("peer-benchmarks: \(message)")
    exit(1)
}
