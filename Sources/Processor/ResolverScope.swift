import MmStatsCore

/// Answers an expression's questions for one entry at one instance: values summed over the
/// instance's files, reset-aware deltas since the entry last ran, the functions.
struct EngineResolver: ExpressionResolver {
    /// The index's resolved names and globs (not the whole index: a resolver is made per
    /// evaluation, and each stored reference costs a retain and a release).
    let resolved: [String: EngineIndex.Resolution]
    let globs: [String: [String]]
    let fileOfSample: [Int]
    let samples: [EngineSample]
    let destinations: [String: [EngineInstance: Number]]
    let memory: [MemoryKey: [Contributor: Number]]
    let evaluators: [String: any Evaluator]
    let instance: EngineInstance
    let elapsedTime: UInt64?
    /// Whether the entry has run before: then whatever is new since (a file, a process, a
    /// name) started after that run and counts from zero.
    let hasRun: Bool

    init(engine: Engine, entry: Int, instance: EngineInstance, samples: [EngineSample], elapsedTime: UInt64?) {
        resolved = engine.index.resolved
        globs = engine.index.globs
        fileOfSample = engine.index.fileOfSample
        self.samples = samples
        destinations = engine.destinationValues
        memory = engine.memory[entry]
        evaluators = engine.evaluators
        self.instance = instance
        self.elapsedTime = elapsedTime
        hasRun = engine.lastRun[entry] != nil
    }

    /// Each source of `name` within the instance, with its value and kind.
    func contributions(of name: String) -> [(key: Contributor, value: Number, kind: EngineSampleKind)] {
        if let values = destinations[name] {
            return values.compactMap { other, value in
                instance.encloses(other) || other.encloses(instance) ? (.destination(other), value, .gauge) : nil
            }
        }
        guard let resolution = resolved[name] else { return [] }
        var result: [(key: Contributor, value: Number, kind: EngineSampleKind)] = []
        // Files by their position in the index (hashing an integer, not a path).
        var position: [Int: Int] = [:]
        for i in resolution.indices(in: instance) where i < samples.count {
            guard let value = samples[i].field(resolution.field) else { continue }
            let file = samples[i].file
            if resolution.oneSamplePerFile {
                result.append((.file(file), value, samples[i].kind))
            } else if let at = position[fileOfSample[i]] {
                result[at].value = Number.add(result[at].value, value) ?? result[at].value
            } else {
                position[fileOfSample[i]] = result.count
                result.append((.file(file), value, samples[i].kind))
            }
        }
        return result
    }

    func value(of name: String) -> Number? {
        var total: Number?
        if destinations[name] != nil {
            for c in contributions(of: name) {
                guard let sum = total.map({ Number.add($0, c.value) }) ?? c.value else { return nil }
                total = sum
            }
            return total
        }
        guard let resolution = resolved[name] else { return nil }
        for i in resolution.indices(in: instance) where i < samples.count {
            guard let value = samples[i].field(resolution.field) else { continue }
            guard let sum = total.map({ Number.add($0, value) }) ?? value else { return nil }
            total = sum
        }
        return total
    }

    func delta(of name: String) -> Number? {
        guard let previous = memory[MemoryKey(instance: instance, name: name)] ?? (hasRun ? [:] : nil) else {
            return nil
        }
        let current = contributions(of: name)
        guard !current.isEmpty else { return nil }
        var total = Number.int(0)
        for c in current {
            let before = previous[c.key]
            let change: Number?
            switch c.kind {
            case .counter:
                if let before, !Number.isLess(c.value, before) {
                    change = Number.subtract(c.value, before)
                } else {
                    change = c.value  // a new file, a restarted writer or a reset: counted from 0
                }
            case .gauge:
                change = Number.subtract(c.value, before ?? .int(0))
            }
            guard let change, let sum = Number.add(total, change) else { return nil }
            total = sum
        }
        return total
    }

    func elapsed(_ name: String) -> Number? {
        elapsedTime.map { .int(Int64(clamping: $0)) }
    }

    /// Calls an evaluator: each argument resolved as its parameter says (see
    /// `EvaluatorParameter`), then the evaluator's answer as a number.
    func call(_ function: String, _ arguments: [FunctionArgument]) -> Number? {
        guard let evaluator = evaluators[function] else { return nil }
        let parameters = evaluator.parameters
        guard parameters.count == arguments.count else { return nil }
        var inputs: [Value] = []
        inputs.reserveCapacity(arguments.count)
        for (parameter, argument) in zip(parameters, arguments) {
            switch (parameter, argument) {
            case (.value, .number(let n)): inputs.append(n.value)
            case (.metric, .metric(let name)):
                guard let v = value(of: name) else { return nil }
                inputs.append(v.value)
            case (.delta, .metric(let name)):
                guard let v = delta(of: name) else { return nil }
                inputs.append(v.value)
            case (.glob, .glob(let glob)):
                let values = (globs[glob] ?? []).compactMap { value(of: $0) }
                inputs.append(.int(Int64(values.count)))
                for v in values { inputs.append(v.value) }
            case (.histogram, .metric(let name)):
                let buckets = mergedBuckets(name)
                inputs.append(.int(Int64(buckets.count)))
                for (bound, count) in buckets {
                    inputs.append(.double(bound))
                    inputs.append(.double(count))
                }
            default: return nil
            }
        }
        let context = EvaluationContext(elapsedNanoseconds: elapsedTime ?? 0)
        return ExpressionFunction.call(evaluator, inputs, context: context)
    }

    /// A histogram's buckets merged across the instance's files: (upper bound, observations),
    /// bounds ascending, empty buckets left out.
    func mergedBuckets(_ name: String) -> [(bound: Double, count: Double)] {
        guard let resolution = resolved[name], resolution.field == "value" else { return [] }
        var merged: [Double: Double] = [:]  // doubles: hostile counts cannot overflow
        for i in resolution.indices(in: instance) where i < samples.count {
            for bucket in samples[i].buckets ?? [] where bucket.count > 0 && !bucket.upperBound.isNaN {
                merged[bucket.upperBound, default: 0] += Double(bucket.count)
            }
        }
        return merged.keys.sorted().map { ($0, merged[$0] ?? 0) }
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
