// Writer APIs: thread-safe counters on 1 and 2 threads, and one handle kept in every place a
// user keeps one (docs/BENCHMARKS.md, "Writer APIs and handle placement").
import Metrics
import MmStatsCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// MARK: Places a handle is kept

/// A struct that holds a handle in a `var`, itself kept in a `var` property of a class.
struct RecordBox {
    var record: Record
}

final class StructInVar {
    var box: RecordBox
    init(_ record: Record) { box = RecordBox(record: record) }
}

final class CounterInVar {
    var counter: Counter
    init(_ counter: Counter) { self.counter = counter }
}

/// The declarative model of the benchmark.
final class BenchModel: StatsModel {
    let quad = Metric.record("quad", kind: QuadKind(), layout: .doubleBuffer)
    let requests = Metric.counter("requests")
    let hits = Metric.sharedCounter("hits")
}

@inline(never)
func updateThroughStruct(_ holder: StructInVar, times n: Int) -> UInt64 {
    for i in 0..<n {
        let v = UInt64(truncatingIfNeeded: i)
        holder.box.record.update { w in
            w[0] &+= 1
            w[1] &+= v
            w[2] = v
            w[3] = v ^ 0xFF
        }
    }
    return holder.box.record.currentWords[0]
}

@inline(never)
func updateThroughModel(_ model: BenchModel, times n: Int) -> UInt64 {
    for i in 0..<n {
        let v = UInt64(truncatingIfNeeded: i)
        model.quad.update { w in
            w[0] &+= 1
            w[1] &+= v
            w[2] = v
            w[3] = v ^ 0xFF
        }
    }
    return model.quad.currentWords[0]
}

@inline(never)
func incrementThroughVar(_ holder: CounterInVar, times n: Int) -> UInt64 {
    for _ in 0..<n { holder.counter.increment() }
    return holder.counter.value
}

@inline(never)
func incrementThroughModel(_ model: BenchModel, times n: Int) -> UInt64 {
    for _ in 0..<n { model.requests.increment() }
    return model.requests.value
}

// MARK: Thread-safe counters

@inline(never)
func incrementShared(_ counter: SharedCounter, times n: Int) -> UInt64 {
    for _ in 0..<n { counter.increment() }
    return UInt64(n)
}

/// Nanoseconds of CPU time the calling thread has used.
func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Runs `body` on `threads` new threads that start together; returns the slowest thread's
/// nanoseconds of CPU time per iteration (each thread does `iterations`) and the sum of their
/// results. CPU time, not wall time: on a shared machine a thread that waits for a core is not
/// slower per increment, while cache-line traffic between the threads costs CPU time.
func onThreadsTimed(_ threads: Int, iterations: Int, _ body: @escaping @Sendable (Int) -> UInt64) -> (Double, UInt64) {
    final class Shared: @unchecked Sendable {
        let go = Atomic<Int>(0)
        let ready = Atomic<Int>(0)
        var elapsed: [UInt64]
        var results: [UInt64]
        let body: @Sendable (Int) -> UInt64
        let iterations: Int
        init(_ threads: Int, _ iterations: Int, _ body: @escaping @Sendable (Int) -> UInt64) {
            elapsed = Array(repeating: 0, count: threads)
            results = Array(repeating: 0, count: threads)
            self.body = body
            self.iterations = iterations
        }
    }
    final class Slot {
        let shared: Shared
        let index: Int
        init(_ shared: Shared, _ index: Int) {
            self.shared = shared
            self.index = index
        }
    }
    let shared = Shared(threads, iterations, body)
    var handles: [pthread_t] = []
    for index in 0..<threads {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Slot(shared, index)).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { context in
                guard let context else { return nil }
                let slot = Unmanaged<Slot>.fromOpaque(context).takeRetainedValue()
                let shared = slot.shared
                _ = shared.body(1)  // the thread's first increment takes its shard
                shared.ready.wrappingAdd(1, ordering: .releasing)
                while shared.go.load(ordering: .acquiring) == 0 {}
                let start = threadCPUNanoseconds()
                let result = shared.body(shared.iterations)
                shared.elapsed[slot.index] = threadCPUNanoseconds() - start
                shared.results[slot.index] = result
                return nil
            }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        handles.append(thread)
    }
    while shared.ready.load(ordering: .acquiring) < threads { sched_yield() }
    shared.go.store(1, ordering: .releasing)
    for thread in handles { pthread_join(thread, nil) }
    let slowest = shared.elapsed.max() ?? 0
    return (Double(slowest) / Double(iterations), shared.results.reduce(0, &+))
}

/// `compare` for code that runs on `threads` threads at once (ns per operation per thread).
func compareThreads(
    _ plan: Plan, threads: Int, iterations: Int, mmstats: @escaping @Sendable (Int) -> UInt64,
    baseline: @escaping @Sendable (Int) -> UInt64
) -> (mmstats: Timing, baseline: Timing) {
    _ = onThreadsTimed(threads, iterations: max(1, iterations / 10), mmstats)
    _ = onThreadsTimed(threads, iterations: max(1, iterations / 10), baseline)
    var ours = Timing()
    var theirs = Timing()
    for _ in 0..<plan.runs {
        let (a, x) = onThreadsTimed(threads, iterations: iterations, mmstats)
        let (b, y) = onThreadsTimed(threads, iterations: iterations, baseline)
        sink(x &+ y)
        ours.samples.append(a)
        theirs.samples.append(b)
    }
    return (ours, theirs)
}

final class SendableAtomicWord: Sendable {
    let value = Atomic<UInt64>(0)
}

@inline(never)
func atomicAddShared(_ word: SendableAtomicWord, times n: Int) -> UInt64 {
    for _ in 0..<n { word.value.wrappingAdd(1, ordering: .relaxed) }
    return UInt64(n)
}

func apiRows(_ plan: Plan, root: String) -> [Row] {
    let writer = makeWriter(root: root, model: "api")
    defer { writer.close() }
    let (record, counter, shared) = must("registering the API benchmark metrics") { () throws(MmStatsError) in
        (
            try writer.record("api.quad", kind: QuadKind(), layout: .doubleBuffer), try writer.counter("api.counter"),
            try writer.sharedCounter("api.shared")
        )
    }
    var options = WriterOptions(application: "bench", model: "BenchModel")
    options.root = root
    let model = must("registering the benchmark model") { () throws(MmStatsError) in
        try BenchModel.register(application: "bench", prefix: "model", options: options)
    }
    defer { model.stats.close() }
    let plain = makePlainBuffer(words: 64)
    defer { plain.deallocate() }
    let quadBaseline = "the same 4-word change with plain stores to private memory"
    var rows: [Row] = []

    func row(
        _ name: String, _ baselineName: String, target: Double?, _ ours: @escaping (Int) -> UInt64,
        _ theirs: @escaping (Int) -> UInt64
    ) {
        let (a, b) = compare(plan, iterations: plan.nanoIterations, mmstats: ours, baseline: theirs)
        rows.append(Row(operation: name, mmstats: a, baseline: b, baselineName: baselineName, target: target))
    }

    // Thread-safe counter: 1 thread, then 2 threads at once (flat means the same ns/op).
    let word = SendableAtomicWord()
    row(
        "`SharedCounter.increment()`, 1 thread", "`Atomic<UInt64>.wrappingAdd(1, .relaxed)` on one word, 1 thread",
        target: 3, { incrementShared(shared, times: $0) }, { atomicAddShared(word, times: $0) })
    let (two, twoBaseline) = compareThreads(
        plan, threads: 2, iterations: plan.nanoIterations,
        mmstats: { incrementShared(shared, times: $0) }, baseline: { atomicAddShared(word, times: $0) })
    rows.append(
        Row(
            operation: "`SharedCounter.increment()`, 2 threads at once (ns per increment per thread)",
            mmstats: two, baseline: twoBaseline,
            baselineName: "`Atomic<UInt64>.wrappingAdd(1, .relaxed)` on one shared word, 2 threads at once",
            target: 3))

    // One handle, every place: Record.update (4 words, double buffer), then Counter.increment.
    let inLet = RecordInLet(record)
    let inVar = RecordInVar(record)
    let inStruct = StructInVar(record)
    row(
        "`Record.update` (4 × UInt64, double buffer), handle in a local (parameter)", quadBaseline, target: 5,
        { updateRecord(record, times: $0) }, { updatePlainQuad(plain, mask: opaqueMask, times: $0) })
    row(
        "`Record.update`, handle in a `let` property of a class", quadBaseline, target: 5,
        { updateThroughLet(inLet, times: $0) }, { updatePlainQuad(plain, mask: opaqueMask, times: $0) })
    row(
        "`Record.update`, handle in a `var` property of a class", quadBaseline, target: 5,
        { updateThroughVar(inVar, times: $0) }, { updatePlainQuad(plain, mask: opaqueMask, times: $0) })
    row(
        "`Record.update`, handle in a `var` property of a struct kept in a `var` property of a class", quadBaseline,
        target: 5, { updateThroughStruct(inStruct, times: $0) },
        { updatePlainQuad(plain, mask: opaqueMask, times: $0) })
    row(
        "`Record.update`, handle declared in a `StatsModel`", quadBaseline, target: 5,
        { updateThroughModel(model, times: $0) }, { updatePlainQuad(plain, mask: opaqueMask, times: $0) })
    let counterInVar = CounterInVar(counter)
    row(
        "`Counter.increment()`, handle in a `var` property of a class", "`p[i & m] &+= 1` on private memory",
        target: 0.5, { incrementThroughVar(counterInVar, times: $0) },
        { incrementPlain(plain, mask: opaqueMask, times: $0) })
    row(
        "`Counter.increment()`, handle declared in a `StatsModel`", "`p[i & m] &+= 1` on private memory",
        target: 0.5, { incrementThroughModel(model, times: $0) }, { incrementPlain(plain, mask: opaqueMask, times: $0) }
    )
    return rows
}
