// The processor: passes of 10,000 entries over 1,000 files (synthetic samples and real stats
// files), and the first load and resolution of Traffic Server's stats.config.xml.
import Metrics
import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The shape of the synthetic workload (docs/BENCHMARKS.md, "Processor").
enum ProcessorWorkload {
    /// 100 processes of 10 writer threads: 1,000 files.
    static let processes = 100
    static let threadsPerProcess = 10
    static var files: Int { processes * threadsPerProcess }
    /// 10,000 entries.
    static let entries = 10_000

    /// The metrics of one file of process `p`: a service's counters, gauge and latency
    /// histogram (4 per service, so each name is in that process's 10 files), and one gauge
    /// every file has (`runtime.heap`).
    static func metricNames(process p: Int) -> [String] {
        ["svc\(p).requests", "svc\(p).errors", "svc\(p).bytes", "svc\(p).latency", "runtime.heap"]
    }

    /// Histogram buckets of a latency (20 nonzero buckets, bounds 1 µs to about 0.5 s).
    static func buckets(seed: Int) -> [EngineBucket] {
        var result: [EngineBucket] = []
        for b in 0..<20 {
            let count: Int = (seed &* 7 &+ b &* 13) % 50 + 1
            result.append(EngineBucket(upperBound: Double(1 << b) * 1e-6, count: Int64(count)))
        }
        return result
    }

    /// Synthetic samples: 5 per file, 5,000 in all.
    static func samples() -> [EngineSample] {
        var samples: [EngineSample] = []
        for p in 0..<processes {
            for t in 0..<threadsPerProcess {
                let file = EngineFile(
                    path: "/dev/shm/mmstats/svc\(p)/Stats/\(10_000 + p)-\(20_000 + p * threadsPerProcess + t).mmstats",
                    pid: Int64(10_000 + p), startTime: UInt64(1_000 + p), tid: Int64(20_000 + p * threadsPerProcess + t)
                )
                let seed = p * threadsPerProcess + t
                samples.append(
                    EngineSample(
                        file: file, metric: "svc\(p).requests", kind: .counter,
                        fields: ["value": .int(Int64(seed * 100))]))
                samples.append(
                    EngineSample(
                        file: file, metric: "svc\(p).errors", kind: .counter, fields: ["value": .int(Int64(seed))]))
                samples.append(
                    EngineSample(
                        file: file, metric: "svc\(p).bytes", kind: .counter, fields: ["value": .int(Int64(seed * 4096))]
                    ))
                let histogram = buckets(seed: seed)
                let count = histogram.reduce(0) { $0 + $1.count }
                samples.append(
                    EngineSample(
                        file: file, metric: "svc\(p).latency", kind: .gauge,
                        fields: [
                            "count": .int(count), "sum": .double(Double(count) * 0.003), "min": .double(1e-6),
                            "max": .double(0.5), "mean": .double(0.003), "p50": .double(0.002), "p99": .double(0.25),
                        ],
                        buckets: histogram))
                samples.append(
                    EngineSample(
                        file: file, metric: "runtime.heap", kind: .gauge, fields: ["value": .int(Int64(seed * 1024))]))
            }
        }
        return samples
    }

    /// 10,000 entries: destination `e<i>`, expression by `i % 50`, scope mostly host (3 in
    /// 50 process, 1 in 100 thread), a few globs and percentiles. Operation: re-calculate, but
    /// `sum` (evaluated per file) for 1 in 10 of those that read only metrics; `allSum`: `sum`
    /// for every entry (the manifest's default operation).
    static func entries(count: Int = entries, allSum: Bool = false) -> [EngineEntry] {
        let compiler = ExpressionCompiler()
        var entries: [EngineEntry] = []
        for i in 0..<count {
            let s = (i * 37) % processes  // the service this entry reads
            let kind = i % 50
            var type = EngineValueType.float
            let source: String
            switch kind {
            case 0...9:
                source = "svc\(s).requests"  // plain references (20 %)
                type = .counter
            case 10...19:
                source = "#svc\(s).requests"  // deltas (20 %)
                type = .integer
            case 20...27: source = "rate(svc\(s).bytes)"  // rates (16 %)
            case 28...33: source = "svc\(s).errors / svc\(s).requests"  // ratios (12 %)
            case 34...37: source = "#svc\(s).errors / #svc\(s).requests * 100"  // delta ratios (8 %)
            case 38...41: source = "svc\(s).bytes / 1024 / 1024"  // constants (8 %)
            case 42...43: source = "svc\(s).latency.sum / svc\(s).latency.count"  // exposed fields (4 %)
            case 44...45: source = "e\(max(0, i - 1)) * 2 + 1"  // an earlier destination (4 %)
            case 46: source = "runtime.heap / 1048576"  // a name every file has (2 %)
            case 47: source = "svc\(s).latency.p99 * 1000"  // (2 %)
            case 48:  // a few globs and percentiles (2 %)
                source = i % 200 == 48 ? "sum(svc1*.requests)" : "percentile(svc\(s).latency, 0.99)"
            default: source = "svc\(s).requests - svc\(s).errors"  // (2 %)
            }
            let expression = must("compiling '\(source)'") { () throws(MmStatsError) in
                do {
                    return try compiler.compile(source)
                } catch {
                    throw MmStatsError(.invalidArgument, path: nil, "\(error)")
                }
            }
            let scope: EngineScope =
                i % 100 == 7 ? .thread : (i % 50 == 3 || i % 50 == 13 || i % 50 == 29 ? .process : .host)
            entries.append(
                EngineEntry(
                    destinations: ["e\(i)"], type: type, expression: expression, minimum: kind == 28 ? 0 : nil,
                    scope: scope, operation: allSum || (i % 10 == 5 && kind != 45) ? .sum : .reCalculate))
        }
        return entries
    }
}

/// A counter of generations for the passes that must resolve names again.
nonisolated(unsafe) var processorGeneration: UInt64 = 1

/// Runs `passes` passes per run (one warm-up run, `plan.runs` measured runs); ns per pass.
func timePasses(_ plan: Plan, passes: Int, _ pass: () -> UInt64) -> Timing {
    _ = timeOnce(iterations: 1) { _ in pass() }
    var timing = Timing()
    for _ in 0..<plan.runs {
        timing.samples.append(
            timeOnce(iterations: passes) { n in
                var total: UInt64 = 0
                for _ in 0..<n { total &+= pass() }
                return total
            })
    }
    return timing
}

/// A value from a pass, so that the optimizer keeps the pass.
func passDigest(_ pass: EnginePass) -> UInt64 {
    UInt64(pass.resultCount) &+ UInt64(pass.valueCount)
}

/// A value from every result of a pass (each `EngineResult` built, as a consumer reads them).
func passResultsDigest(_ pass: EnginePass) -> UInt64 {
    var digest = UInt64(pass.resultCount)
    pass.forEachResult { result in if result.value != nil { digest &+= 1 } }
    return digest
}

func makeEngine(_ entries: [EngineEntry], clock: StatsClock) -> Engine {
    do {
        return try Engine(entries: entries, clock: clock)
    } catch {
        fail("creating the engine: \(error)")
    }
}

/// The processor's rows; `atsPath` is Traffic Server's stats.config.xml (skipped if absent).
func processorRows(_ plan: Plan, atsPath: String) -> [Row] {
    // First, while the manifest code is still cold in this process.
    trafficServerRows(plan, path: atsPath) + syntheticPassRows(plan)
}

/// Rows: steady-state pass, and pass after a generation change, over synthetic samples.
func syntheticPassRows(_ plan: Plan) -> [Row] {
    print("processor: results digest \(String(processorResultDigest(), radix: 16)) (docs/BENCHMARKS.md, \"Processor\")")
    let samples = ProcessorWorkload.samples()
    let entries = ProcessorWorkload.entries()
    let clock = StatsClock.manual(at: 1_000_000_000)
    var engine = makeEngine(entries, clock: clock)
    let generation = processorGeneration
    let inputs = EngineInputs(samples: samples, generation: generation)
    let first = engine.run(inputs)  // resolves, remembers the deltas' first values
    clock.advance(by: 1_000_000_000)
    let second = engine.run(inputs)
    let withValue = second.results.filter { $0.value != nil }.count
    print(
        "processor: \(entries.count) entries over \(ProcessorWorkload.files) files (\(samples.count) samples): "
            + "\(second.results.count) results per pass, \(withValue) with a value (first pass: "
            + "\(first.results.filter { $0.value != nil }.count))")
    let passes = plan.quick ? 2 : 10
    let steady = timePasses(plan, passes: passes) {
        clock.advance(by: 1_000_000_000)
        return passDigest(engine.run(inputs))
    }
    let visited = timePasses(plan, passes: passes) {
        clock.advance(by: 1_000_000_000)
        return passResultsDigest(engine.run(inputs))
    }
    let resolutionsBefore = engine.resolutions
    let changed = timePasses(plan, passes: passes) {
        clock.advance(by: 1_000_000_000)
        processorGeneration &+= 1
        return passDigest(engine.run(EngineInputs(samples: samples, generation: processorGeneration)))
    }
    let resolved = engine.resolutions - resolutionsBefore
    var allSum = makeEngine(ProcessorWorkload.entries(allSum: true), clock: clock)
    _ = allSum.run(inputs)
    let allSumSteady = timePasses(plan, passes: plan.quick ? 1 : 3) {
        clock.advance(by: 1_000_000_000)
        return passDigest(allSum.run(inputs))
    }
    print("processor: \(resolved) resolutions in \(passes * plan.runs + 1) generation-change passes")
    return [
        Row(
            operation: "`Engine.run`, 10,000 entries over 1,000 files (5,000 samples), same generation (ns/pass)",
            mmstats: steady, baseline: nil, baselineName: "none", target: 10_000_000),
        Row(
            operation:
                "`Engine.run`, the same pass, then every one of its 169,300 `EngineResult`s visited (`forEachResult`) (ns/pass)",
            mmstats: visited, baseline: nil, baselineName: "none", target: nil),
        Row(
            operation: "`Engine.run`, the same pass after a generation change (names resolved again) (ns/pass)",
            mmstats: changed, baseline: nil, baselineName: "none", target: 10_000_000),
        Row(
            operation:
                "`Engine.run`, the same entries all with operation `sum` (the manifest's default), same generation (ns/pass)",
            mmstats: allSumSteady, baseline: nil, baselineName: "none", target: nil),
    ]
}

// MARK: Many samples of one name per file

/// Rows: a name with many samples in every file (one per dimension value, or per thread
/// sharing a name), read by thread, process and host entries, deltas, destinations and
/// histograms: the paths that were quadratic in the files (docs/BENCHMARKS.md, "Processor").
func manySamplesRows(_ plan: Plan) -> [Row] {
    func workload(files: Int, perFile: Int) -> (samples: [EngineSample], entries: [EngineEntry]) {
        var samples: [EngineSample] = []
        samples.reserveCapacity(files * perFile * 2)
        for f in 0..<files {
            let file = EngineFile(
                path: "/dev/shm/mmstats/dims/Stats/\(10_000 + f / 10)-\(20_000 + f).mmstats",
                pid: Int64(10_000 + f / 10),
                startTime: 1, tid: Int64(20_000 + f))
            for d in 0..<perFile {
                samples.append(
                    EngineSample(
                        file: file, metric: "dims.requests", kind: .counter,
                        fields: ["value": .int(Int64(f * perFile + d))]))
                samples.append(
                    EngineSample(
                        file: file, metric: "dims.latency", fields: [:],
                        buckets: [EngineBucket(upperBound: Double(d % 8 + 1), count: 1)]))
            }
        }
        let compiler = ExpressionCompiler()
        var entries: [EngineEntry] = []
        for (name, text, scope) in [
            ("t", "#dims.requests", EngineScope.thread), ("p", "#dims.requests", .process),
            ("h", "#dims.requests", .host), ("u", "t * 2", .thread), ("q", "t", .process),
            ("tl", "percentile(dims.latency, 0.99)", .thread), ("pl", "percentile(dims.latency, 0.99)", .process),
        ] {
            guard let expression = try? compiler.compile(text) else { fail("compiling '\(text)'") }
            entries.append(
                EngineEntry(
                    destinations: [name], type: .float, expression: expression, scope: scope, operation: .reCalculate))
        }
        return (samples, entries)
    }
    var rows: [Row] = []
    for (files, perFile) in [(1_000, 2), (2_000, 2), (1, 2_000)] {
        let (samples, entries) = workload(files: files, perFile: perFile)
        let clock = StatsClock.manual(at: 1_000_000_000)
        var engine = makeEngine(entries, clock: clock)
        let inputs = EngineInputs(samples: samples, generation: 1)
        _ = engine.run(inputs)
        let timing = timePasses(plan, passes: plan.quick ? 1 : 3) {
            clock.advance(by: 1_000_000_000)
            return passDigest(engine.run(inputs))
        }
        rows.append(
            Row(
                operation:
                    "`Engine.run`, 7 thread, process and host entries over \(files) file(s) × \(perFile) samples of each of 2 names (ns/pass)",
                mmstats: timing, baseline: nil, baselineName: "none", target: nil))
    }
    return rows
}

// MARK: End to end: real stats files

/// What a pass of the host reads: every metric of every file as samples (the logic of
/// `Eval.collect` in Sources/Host/Eval.swift, except for the buckets, see `histogramBuckets`).
func collectSamples(_ paths: [String]) -> EngineInputs {
    var samples: [EngineSample] = []
    var hasher = Hasher()
    for path in paths {
        let snapshot = must("reading \(path)") { () throws(MmStatsError) in try StatsReader(path: path).snapshot() }
        let writer = snapshot.writer
        hasher.combine(path)
        hasher.combine(snapshot.generation)
        hasher.combine(writer.pid)
        hasher.combine(writer.startTime)
        let file = EngineFile(path: path, pid: Int64(writer.pid), startTime: writer.startTime, tid: writer.tid)
        for sample in snapshot.metrics where sample.error == nil {
            var fields: [String: Number] = [:]
            for (name, value) in sample.exposedFields(in: .shared) {
                if let number = engineNumber(value) { fields[name] = number }
            }
            let kind = sample.descriptor.kind
            samples.append(
                EngineSample(
                    file: file, metric: sample.descriptor.name, kind: kind == "counter" ? .counter : .gauge,
                    fields: fields, buckets: kind == "histogram" || kind == "timer" ? histogramBuckets(sample) : nil))
        }
    }
    hasher.combine(samples.count)
    return EngineInputs(samples: samples, generation: UInt64(bitPattern: Int64(hasher.finalize())))
}

func engineNumber(_ value: Value) -> Number? {
    switch value {
    case .int(let v): .int(v)
    case .uint(let v): v <= UInt64(Int64.max) ? .int(Int64(v)) : .double(Double(v))
    case .double(let v): v.isFinite ? .double(v) : nil
    case .bool(let v): .int(v ? 1 : 0)
    case .string: nil
    }
}

/// A histogram's nonzero buckets, as `Eval.buckets` computes them, but in one pass over the
/// fields: `Eval.buckets` looks each of the 2,368 `b<i>` fields up with `field(_:)`, a linear
/// search, which is quadratic per histogram.
func histogramBuckets(_ sample: MetricSample) -> [EngineBucket] {
    let resolution = sample.field("resolution")?.doubleValue ?? 1
    var result: [EngineBucket] = []
    for (name, value) in sample.fields {
        guard name.utf8.first == UInt8(ascii: "b"), let index = Int(name.dropFirst()),
            index >= 0, index < HistogramScheme.bucketCount, case .uint(let count) = value, count > 0
        else { continue }
        let largest = HistogramScheme.lowerBound(index) + (HistogramScheme.width(index) - 1)
        result.append(EngineBucket(upperBound: Double(largest) * resolution, count: Int64(clamping: count)))
    }
    return result
}

/// Rows (group `processor-files`): reading 1,000 real stats files into samples, then one
/// pass over them.
func endToEndRows(_ plan: Plan, root: String) -> [Row] {
    do throws(MmStatsError) {
        try PluginRegistry.shared.register(MetricsPlugin.plugin)
    } catch {
        print("processor: registering the metrics plugin: \(error) (continuing)")
    }
    var writers: [StatsWriter] = []
    var paths: [String] = []
    for p in 0..<ProcessorWorkload.processes {
        for t in 0..<ProcessorWorkload.threadsPerProcess {
            var options = WriterOptions(application: "proc", model: "Stats")
            options.root = root
            options.fileNameTemplate = "w\(p)-\(t)-{PID}.mmstats"
            options.maximumSize = 1 << 20
            let writer = must("creating writer \(p)-\(t)") { () throws(MmStatsError) in try StatsWriter(options) }
            let seed = p * ProcessorWorkload.threadsPerProcess + t
            must("registering the metrics of writer \(p)-\(t)") { () throws(MmStatsError) in
                try writer.counter("svc\(p).requests").increment(by: UInt64(seed * 100))
                try writer.counter("svc\(p).errors").increment(by: UInt64(seed))
                try writer.counter("svc\(p).bytes").increment(by: UInt64(seed * 4096))
                let latency = try writer.histogram("svc\(p).latency", resolution: 1e-9)
                for b in 0..<20 { latency.record(UInt64(1_000 << b)) }
                try writer.gauge("runtime.heap").set(Int64(seed * 1024))
            }
            writers.append(writer)
            paths.append(writer.path)
        }
    }
    let entries = ProcessorWorkload.entries()
    let clock = StatsClock.manual(at: 1_000_000_000)
    var engine = makeEngine(entries, clock: clock)
    var inputs = collectSamples(paths)
    _ = engine.run(inputs)
    print("processor: end to end: \(paths.count) files read into \(inputs.samples.count) samples")
    let runs = plan.quick ? 2 : 10
    let read = timePasses(plan, passes: runs) {
        inputs = collectSamples(paths)
        return UInt64(inputs.samples.count)
    }
    let readers = paths.map { path in must("opening \(path)") { () throws(MmStatsError) in try StatsReader(path: path) }
    }
    let snapshots = timePasses(plan, passes: runs) {
        var count = 0
        for reader in readers {
            count += must("reading") { () throws(MmStatsError) in try reader.snapshot() }.metrics.count
        }
        return UInt64(count)
    }
    let evaluate = timePasses(plan, passes: runs) {
        clock.advance(by: 1_000_000_000)
        return passDigest(engine.run(inputs))
    }
    withExtendedLifetime(writers) {}
    return [
        Row(
            operation:
                "read 1,000 real stats files into 5,000 samples as `mmstats eval` does (a new `StatsReader` per file) (ns/pass)",
            mmstats: read, baseline: nil, baselineName: "none", target: nil),
        Row(
            operation: "`snapshot()` of the same 1,000 files with readers kept open (ns/pass)",
            mmstats: snapshots, baseline: nil, baselineName: "none", target: nil),
        Row(
            operation: "`Engine.run` over those samples, 10,000 entries, same generation (ns/pass)",
            mmstats: evaluate, baseline: nil, baselineName: "none", target: 10_000_000),
    ]
}

// MARK: Traffic Server's stats.config.xml

/// Rows: `Manifest.load`, `engineEntries`, `Engine(entries:)` and the first pass of Traffic
/// Server's 142-entry file: the first time in this process, and the median of repeats.
func trafficServerRows(_ plan: Plan, path: String) -> [Row] {
    guard access(path, R_OK) == 0 else {
        print("processor: skipping the Traffic Server rows: cannot read \(path) (set --ats PATH or MMSTATS_ATS_CONFIG)")
        return []
    }
    // The samples come from a first load outside the timing: they are the pass's inputs.
    // One process with 8 threads (files), each holding every metric the file reads.
    let names: [String]
    do {
        let manifest = try Manifest.load(path: path)
        let destinations = Set(manifest.engineEntries().flatMap(\.destinations))
        var referenced: Set<String> = []
        for entry in manifest.engineEntries() {
            for reference in entry.expression.references {
                switch reference.kind {
                case .metric, .delta: if !destinations.contains(reference.name) { referenced.insert(reference.name) }
                default: break
                }
            }
        }
        names = referenced.sorted()
        print(
            "processor: \(path): \(manifest.entries.count) entries, \(manifest.engineEntries().count) engine entries, "
                + "\(names.count) metric names referenced")
    } catch {
        print("processor: skipping the Traffic Server rows: \(path): \(error.errors.map(\.description))")
        return []
    }
    var samples: [EngineSample] = []
    for t in 0..<8 {
        let file = EngineFile(
            path: "/dev/shm/mmstats/ats/Stats/4242-\(t).mmstats", pid: 4242, startTime: 1, tid: Int64(t))
        for (n, name) in names.enumerated() {
            samples.append(
                EngineSample(file: file, metric: name, kind: .counter, fields: ["value": .int(Int64(n * 1000 + t))]))
        }
    }
    let inputs = EngineInputs(samples: samples, generation: 1)
    func loadAndResolve() -> UInt64 {
        do {
            let manifest = try Manifest.load(path: path)
            var engine = try Engine(entries: manifest.engineEntries(), clock: .manual(at: 0))
            return passDigest(engine.run(inputs))
        } catch {
            fail("\(path): \(error)")
        }
    }
    let first = timeOnce(iterations: 1) { _ in loadAndResolve() }
    var repeats = Timing()
    for _ in 0..<(plan.quick ? 5 : 20) { repeats.samples.append(timeOnce(iterations: 1) { _ in loadAndResolve() }) }
    print(
        "processor: Traffic Server load + resolution: first \(nanoseconds(first)) ns, then min / median / max "
            + "\(nanoseconds(repeats.best)) / \(nanoseconds(repeats.median)) / \(nanoseconds(repeats.worst)) ns "
            + "over \(repeats.samples.count) repeats")
    return [
        Row(
            operation: "Traffic Server stats.config.xml: load, `engineEntries`, `Engine(entries:)`, first pass, "
                + "first time in the process (ns)",
            mmstats: Timing(samples: [first]), baseline: nil, baselineName: "none", target: 50_000_000),
        Row(
            operation: "the same, repeated (ns; the table shows the fastest, the spread the median)",
            mmstats: repeats, baseline: nil, baselineName: "none", target: 50_000_000),
    ]
}

// MARK: A digest of the engine's results, to compare the engine before and after a change

/// FNV-1a over `text`'s UTF-8 bytes, continuing from `hash` (deterministic across runs).
func fnv1a(_ text: String, _ hash: UInt64) -> UInt64 {
    var hash = hash
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}

/// Runs a scripted sequence of passes (values changing, a counter reset, files vanishing and
/// appearing, generation changes) over 2,000 entries of both operation mixes, and returns a
/// digest of every result: the same digest before and after a change to the engine means
/// the same results.
func processorResultDigest() -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    let all = ProcessorWorkload.samples()
    for allSum in [false, true] {
        let clock = StatsClock.manual(at: 1_000_000_000)
        var engine = makeEngine(ProcessorWorkload.entries(count: 2_000, allSum: allSum), clock: clock)
        for pass in 0..<8 {
            var samples: [EngineSample] = []
            for (n, sample) in all.enumerated() {
                // Pass 3: the files of process 5 vanish; pass 5: files of process 7 lose a metric.
                if pass == 3, sample.file.pid == 10_005 { continue }
                if pass >= 5, sample.file.pid == 10_007, sample.metric.hasSuffix(".errors") { continue }
                var sample = sample
                if case .int(let v)? = sample.fields["value"] {
                    // Counters grow by n per pass; pass 4 resets every other one.
                    let grown = pass == 4 && n % 2 == 0 ? Int64(n % 7) : v + Int64(pass * (n % 13))
                    sample.fields["value"] = .int(grown)
                }
                samples.append(sample)
            }
            if pass == 6 { samples.removeLast(5) }  // one file (the last) vanishes
            let generation: UInt64 = pass == 2 ? 1 : UInt64(min(pass, 3) + (pass >= 5 ? 10 : 0) + (pass == 6 ? 20 : 0))
            let result = engine.run(EngineInputs(samples: samples, generation: generation))
            for item in result.results {
                let value: String =
                    switch item.value {
                    case .int(let v)?: "i\(v)"
                    case .double(let d)?: "d\(d.bitPattern)"
                    case nil: "-"
                    }
                hash = fnv1a("\(item.destination)|\(item.instance)|\(value);", hash)
            }
            clock.advance(by: pass == 5 ? 0 : 1_000_000_000)
        }
    }
    return hash
}
