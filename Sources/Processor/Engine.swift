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
    /// Every metric and delta name the entries refer to; plans and indexes use their positions.
    let names: [String]
    /// The destinations of every entry.
    let destinationNames: Set<String>
    /// Every glob the entries use, with the destinations it matches (sorted).
    let globPatterns: [String: [String]]
    /// Per entry: its compiled plan, and what it reads (for `EngineIndex.entryFiles`).
    let plans: [EntryPlan]
    let reads: [EngineIndex.EntryReads]
    /// Per entry: what `finish` needs (not the whole entry: copying one costs a dozen retains).
    let finishing: [Finishing]

    var lastPass: UInt64?
    var lastRun: [UInt64?]
    /// Per entry: the previous contributions of each (instance, destination) it takes deltas of.
    var memory: [[MemoryKey: [Contributor: Number]]]
    /// Per entry: the previous per-file values of each source it takes deltas of (`EntryPlan.sourceDeltas`).
    var sourceMemory: [[SourceMemory]]
    /// Per entry: its latest results (held while its interval has not elapsed). They are
    /// also its destinations' values that later entries read (`destinationEntry`); empty
    /// until the entry has run.
    var held: [EntryResults]
    /// The entry computing each destination.
    let destinationEntry: [String: Int]
    var index = EngineIndex()
    /// The current pass's samples, and values of every resolved name (by resolution id).
    var currentSamples: [EngineSample] = []
    var sourceValues = SourceValues()
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
        // The compiler checks calls against the built-in functions (`ExpressionFunction.standard`):
        // an evaluator of another type under one of their names would be checked as one and run
        // as the other, so it is refused, naming its plugin.
        for evaluator in evaluators {
            guard let builtin = BuiltinEvaluators.all.first(where: { $0.name == evaluator.name }),
                ObjectIdentifier(type(of: builtin)) != ObjectIdentifier(type(of: evaluator))
            else { continue }
            let plugin = PluginRegistry.shared.plugins.first { plugin in
                plugin.evaluators.contains {
                    $0.name == evaluator.name && ObjectIdentifier(type(of: $0)) == ObjectIdentifier(type(of: evaluator))
                }
            }
            throw EngineError(
                description: (plugin.map { "plugin \($0.name): " } ?? "")
                    + "evaluator '\(evaluator.name)' has the name of a built-in function; plugins cannot replace "
                    + "built-in functions (docs/PLUGINS.md), so give it another name")
        }
        self.entries = entries
        self.clock = clock
        var table: [String: any Evaluator] = [:]
        for evaluator in BuiltinEvaluators.all + evaluators { table[evaluator.name] = evaluator }
        self.evaluators = table
        destinationNames = seen
        var destinationEntry: [String: Int] = [:]
        for (i, entry) in entries.enumerated() {
            for name in entry.destinations { destinationEntry[name] = i }
        }
        self.destinationEntry = destinationEntry
        var names: [String] = []
        var nameID: [String: Int] = [:]
        var globs: [String] = []
        var globSet: Set<String> = []
        for entry in entries {
            for reference in entry.expression.references {
                switch reference.kind {
                case .metric, .delta:
                    if nameID[reference.name] == nil {
                        nameID[reference.name] = names.count
                        names.append(reference.name)
                    }
                case .glob: if globSet.insert(reference.name).inserted { globs.append(reference.name) }
                case .elapsed: break
                }
            }
        }
        self.names = names
        var globPatterns: [String: [String]] = [:]
        var globMatchesDestination: [String: Bool] = [:]
        if !globs.isEmpty {
            let destinations = seen.map { ($0, Array($0.unicodeScalars)) }
            for glob in globs {
                let pattern = Array(glob.unicodeScalars)
                globPatterns[glob] = destinations.filter { EngineIndex.matches($0.1, pattern) }.map(\.0).sorted()
                globMatchesDestination[glob] = !(globPatterns[glob] ?? []).isEmpty
            }
        }
        self.globPatterns = globPatterns
        plans = entries.map {
            Self.plan(
                $0, deltaNames: Self.deltaNames(in: $0.expression.root, evaluators: table), nameID: nameID,
                destinations: destinationEntry, evaluators: table)
        }
        reads = entries.map { entry in
            var reads = EngineIndex.EntryReads(strict: false, names: [], globs: [])
            var readNames: [String] = []
            reads.strict = Self.readsOnlySamples(
                entry.expression.root, destinations: seen, globMatchesDestination: globMatchesDestination,
                reads: &readNames, globs: &reads.globs)
            reads.names = readNames.compactMap { nameID[$0] }
            return reads
        }
        finishing = entries.map {
            Finishing(
                scope: $0.scope, type: $0.type, minimum: $0.minimum, maximum: $0.maximum, defaultValue: $0.defaultValue)
        }
        lastRun = Array(repeating: nil, count: entries.count)
        memory = Array(repeating: [:], count: entries.count)
        sourceMemory = plans.map { Array(repeating: SourceMemory(), count: $0.sourceDeltas.count) }
        held = Array(repeating: EntryResults(), count: entries.count)
        memoryResolution = Array(repeating: -1, count: entries.count)
    }

    /// Whether `node` has no value at an instance where none of the names it reads has a
    /// sample (every answer there is nil), collecting those names and globs. A destination, a
    /// constant, `_NAME`, `count` and functions other than the built-in ones may have a value
    /// anywhere.
    static func readsOnlySamples(
        _ node: ExpressionNode, destinations: Set<String>, globMatchesDestination: [String: Bool],
        reads: inout [String], globs: inout [String]
    ) -> Bool {
        func walk(_ node: ExpressionNode) -> Bool {
            switch node {
            case .number, .constant, .elapsed: return false
            case .metric(let name), .delta(let name):
                reads.append(name)
                return !destinations.contains(name)
            case .negate(let x): return walk(x)
            case .binary(_, let a, let b):
                // No value if either operand has none.
                let left = walk(a)
                let right = walk(b)
                return left || right
            case .call(let function, let arguments):
                // No value if any value argument has none (the call is not made).
                var strict = false
                for argument in arguments {
                    switch argument {
                    case .value(let x): if walk(x) { strict = true }
                    case .metric(let name): reads.append(name)
                    case .glob(let glob): globs.append(glob)
                    }
                }
                switch (function, arguments.first) {
                case ("rate", .metric(let name)?), ("delta", .metric(let name)?):
                    if !destinations.contains(name) { strict = true }
                case ("percentile", .metric?):
                    strict = true  // reads samples only
                case ("sum", .glob(let glob)?), ("min", .glob(let glob)?), ("max", .glob(let glob)?),
                    ("avg", .glob(let glob)?):
                    if !(globMatchesDestination[glob] ?? false) { strict = true }
                default: break
                }
                return strict
            }
        }
        return walk(node)
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

    /// Runs one pass over `inputs` at `inputs.time` (default: the clock's now): every due entry
    /// in order; entries whose interval has not elapsed keep their previous results.
    ///
    /// ```swift
    /// let pass = engine.run(EngineInputs(samples: samples, generation: 3))
    /// ```
    public mutating func run(_ inputs: EngineInputs) -> EnginePass {
        let now = inputs.time ?? clock.now()
        let elapsed = lastPass.flatMap { now >= $0 ? now - $0 : nil }
        lastPass = now
        if index.generation != inputs.generation || index.sampleCount != inputs.samples.count || resolutions == 0 {
            let previous = index
            index = EngineIndex(
                samples: inputs.samples, generation: inputs.generation, names: names, globPatterns: globPatterns,
                reads: reads)
            resolutions += 1
            forgetVanishedInstances(previous: previous)
        }
        currentSamples = inputs.samples
        sourceValues = SourceValues(index, samples: inputs.samples)
        var results: [EntryResults] = []
        results.reserveCapacity(entries.count)
        for i in entries.indices where entries[i].scope != .cluster {
            if let interval = entries[i].interval, let last = lastRun[i], now >= last,
                Double(now - last) < interval * 1e9
            {
                results.append(held[i])
                continue
            }
            let entryElapsed = lastRun[i].flatMap { now >= $0 ? now - $0 : nil }
            let produced = runEntry(i, samples: inputs.samples, elapsed: entryElapsed)
            lastRun[i] = now
            held[i] = produced
            results.append(produced)
        }
        currentSamples = []
        sourceValues = SourceValues()
        return EnginePass(elapsed: elapsed, entries: results)
    }

    /// Drops the delta memory of files and processes that are gone (bounded memory under
    /// churn), and fits the per-file memory of sources to the new index.
    mutating func forgetVanishedInstances(previous: EngineIndex) {
        let index = index
        for i in memory.indices where !memory[i].isEmpty {
            memory[i] = memory[i].filter { key, _ in
                switch key.instance {
                case .host: true
                case .process(let pid, let start):
                    index.processPosition[EngineIndex.ProcessKey(pid: pid, startTime: start)] != nil
                case .thread(let file): index.filePosition[file] != nil
                }
            }
        }
        // Old file positions → new ones (−1: gone).
        var moved: [Int] = []
        moved.reserveCapacity(previous.files.count)
        for (p, file) in previous.files.enumerated() {
            if p < index.files.count, index.files[p] == file {
                moved.append(p)
            } else {
                moved.append(index.filePosition[file] ?? -1)
            }
        }
        for i in sourceMemory.indices where !sourceMemory[i].isEmpty {
            let grain = plans[i].grain
            for k in sourceMemory[i].indices {
                let id = plans[i].sourceDeltas[k]
                let now = id >= 0 ? index.resolutionOfName[id] : nil
                sourceMemory[i][k].refit(to: now, previous: previous, moved: moved, index: index, grain: grain)
            }
        }
    }

    /// Evaluates entry `i` at every instance of its scope. An entry that has no value where it
    /// reads no sample (`EngineIndex.entryFiles`) is evaluated only at the instances holding
    /// one of its samples: elsewhere its result is no value without evaluating.
    mutating func runEntry(_ i: Int, samples: [EngineSample], elapsed: UInt64?) -> EntryResults {
        let entry = finishing[i]
        let relevant = i < index.entryFiles.count ? index.entryFiles[i] : nil
        if relevant != nil, memoryResolution[i] != resolutions {
            forgetIrrelevantInstances(i)
            memoryResolution[i] = resolutions
        }
        var results = EntryResults()
        results.destinations = entries[i].destinations
        results.index = (index.generation, index.sampleCount)
        switch entry.scope {
        case .host: results.instances = .host
        case .process: results.instances = .processes(index.processes)
        case .thread: results.instances = .files(index.files)
        case .cluster: return results
        }
        results.fill = Self.finish(nil, entry)
        let site = EvaluationSite(entry: i, place: .host, elapsed: elapsed, hasRun: lastRun[i] != nil)
        let sum = entries[i].operation == .sum
        if let relevant {
            switch entry.scope {
            case .host:
                guard !relevant.isEmpty else { break }
                results.values.append((0, Self.finish(evaluate(site, at: .host, files: sum ? relevant : nil), entry)))
            case .process:
                // The relevant files by process, once (not filtered again for each process).
                var filesOfProcess: [Int: [Int]] = [:]
                if sum { for f in relevant { filesOfProcess[index.processOfFile[f], default: []].append(f) } }
                for p in index.entryProcesses[i] {
                    let files = sum ? filesOfProcess[p] ?? [] : nil
                    results.values.append((p, Self.finish(evaluate(site, at: .process(p), files: files), entry)))
                }
            default:
                for f in relevant {
                    results.values.append((f, Self.finish(evaluate(site, at: .file(f), files: nil), entry)))
                }
            }
        } else {
            switch entry.scope {
            case .host:
                let files = sum ? Array(index.files.indices) : nil
                results.values.append((0, Self.finish(evaluate(site, at: .host, files: files), entry)))
            case .process:
                for p in index.processes.indices {
                    let files = sum ? index.filesOfProcess[p] : nil
                    results.values.append((p, Self.finish(evaluate(site, at: .process(p), files: files), entry)))
                }
            default:
                for f in index.files.indices {
                    results.values.append((f, Self.finish(evaluate(site, at: .file(f), files: nil), entry)))
                }
            }
        }
        return results
    }

    /// The raw result of an entry at a place: evaluated there, or with `files` (the `sum`
    /// operation) at each of those files, the results added (files without a value skipped).
    mutating func evaluate(_ site: EvaluationSite, at place: EnginePlace, files: [Int]?) -> Number? {
        guard let files else { return evaluateAndRemember(site, at: place) }
        var raw: Number?
        for f in files {
            guard let v = evaluateAndRemember(site, at: .file(f)) else { continue }
            raw = raw.map { Number.add($0, v) } ?? v
        }
        return raw
    }

    /// Drops entry `i`'s delta memory at the instances where it is no longer evaluated (what
    /// evaluating there would do: no sample, so nothing to remember). Once per resolution,
    /// when the entry runs.
    mutating func forgetIrrelevantInstances(_ i: Int) {
        guard let files = index.entryFiles[i],
            !memory[i].isEmpty || sourceMemory[i].contains(where: { !$0.orphans.isEmpty })
        else { return }
        let processes = index.entryProcesses[i]
        let index = index
        func isRelevant(_ instance: EngineInstance) -> Bool {
            switch instance {
            case .host: !files.isEmpty
            case .process(let pid, let start):
                index.processPosition[EngineIndex.ProcessKey(pid: pid, startTime: start)].map {
                    EngineIndex.contains(processes, $0)
                } ?? false
            case .thread(let file): index.filePosition[file].map { EngineIndex.contains(files, $0) } ?? false
            }
        }
        if !memory[i].isEmpty { memory[i] = memory[i].filter { key, _ in isRelevant(key.instance) } }
        let grain = plans[i].grain
        for k in sourceMemory[i].indices where !sourceMemory[i][k].orphans.isEmpty {
            sourceMemory[i][k].orphans = sourceMemory[i][k].orphans.filter { file, _ in
                switch grain {
                case .host: isRelevant(.host)
                case .process: isRelevant(.process(pid: file.pid, startTime: file.startTime))
                case .file: isRelevant(.thread(file))
                }
            }
        }
    }

    /// Evaluates an entry at one place, then remembers its delta inputs there.
    mutating func evaluateAndRemember(_ site: EvaluationSite, at place: EnginePlace) -> Number? {
        var site = site
        site.place = place
        let value = evaluate(plans[site.entry].root, site)
        remember(site)
        return value
    }

    /// Applies the bounds and the default, then the destination type: a missing result becomes
    /// the default (or stays missing); a result out of bounds becomes the default, or else the
    /// bound it crossed (the manifest's rule, `Manifest.Entry.bounded(_:)`).
    static func finish(_ raw: Number?, _ entry: Finishing) -> Number? {
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

/// An entry's scope, bounds, default and type.
struct Finishing {
    var scope: EngineScope
    var type: EngineValueType
    var minimum: Double?
    var maximum: Double?
    var defaultValue: Double?
}
