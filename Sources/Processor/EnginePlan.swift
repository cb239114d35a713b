import MmStatsCore

/// Where an entry evaluates, as positions in the current `EngineIndex`: the host, a process
/// (position in `processes`) or a file (position in `files`).
enum EnginePlace: Equatable {
    case host
    case process(Int)
    case file(Int)
}

/// An entry's expression compiled for the engine once, when the engine is made: names become
/// small integers (`Engine.names`), a source's delta becomes its slot in the entry's delta
/// memory, and each call's arguments are matched with its evaluator's parameters. A
/// destination (a name some entry computes) keeps its name: its values live in
/// its entry's latest results (`Engine.held`).
indirect enum PlanNode {
    case number(Number)
    /// A metric or exposed field that no entry computes.
    case source(Int)
    /// A destination, with the entry computing it (its metric, before that entry has run).
    case destination(String, Int)
    /// `#x` of a source: the position of `x` in `EntryPlan.sourceDeltas`.
    case delta(Int)
    /// `#x` of a destination.
    case destinationDelta(String)
    case elapsed
    case negate(PlanNode)
    case binary(BinaryOperator, PlanNode, PlanNode)
    /// A pure function of the compiler's table, every argument a value.
    case pure(@Sendable ([Number]) -> Number?, [PlanNode])
    /// `rate(x)` and `delta(x)` of the built-in evaluators (`x` a `.delta` or `.destinationDelta`).
    case rate(PlanNode)
    case deltaCall(PlanNode)
    /// Any other evaluator, with its inputs.
    case call(any Evaluator, [PlanInput])
    /// A call that has no value (unknown function, wrong arguments).
    case none
}

/// One input of an evaluator call, as its parameter asks (see `EvaluatorParameter`).
enum PlanInput {
    case value(PlanNode)
    case metric(PlanNode)
    case delta(PlanNode)
    case glob(String)
    case histogram(String)
}

/// How an entry's delta memory is keyed: the instance it evaluates at.
enum MemoryGrain {
    case host
    case process
    case file
}

/// An entry compiled for the engine.
struct EntryPlan {
    var root: PlanNode
    /// The sources whose deltas it reads (name ids), in `Engine.deltaNames` order.
    var sourceDeltas: [Int]
    /// The destinations whose deltas it reads.
    var destinationDeltas: [String]
    var grain: MemoryGrain
}

/// An entry's remembered values of one source it takes deltas of: per file, the value at
/// the entry's last run at the instance holding the file. Aligned with the slots of
/// `resolution` (the current index's); files without a slot in it (they lost the metric,
/// or went away while their instance stayed) are kept by identity in `orphans`.
struct SourceMemory {
    var resolution: EngineIndex.Resolution?
    var values: [Number?] = []
    var orphans: [EngineFile: Number] = [:]
}

/// One pass's values of every resolved name: sums per file (slot), per process (slot) and
/// for the host, each in sample order, computed once per pass (samples do not change within
/// a pass; destinations are not sources, so no entry's result changes them). Flat arrays:
/// a resolution's slots start at its `slotBase` and `processBase`.
struct SourceValues {
    /// A sum in sample order; `failed` when an addition overflowed to a non-finite number.
    enum Sum {
        case empty
        case value(Number)
        case failed

        mutating func add(_ v: Number) {
            switch self {
            case .empty: self = .value(v)
            case .value(let total): self = Number.add(total, v).map { .value($0) } ?? .failed
            case .failed: break
            }
        }

        var number: Number? {
            if case .value(let n) = self { return n }
            return nil
        }
    }

    /// By resolution id.
    var host: [Sum] = []
    /// By `processBase` + process slot.
    var processes: [Sum] = []
    /// By `slotBase` + slot: `value(of:)` at a file.
    var files: [Sum] = []
    /// By `slotBase` + slot: the file's value as a delta sees it (an overflowing addition
    /// keeps the sum so far).
    var contributions: [Number?] = []
    /// By `slotBase` + slot: the kind of the file's first sample with a value.
    var kinds: [EngineSampleKind] = []
    /// By resolution id, only where a file holds two samples: slots in order of their first
    /// sample with a value.
    var orders: [Int: [Int]] = [:]
    /// By `slotBase` + slot, where a file holds two samples: the slot's position in its
    /// resolution's `orders` (to put a process's slots in that order without scanning them all).
    var ranks: [Int] = []

    init() {}

    init(_ index: EngineIndex, samples: [EngineSample]) {
        host = Array(repeating: .empty, count: index.resolutions.count)
        processes = Array(repeating: .empty, count: index.processSlotCount)
        files = Array(repeating: .empty, count: index.slotCount)
        contributions = Array(repeating: nil, count: index.slotCount)
        kinds = Array(repeating: .gauge, count: index.slotCount)
        for r in index.resolutions {
            var order: [Int] = []
            for (j, i) in r.indices.enumerated() where i < samples.count {
                guard let value = samples[i].field(r.field) else { continue }
                let slot = r.slotOfSample[j]
                let at = r.slotBase + slot
                host[r.id].add(value)
                processes[r.processBase + r.processSlotOfSample[j]].add(value)
                files[at].add(value)
                if let sum = contributions[at] {
                    contributions[at] = Number.add(sum, value) ?? sum
                } else {
                    contributions[at] = value
                    kinds[at] = samples[i].kind
                    if !r.oneSamplePerFile { order.append(slot) }
                }
            }
            if !r.oneSamplePerFile {
                if ranks.isEmpty { ranks = Array(repeating: 0, count: index.slotCount) }
                for (rank, slot) in order.enumerated() { ranks[r.slotBase + slot] = rank }
                orders[r.id] = order
            }
        }
    }

    /// The slots of `r` within an instance that have a value, in order of their first sample
    /// with one (the order sums are taken in). Linear in the instance's slots (n log n for a
    /// process), never in all of the name's: a pass over every file stays linear.
    func orderedSlots(_ r: EngineIndex.Resolution, at place: EnginePlace) -> [Int] {
        if r.oneSamplePerFile {
            return r.slots(at: place).filter { contributions[r.slotBase + $0] != nil }
        }
        switch place {
        case .host: return orders[r.id] ?? []
        case .file: return r.slots(at: place).filter { contributions[r.slotBase + $0] != nil }
        case .process:
            return r.slots(at: place).filter { contributions[r.slotBase + $0] != nil }
                .sorted { ranks[r.slotBase + $0] < ranks[r.slotBase + $1] }
        }
    }

    /// The name's value at a place (nil: no sample with a value there).
    func value(_ r: EngineIndex.Resolution, at place: EnginePlace) -> Number? {
        switch place {
        case .host: return host[r.id].number
        case .process(let p): return r.slot(ofProcess: p).flatMap { processes[r.processBase + $0].number }
        case .file(let f): return r.slot(ofFile: f).flatMap { files[r.slotBase + $0].number }
        }
    }
}

extension Engine {
    /// Compiles entry `entry` (see `PlanNode`).
    static func plan(
        _ entry: EngineEntry, deltaNames: [String], nameID: [String: Int], destinations: [String: Int],
        evaluators: [String: any Evaluator]
    ) -> EntryPlan {
        let sourceDeltas = deltaNames.filter { destinations[$0] == nil }
        let destinationDeltas = deltaNames.filter { destinations[$0] != nil }
        func id(_ name: String) -> Int { nameID[name] ?? -1 }
        func reference(_ name: String) -> PlanNode {
            destinations[name].map { .destination(name, $0) } ?? .source(id(name))
        }
        func delta(_ name: String) -> PlanNode {
            if destinations[name] != nil { return .destinationDelta(name) }
            return .delta(sourceDeltas.firstIndex(of: name) ?? -1)
        }
        let functions = entry.expression.functions
        func compile(_ node: ExpressionNode) -> PlanNode {
            switch node {
            case .number(let n): return .number(n)
            case .constant(_, let value): return .number(value)
            case .metric(let name): return reference(name)
            case .delta(let name): return delta(name)
            case .elapsed: return .elapsed
            case .negate(let x): return .negate(compile(x))
            case .binary(let op, let a, let b): return .binary(op, compile(a), compile(b))
            case .call(let name, let arguments):
                var values: [PlanNode] = []
                for argument in arguments {
                    if case .value(let x) = argument { values.append(compile(x)) }
                }
                if let implementation = functions[name]?.implementation, values.count == arguments.count {
                    return .pure(implementation, values)
                }
                // (Without an evaluator, or with other arguments, the call has no value, whatever
                // its value arguments are.)
                guard let evaluator = evaluators[name] else { return .none }
                let parameters = evaluator.parameters
                guard parameters.count == arguments.count else { return .none }
                var inputs: [PlanInput] = []
                for (parameter, argument) in zip(parameters, arguments) {
                    switch (parameter, argument) {
                    case (.value, .value(let x)): inputs.append(.value(compile(x)))
                    case (.metric, .metric(let name)): inputs.append(.metric(reference(name)))
                    case (.delta, .metric(let name)): inputs.append(.delta(delta(name)))
                    case (.glob, .glob(let glob)): inputs.append(.glob(glob))
                    case (.histogram, .metric(let name)): inputs.append(.histogram(name))
                    default: return .none
                    }
                }
                if inputs.count == 1, case .delta(let d) = inputs[0] {
                    if evaluator is RateEvaluator { return .rate(d) }
                    if evaluator is DeltaEvaluator { return .deltaCall(d) }
                }
                return .call(evaluator, inputs)
            }
        }
        let grain: MemoryGrain =
            switch (entry.scope, entry.operation) {
            case (.host, .reCalculate): .host
            case (.process, .reCalculate): .process
            default: .file
            }
        return EntryPlan(
            root: compile(entry.expression.root), sourceDeltas: sourceDeltas.map(id),
            destinationDeltas: destinationDeltas, grain: grain)
    }
}

extension EngineSample {
    /// `fields[name]`, without hashing `name` when the sample has one field (most metrics:
    /// `value`), which a pass asks for once per sample and name.
    func field(_ name: String) -> Number? {
        if fields.count == 1, let only = fields.first { return only.key == name ? only.value : nil }
        return fields[name]
    }
}
