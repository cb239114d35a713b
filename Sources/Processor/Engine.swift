import MmStatsCore

/// Runs passes over a manifest's entries: evaluates each entry, in order, at its scope, on a
/// monotonic clock, and returns every destination's value. See `docs/PROCESSOR.md`.
///
/// ```swift
/// let clock = StatsClock.manual(at: 0)
/// var engine = try Engine(entries: [entry], clock: clock)
/// _ = engine.run(EngineInputs(samples: samples, generation: 1))  // first pass: deltas have no value
/// clock.advance(by: 10_000_000_000)
/// let pass = engine.run(EngineInputs(samples: later, generation: 1))
/// pass["web.rps"]
/// ```
public struct Engine {
    /// The most entries an engine accepts.
    ///
    /// ```swift
    /// Engine.maximumEntries  // 100_000
    /// ```
    public static let maximumEntries = 100_000

    /// The entries, in evaluation order.
    public let entries: [EngineEntry]
    /// Plugin evaluators by name, answering calls the engine does not implement.
    public let evaluators: [String: any Evaluator]
    let clock: StatsClock
    /// Per entry: the names whose deltas it reads (`#x`, `rate(x)`, `delta(x)`).
    let deltaNames: [[String]]

    var lastPass: UInt64?
    var lastRun: [UInt64?]
    /// Per entry: the previous contributions of each (instance, name) it takes deltas of.
    var memory: [[MemoryKey: [Contributor: Number]]]
    /// Per entry: its latest results (held while its interval has not elapsed).
    var held: [[EngineResult]]
    /// Destination values visible to later entries, by name.
    var destinationValues: [String: [EngineInstance: Number]] = [:]
    var index = EngineIndex()
    /// Per entry: the resolution at which its delta memory was last fitted to the index.
    var memoryResolution: [Int]

    /// How many times names were resolved (once per change of the input generation).
    ///
    /// ```swift
    /// engine.resolutions  // 1 after several passes of one generation
    /// ```
    public private(set) var resolutions = 0

    /// Creates an engine, validating the entries.
    ///
    /// ```swift
    /// var engine = try Engine(entries: entries, clock: .system)
    /// ```
    public init(
        entries: [EngineEntry], clock: StatsClock = .system,
        evaluators: [any Evaluator] = PluginRegistry.shared.plugins.flatMap(\.evaluators)
    ) throws(EngineError) {
        guard entries.count <= Self.maximumEntries else {
            throw EngineError(description: "\(entries.count) entries; the limit is \(Self.maximumEntries)")
        }
        var seen: Set<String> = []
        for (i, entry) in entries.enumerated() {
            let label = "entry \(i + 1)" + (entry.destinations.first.map { " ('\($0)')" } ?? "")
            guard !entry.destinations.isEmpty else { throw EngineError(description: "\(label): no destination") }
            for name in entry.destinations {
                guard !name.isEmpty else {
                    throw EngineError(description: "\(label): field 'destinations': empty name")
                }
                guard seen.insert(name).inserted else {
                    throw EngineError(description: "\(label): field 'destinations': '\(name)' is already a destination")
                }
            }
            for (field, bound) in [
                ("minimum", entry.minimum), ("maximum", entry.maximum), ("default", entry.defaultValue),
            ] {
                if let bound, !bound.isFinite {
                    throw EngineError(description: "\(label): field '\(field)': \(bound) is not a finite number")
                }
            }
            if let lo = entry.minimum, let hi = entry.maximum, lo > hi {
                throw EngineError(description: "\(label): field 'minimum': \(lo) is greater than maximum \(hi)")
            }
            if let interval = entry.interval, !(interval.isFinite && interval >= 0 && interval <= 1e9) {
                throw EngineError(description: "\(label): field 'interval': \(interval) is not 0 to 1e9 seconds")
            }
        }
        self.entries = entries
        self.clock = clock
        var table: [String: any Evaluator] = [:]
        for evaluator in BuiltinEvaluators.all + evaluators { table[evaluator.name] = evaluator }
        self.evaluators = table
        deltaNames = entries.map { Self.deltaNames(in: $0.expression.root, evaluators: table) }
        lastRun = Array(repeating: nil, count: entries.count)
        memory = Array(repeating: [:], count: entries.count)
        held = Array(repeating: [], count: entries.count)
        memoryResolution = Array(repeating: -1, count: entries.count)
    }

    /// The names an expression takes deltas of (tree height is bounded at compile time).
    static func deltaNames(in node: ExpressionNode, evaluators: [String: any Evaluator]) -> [String] {
        var names: [String] = []
        func walk(_ node: ExpressionNode) {
            switch node {
            case .delta(let name): names.append(name)
            case .negate(let x): walk(x)
            case .binary(_, let a, let b):
                walk(a)
                walk(b)
            case .call(let function, let arguments):
                let parameters = evaluators[function]?.parameters ?? []
                for (k, argument) in arguments.enumerated() {
                    switch argument {
                    case .value(let x): walk(x)
                    case .metric(let name) where k < parameters.count && parameters[k] == .delta: names.append(name)
                    default: break
                    }
                }
            default: break
            }
        }
        walk(node)
        var unique: Set<String> = []
        return names.filter { unique.insert($0).inserted }
    }

    /// Runs one pass over `inputs`: every due entry in order; entries whose interval has not
    /// elapsed keep their previous results.
    ///
    /// ```swift
    /// let pass = engine.run(EngineInputs(samples: samples, generation: 3))
    /// ```
    public mutating func run(_ inputs: EngineInputs) -> EnginePass {
        let now = clock.now()
        let elapsed = lastPass.flatMap { now >= $0 ? now - $0 : nil }
        lastPass = now
        if index.generation != inputs.generation || index.sampleCount != inputs.samples.count || resolutions == 0 {
            index = EngineIndex(samples: inputs.samples, generation: inputs.generation, entries: entries)
            resolutions += 1
            forgetVanishedInstances()
        }
        var results: [EngineResult] = []
        for i in entries.indices where entries[i].scope != .cluster {
            if let interval = entries[i].interval, let last = lastRun[i], now >= last,
                Double(now - last) < interval * 1e9
            {
                results += held[i]
                continue
            }
            let entryElapsed = lastRun[i].flatMap { now >= $0 ? now - $0 : nil }
            let produced = runEntry(i, samples: inputs.samples, elapsed: entryElapsed)
            lastRun[i] = now
            held[i] = produced
            for name in entries[i].destinations { destinationValues[name] = [:] }
            for result in produced {
                if let value = result.value {
                    destinationValues[result.destination, default: [:]][result.instance] = value
                }
            }
            results += produced
        }
        return EnginePass(elapsed: elapsed, results: results)
    }

    /// Drops the delta memory of files and processes that are gone (bounded memory under churn).
    mutating func forgetVanishedInstances() {
        let processes = Set(index.processes)
        for i in memory.indices {
            memory[i] = memory[i].filter { key, _ in
                switch key.instance {
                case .host: true
                case .process(let pid, let start):
                    processes.contains(EngineIndex.ProcessKey(pid: pid, startTime: start))
                case .thread(let file): index.fileSet.contains(file)
                }
            }
        }
    }

    /// Evaluates entry `i` at every instance of its scope. An entry that has no value where it
    /// reads no sample (`EngineIndex.entryFiles`) is evaluated only at the instances holding
    /// one of its samples: elsewhere its result is no value without evaluating.
    mutating func runEntry(_ i: Int, samples: [EngineSample], elapsed: UInt64?) -> [EngineResult] {
        let entry = entries[i]
        let relevant = i < index.entryFiles.count ? index.entryFiles[i] : nil
        if relevant != nil, memoryResolution[i] != resolutions {
            forgetIrrelevantInstances(i)
            memoryResolution[i] = resolutions
        }
        let instances: [EngineInstance]
        switch entry.scope {
        case .host: instances = [.host]
        case .process: instances = index.processes.map { .process(pid: $0.pid, startTime: $0.startTime) }
        case .thread: instances = index.files.map { .thread($0) }
        case .cluster: return []
        }
        var results: [EngineResult] = []
        var next = 0  // the next relevant file or process (both lists ascend like `instances`)
        for (n, instance) in instances.enumerated() {
            var raw: Number?
            if let relevant {
                let positions = entry.scope == .process ? index.entryProcesses[i] : relevant
                var isRelevant: Bool
                if entry.scope == .host {
                    isRelevant = !relevant.isEmpty
                } else {
                    while next < positions.count, positions[next] < n { next += 1 }
                    isRelevant = next < positions.count && positions[next] == n
                }
                if isRelevant, entry.operation == .sum, entry.scope != .thread {
                    // The relevant files of the instance, in the order of `index.files(in:)`.
                    for file in relevant where entry.scope == .host || index.processOfFile[file] == n {
                        let at = EngineInstance.thread(index.files[file])
                        guard let v = evaluate(i, at: at, samples: samples, elapsed: elapsed) else { continue }
                        raw = raw.map { Number.add($0, v) } ?? v
                    }
                } else if isRelevant {
                    raw = evaluate(i, at: instance, samples: samples, elapsed: elapsed)
                }
            } else if entry.operation == .sum, entry.scope != .thread {
                for file in index.files(in: instance) {
                    guard let v = evaluate(i, at: .thread(file), samples: samples, elapsed: elapsed) else { continue }
                    raw = raw.map { Number.add($0, v) } ?? v
                }
            } else {
                raw = evaluate(i, at: instance, samples: samples, elapsed: elapsed)
            }
            let value = Self.finish(raw, entry)
            for name in entry.destinations {
                results.append(EngineResult(destination: name, instance: instance, value: value))
            }
        }
        return results
    }

    /// Drops entry `i`'s delta memory at the instances where it is no longer evaluated (what
    /// evaluating there would do: no sample, so nothing to remember). Once per resolution,
    /// when the entry runs.
    mutating func forgetIrrelevantInstances(_ i: Int) {
        guard let files = index.entryFiles[i], !memory[i].isEmpty else { return }
        let processes = index.entryProcesses[i]
        let index = index
        memory[i] = memory[i].filter { key, _ in
            switch key.instance {
            case .host: !files.isEmpty
            case .process(let pid, let start):
                index.processPosition[EngineIndex.ProcessKey(pid: pid, startTime: start)].map {
                    EngineIndex.contains(processes, $0)
                } ?? false
            case .thread(let file): index.filePosition[file].map { EngineIndex.contains(files, $0) } ?? false
            }
        }
    }

    /// Evaluates entry `i` at one instance, then remembers its delta inputs.
    mutating func evaluate(_ i: Int, at instance: EngineInstance, samples: [EngineSample], elapsed: UInt64?)
        -> Number?
    {
        // The resolver lives only inside `read`: it shares `memory[i]`, which must not be
        // copied when it changes below.
        let (value, current) = read(i, at: instance, samples: samples, elapsed: elapsed)
        for (name, now) in zip(deltaNames[i], current) {
            let key = MemoryKey(instance: instance, name: name)
            if now.isEmpty {
                memory[i][key] = nil
            } else {
                var remembered: [Contributor: Number] = [:]
                for c in now { remembered[c.key] = c.value }
                memory[i][key] = remembered
            }
        }
        return value
    }

    /// Evaluates entry `i` at one instance and collects the current values of its delta names.
    func read(_ i: Int, at instance: EngineInstance, samples: [EngineSample], elapsed: UInt64?)
        -> (Number?, [[(key: Contributor, value: Number, kind: EngineSampleKind)]])
    {
        let resolver = EngineResolver(
            engine: self, entry: i, instance: instance, samples: samples, elapsedTime: elapsed)
        return (entries[i].expression.evaluate(with: resolver), deltaNames[i].map { resolver.contributions(of: $0) })
    }

    /// Applies the bounds and the default, then the destination type: a missing result becomes
    /// the default (or stays missing); a result out of bounds becomes the default, or else the
    /// bound it crossed (the manifest's rule, `Manifest.Entry.bounded(_:)`).
    static func finish(_ raw: Number?, _ entry: EngineEntry) -> Number? {
        let fallback = entry.defaultValue.map { Number(exactly: $0) }
        var value: Number?
        if let raw {
            let v = raw.doubleValue
            if let lo = entry.minimum, v < lo {
                value = fallback ?? Number(exactly: lo)
            } else if let hi = entry.maximum, v > hi {
                value = fallback ?? Number(exactly: hi)
            } else {
                value = raw
            }
        } else {
            value = fallback
        }
        return value.flatMap { entry.type.store($0) }
    }
}

extension Number {
    /// A double as an integer when it is one exactly, else as a double.
    init(exactly d: Double) {
        if let i = Int64(exactly: d) { self = .int(i) } else { self = .double(d) }
    }
}

/// What a remembered value came from: a file, or a destination's instance.
enum Contributor: Hashable {
    case file(EngineFile)
    case destination(EngineInstance)
}

/// One delta memory slot: a name at an instance.
struct MemoryKey: Hashable {
    var instance: EngineInstance
    var name: String
}
