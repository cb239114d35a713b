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
        guard let previous = memory[MemoryKey(instance: instance, name: name)] else { return nil }
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

    func call(_ function: String, _ arguments: [FunctionArgument]) -> Number? {
        switch (function, arguments.first) {
        case ("rate", .metric(let name)?):
            guard let change = delta(of: name), let ns = elapsedTime, ns > 0 else { return nil }
            return Number.divide(change, .double(Double(ns) / 1e9))
        case ("delta", .metric(let name)?):
            return delta(of: name)
        case ("sum", .glob(let glob)?), ("min", .glob(let glob)?), ("max", .glob(let glob)?),
            ("avg", .glob(let glob)?), ("count", .glob(let glob)?):
            let values = (globs[glob] ?? []).compactMap { value(of: $0) }
            return Self.aggregate(function, values)
        case ("percentile", .metric(let name)?):
            guard arguments.count == 2, case .number(let q) = arguments[1] else { return nil }
            return percentile(name, q.doubleValue)
        default:
            guard let evaluator = evaluators[function] else { return nil }
            let context = EvaluationContext(elapsedNanoseconds: elapsedTime ?? 0)
            return ExpressionFunction.call(evaluator, arguments, context: context)
        }
    }

    /// `sum`, `min`, `max`, `avg` (no value over no names) and `count` (0 over no names).
    static func aggregate(_ function: String, _ values: [Number]) -> Number? {
        if function == "count" { return .int(Int64(values.count)) }
        guard var result = values.first else { return nil }
        for v in values.dropFirst() {
            switch function {
            case "min": if Number.isLess(v, result) { result = v }
            case "max": if Number.isLess(result, v) { result = v }
            default:
                guard let sum = Number.add(result, v) else { return nil }
                result = sum
            }
        }
        return function == "avg" ? Number.divide(result, .int(Int64(values.count))) : result
    }

    /// The `q` quantile of the metric's buckets merged over the instance's files: the upper
    /// bound of the bucket holding the observation of rank ⌈q × total⌉.
    func percentile(_ name: String, _ q: Double) -> Number? {
        guard q >= 0, q <= 1, let resolution = resolved[name], resolution.field == "value" else { return nil }
        var merged: [Double: Double] = [:]  // doubles: hostile counts cannot overflow
        for i in resolution.indices(in: instance) where i < samples.count {
            for bucket in samples[i].buckets ?? [] where bucket.count > 0 && !bucket.upperBound.isNaN {
                merged[bucket.upperBound, default: 0] += Double(bucket.count)
            }
        }
        let total = merged.values.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, (q * total).rounded(.up))
        var cumulative = 0.0
        for bound in merged.keys.sorted() {
            cumulative += merged[bound] ?? 0
            if cumulative >= rank { return Number.finite(bound) }
        }
        return nil
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
