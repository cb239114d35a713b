import MmStatsCore

/// One evaluation of an entry: which entry, where, its elapsed time and whether it has run.
struct EvaluationSite {
    var entry: Int
    var place: EnginePlace
    var elapsed: UInt64?
    var hasRun: Bool
}

extension Engine {
    /// Evaluates a plan node: values summed over the instance's files, reset-aware deltas
    /// since the entry last ran, the functions. Any missing operand, division by zero or
    /// non-finite result is nil (the rules of `CompiledExpression.evaluate(with:)`).
    func evaluate(_ node: PlanNode, _ site: EvaluationSite) -> Number? {
        switch node {
        case .number(let n): return n
        case .source(let id): return sourceValue(id, at: site.place)
        case .destination(let name, let entry): return destinationValue(name, entry: entry, site)
        case .delta(let k): return sourceDelta(k, site)
        case .destinationDelta(let name): return destinationDelta(name, site)
        case .elapsed: return site.elapsed.map { .int(Int64(clamping: $0)) }
        case .negate(let operand):
            guard let x = evaluate(operand, site) else { return nil }
            return Number.negate(x)
        case .binary(let op, let lhs, let rhs):
            guard let a = evaluate(lhs, site), let b = evaluate(rhs, site) else { return nil }
            switch op {
            case .add: return Number.add(a, b)
            case .subtract: return Number.subtract(a, b)
            case .multiply: return Number.multiply(a, b)
            case .divide: return Number.divide(a, b)
            }
        case .pure(let implementation, let arguments):
            var numbers: [Number] = []
            numbers.reserveCapacity(arguments.count)
            for argument in arguments {
                guard let n = evaluate(argument, site) else { return nil }
                numbers.append(n)
            }
            return implementation(numbers).flatMap { n in n.doubleValue.isFinite ? n : nil }
        case .rate(let delta):
            // `RateEvaluator`: the delta per second of the entry's elapsed time.
            guard let change = evaluate(delta, site), let ns = site.elapsed, ns > 0 else { return nil }
            return Number.divide(change, .double(Double(ns) / 1e9))
        case .deltaCall(let delta):
            return evaluate(delta, site)  // `DeltaEvaluator`: the delta itself
        case .call(let evaluator, let arguments):
            return call(evaluator, arguments, site)
        case .none:
            return nil
        }
    }

    /// A source's value at a place (this pass's sums).
    func sourceValue(_ id: Int, at place: EnginePlace) -> Number? {
        guard id >= 0, let r = index.resolutionOfName[id] else { return nil }
        return sourceValues.value(r, at: place)
    }

    /// `#x` of a source: the sum over the place's files of each file's change since the
    /// entry's last run (a counter that decreased, or a file not seen then, counts from 0).
    func sourceDelta(_ k: Int, _ site: EvaluationSite) -> Number? {
        guard site.hasRun, k >= 0 else { return nil }
        let id = plans[site.entry].sourceDeltas[k]
        guard id >= 0, let r = index.resolutionOfName[id] else { return nil }
        let aligned = sourceMemory[site.entry][k].resolution === r
        let base = r.slotBase
        var total = Number.int(0)
        var any = false
        func add(_ slot: Int) -> Bool {
            guard let current = sourceValues.contributions[base + slot] else { return true }
            any = true
            let before = aligned ? sourceMemory[site.entry][k].values[slot] : nil
            let change: Number?
            switch sourceValues.kinds[base + slot] {
            case .counter:
                if let before, !Number.isLess(current, before) {
                    change = Number.subtract(current, before)
                } else {
                    change = current  // a new file, a restarted writer or a reset: counted from 0
                }
            case .gauge:
                change = Number.subtract(current, before ?? .int(0))
            }
            guard let change, let sum = Number.add(total, change) else { return false }
            total = sum
            return true
        }
        if !r.oneSamplePerFile {
            // Files in the order of their first sample with a value.
            for slot in sourceValues.orderedSlots(r, at: site.place) {
                guard add(slot) else { return nil }
            }
        } else {
            switch site.place {
            case .host:
                for slot in r.slotFiles.indices {
                    guard add(slot) else { return nil }
                }
            case .process(let p):
                for slot in r.slot(ofProcess: p).map({ r.slotsOfProcess[$0] }) ?? [] {
                    guard add(slot) else { return nil }
                }
            case .file(let f):
                if let slot = r.slot(ofFile: f) {
                    guard add(slot) else { return nil }
                }
            }
        }
        return any ? total : nil
    }

    /// After an evaluation at a place: remembers the current values of the entry's delta
    /// names there (files without a value there are forgotten).
    mutating func remember(_ site: EvaluationSite) {
        let i = site.entry
        for k in sourceMemory[i].indices {
            let id = plans[i].sourceDeltas[k]
            let r = id >= 0 ? index.resolutionOfName[id] : nil
            if sourceMemory[i][k].resolution !== r || sourceMemory[i][k].values.count != (r?.slotFiles.count ?? 0) {
                sourceMemory[i][k].resolution = r
                sourceMemory[i][k].values = Array(repeating: nil, count: r?.slotFiles.count ?? 0)
            }
            if let r {
                let base = r.slotBase
                switch site.place {
                case .host:
                    for slot in r.slotFiles.indices {
                        sourceMemory[i][k].values[slot] = sourceValues.contributions[base + slot]
                    }
                case .process(let p):
                    for slot in r.slot(ofProcess: p).map({ r.slotsOfProcess[$0] }) ?? [] {
                        sourceMemory[i][k].values[slot] = sourceValues.contributions[base + slot]
                    }
                case .file(let f):
                    if let slot = r.slot(ofFile: f) {
                        sourceMemory[i][k].values[slot] = sourceValues.contributions[base + slot]
                    }
                }
            }
            if !sourceMemory[i][k].orphans.isEmpty {
                switch site.place {
                case .host: sourceMemory[i][k].orphans = [:]
                case .process(let p):
                    let process = index.processes[p]
                    sourceMemory[i][k].orphans = sourceMemory[i][k].orphans.filter { file, _ in
                        file.pid != process.pid || file.startTime != process.startTime
                    }
                case .file(let f): sourceMemory[i][k].orphans[index.files[f]] = nil
                }
            }
        }
        if !plans[i].destinationDeltas.isEmpty {
            let instance = index.instance(at: site.place)
            for name in plans[i].destinationDeltas {
                let key = MemoryKey(instance: instance, name: name)
                let now = contributions(of: name, at: site.place, instance: instance)
                if now.isEmpty {
                    memory[i][key] = nil
                } else {
                    var remembered: [Contributor: Number] = [:]
                    for c in now { remembered[c.key] = c.value }
                    memory[i][key] = remembered
                }
            }
        }
    }

    // MARK: Destinations (names some entry computes)

    /// Each source of a destination within the instance, with its value and kind: its results
    /// at the instances that enclose or lie within it once its entry has run, else its metric's
    /// files.
    func contributions(of name: String, at place: EnginePlace, instance: EngineInstance)
        -> [(key: Contributor, value: Number, kind: EngineSampleKind)]
    {
        if let results = destinationResults(name) {
            var result: [(key: Contributor, value: Number, kind: EngineSampleKind)] = []
            if let aligned = alignedContributions(results, at: place) {
                // Only the instances that can enclose or lie within the place, not all of them.
                for position in aligned {
                    if let value = results.value(atPosition: position) {
                        result.append((.destination(results.instances[position]), value, .gauge))
                    }
                }
                return result
            }
            results.forEachValue { other, value in
                if instance.encloses(other) || other.encloses(instance) {
                    result.append((.destination(other), value, .gauge))
                }
            }
            return result
        }
        guard let r = index.resolved[name] else { return [] }
        var result: [(key: Contributor, value: Number, kind: EngineSampleKind)] = []
        // Files in the order of their first sample with a value.
        for slot in r.oneSamplePerFile ? r.slots(at: place) : sourceValues.orderedSlots(r, at: place) {
            guard let value = sourceValues.contributions[r.slotBase + slot] else { continue }
            result.append((.file(index.files[r.slotFiles[slot]]), value, sourceValues.kinds[r.slotBase + slot]))
        }
        return result
    }

    /// The positions of `results` (ascending) at instances that enclose or lie within
    /// `place`, when the results were computed over the current index (their positions are
    /// the index's); nil otherwise (then every instance is checked).
    func alignedContributions(_ results: EntryResults, at place: EnginePlace) -> [Int]? {
        guard let stamp = results.index, stamp.generation == index.generation, stamp.samples == index.sampleCount
        else { return nil }
        switch (results.instances, place) {
        case (.host, _): return [0]
        case (_, .host): return nil  // every instance lies within the host
        case (.processes(let processes), .process(let p)):
            return processes.count == index.processes.count ? [p] : nil
        case (.processes(let processes), .file(let f)):
            return processes.count == index.processes.count ? [index.processOfFile[f]] : nil
        case (.files(let files), .file(let f)):
            return files.count == index.files.count ? [f] : nil
        case (.files(let files), .process(let p)):
            return files.count == index.files.count ? index.filesOfProcess[p] : nil
        }
    }

    /// The latest results of the entry computing `name`, once it has run.
    func destinationResults(_ name: String) -> EntryResults? {
        guard let i = destinationEntry[name], !held[i].destinations.isEmpty else { return nil }
        return held[i]
    }

    /// A destination's value: the sum of its results at the instances that enclose or lie
    /// within the place's, or its metric's value before its entry has run.
    func destinationValue(_ name: String, entry: Int, _ site: EvaluationSite) -> Number? {
        guard !held[entry].destinations.isEmpty else {
            guard let r = index.resolved[name] else { return nil }
            return sourceValues.value(r, at: site.place)
        }
        if case .host = held[entry].instances {
            // A host result encloses every instance: it is the value wherever it is read.
            return held[entry].values.first?.value ?? held[entry].fill
        }
        var total: Number?
        for c in contributions(of: name, at: site.place, instance: index.instance(at: site.place)) {
            guard let sum = total.map({ Number.add($0, c.value) }) ?? c.value else { return nil }
            total = sum
        }
        return total
    }

    /// `#x` of a destination, from the entry's memory by instance.
    func destinationDelta(_ name: String, _ site: EvaluationSite) -> Number? {
        let instance = index.instance(at: site.place)
        guard
            let previous = memory[site.entry][MemoryKey(instance: instance, name: name)] ?? (site.hasRun ? [:] : nil)
        else {
            return nil
        }
        let current = contributions(of: name, at: site.place, instance: instance)
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

    /// A name's value, for globs: a destination's, or its metric's.
    func value(of name: String, _ site: EvaluationSite) -> Number? {
        if let entry = destinationEntry[name] { return destinationValue(name, entry: entry, site) }
        guard let r = index.resolved[name] else { return nil }
        return sourceValues.value(r, at: site.place)
    }

    // MARK: Evaluators

    /// Calls an evaluator: each argument resolved as its parameter says (see
    /// `EvaluatorParameter`), then the evaluator's answer as a number.
    func call(_ evaluator: any Evaluator, _ arguments: [PlanInput], _ site: EvaluationSite) -> Number? {
        // Value arguments first: the call is not made when one has no value.
        for argument in arguments {
            if case .value(let node) = argument, evaluate(node, site) == nil { return nil }
        }
        var inputs: [Value] = []
        inputs.reserveCapacity(arguments.count)
        for argument in arguments {
            switch argument {
            case .value(let node), .metric(let node), .delta(let node):
                guard let v = evaluate(node, site) else { return nil }
                inputs.append(v.value)
            case .glob(let glob):
                let values = (index.globs[glob] ?? []).compactMap { value(of: $0, site) }
                inputs.append(.int(Int64(values.count)))
                for v in values { inputs.append(v.value) }
            case .histogram(let name):
                let buckets = mergedBuckets(name, at: site.place)
                inputs.append(.int(Int64(buckets.count)))
                for (bound, count) in buckets {
                    inputs.append(.double(bound))
                    inputs.append(.double(count))
                }
            }
        }
        let context = EvaluationContext(elapsedNanoseconds: site.elapsed ?? 0)
        guard let result = ExpressionFunction.call(evaluator, inputs, context: context) else { return nil }
        if case .double(let d) = result, !d.isFinite { return nil }
        return result
    }

    /// A histogram's buckets merged across the place's files: (upper bound, observations),
    /// bounds ascending, empty buckets left out.
    func mergedBuckets(_ name: String, at place: EnginePlace) -> [(bound: Double, count: Double)] {
        guard let r = index.resolved[name], r.field == "value" else { return [] }
        let indices = r.indices(at: place)
        // Usually every file has the same bounds, ascending: add the counts in place; else
        // merge by bound. Both add each bound's counts in sample order.
        var merged: [(bound: Double, count: Double)] = []
        var inPlace = true
        var first = true
        for i in indices where i < currentSamples.count {
            var k = 0
            for bucket in currentSamples[i].buckets ?? [] where bucket.count > 0 && !bucket.upperBound.isNaN {
                if first {
                    if let last = merged.last, !(last.bound < bucket.upperBound) {
                        inPlace = false
                        break
                    }
                    merged.append((bucket.upperBound, Double(bucket.count)))
                } else {
                    guard k < merged.count, merged[k].bound == bucket.upperBound else {
                        inPlace = false
                        break
                    }
                    merged[k].count += Double(bucket.count)
                }
                k += 1
            }
            if !first, k != merged.count { inPlace = false }
            guard inPlace else { break }
            first = false
        }
        if inPlace { return merged }
        var table: [Double: Double] = [:]  // doubles: hostile counts cannot overflow
        for i in indices where i < currentSamples.count {
            for bucket in currentSamples[i].buckets ?? [] where bucket.count > 0 && !bucket.upperBound.isNaN {
                table[bucket.upperBound, default: 0] += Double(bucket.count)
            }
        }
        return table.keys.sorted().map { ($0, table[$0] ?? 0) }
    }
}

extension SourceMemory {
    /// Every remembered file and value (`index`: the index the memory is aligned with).
    func remembered(in index: EngineIndex) -> [(file: EngineFile, value: Number)] {
        var result: [(file: EngineFile, value: Number)] = []
        if let resolution {
            for (slot, value) in values.enumerated() {
                if let value { result.append((index.files[resolution.slotFiles[slot]], value)) }
            }
        }
        for (file, value) in orphans { result.append((file, value)) }
        return result
    }

    /// Fits the memory to a new index: each remembered file's value moves to its slot in the
    /// name's new resolution `now`; a file without one is kept by identity while its
    /// instance (the entry's `grain`) still exists, else forgotten.
    mutating func refit(
        to now: EngineIndex.Resolution?, previous: EngineIndex, moved: [Int], index: EngineIndex, grain: MemoryGrain
    ) {
        defer { resolution = now }
        guard let old = resolution, !values.isEmpty || !orphans.isEmpty else {
            if orphans.isEmpty {
                values = Array(repeating: nil, count: now?.slotFiles.count ?? 0)
                return
            }
            // Nothing aligned: only orphans to place.
            values = Array(repeating: nil, count: now?.slotFiles.count ?? 0)
            let kept = orphans
            orphans = [:]
            for (file, value) in kept { place(file, newPosition: index.filePosition[file], value, now, index, grain) }
            return
        }
        // The same files in the same slots (the usual case): nothing moves.
        if orphans.isEmpty, let now, now.slotFiles.count == old.slotFiles.count,
            !zip(old.slotFiles, now.slotFiles).contains(where: { moved[$0] != $1 })
        {
            if values.isEmpty { values = Array(repeating: nil, count: now.slotFiles.count) }
            return
        }
        let before = values
        let kept = orphans
        values = Array(repeating: nil, count: now?.slotFiles.count ?? 0)
        orphans = [:]
        for (slot, value) in before.enumerated() {
            guard let value else { continue }
            let position = old.slotFiles[slot]
            let newPosition = moved[position] >= 0 ? moved[position] : nil
            place(previous.files[position], newPosition: newPosition, value, now, index, grain)
        }
        for (file, value) in kept { place(file, newPosition: index.filePosition[file], value, now, index, grain) }
    }

    private mutating func place(
        _ file: EngineFile, newPosition: Int?, _ value: Number, _ now: EngineIndex.Resolution?, _ index: EngineIndex,
        _ grain: MemoryGrain
    ) {
        if let newPosition, let now, let slot = now.slot(ofFile: newPosition) {
            values[slot] = value
            return
        }
        let instanceExists: Bool =
            switch grain {
            case .host: true
            case .process:
                index.processPosition[EngineIndex.ProcessKey(pid: file.pid, startTime: file.startTime)] != nil
            case .file: newPosition != nil
            }
        if instanceExists { orphans[file] = value }
    }
}
