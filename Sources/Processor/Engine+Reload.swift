extension Engine {
    /// An engine for a reloaded manifest that keeps the history (last run, delta memory,
    /// held results) of every entry that did not change: same destinations, expression tree,
    /// scope, operation and interval. Changed and new entries start afresh (no value until
    /// they have run twice); the bounds, default and type may change without losing history.
    ///
    /// ```swift
    /// engine = try engine.reloaded(with: newEntries)
    /// ```
    public func reloaded(with newEntries: [EngineEntry]) throws(EngineError) -> Engine {
        var next = try Engine(entries: newEntries, clock: clock, evaluators: Array(evaluators.values))
        var old: [EntryIdentity: Int] = [:]
        for (i, entry) in entries.enumerated() { old[EntryIdentity(entry)] = i }
        var nextNameID: [String: Int] = [:]
        for (n, name) in next.names.enumerated() { nextNameID[name] = n }
        for (j, entry) in newEntries.enumerated() {
            guard let i = old[EntryIdentity(entry)] else { continue }
            next.lastRun[j] = lastRun[i]
            next.held[j] = held[i]
            // The delta memory moves between its two forms when a name became a destination
            // (of an entry that may not run, so that the name still reads its metric's files)
            // or stopped being one: the remembered files are the same.
            let grain = plans[i].grain
            for (key, remembered) in memory[i] {
                if next.destinationNames.contains(key.name) {
                    next.memory[j][key] = remembered
                } else if let id = nextNameID[key.name], let k = next.plans[j].sourceDeltas.firstIndex(of: id) {
                    for case (.file(let file), let value) in remembered {
                        next.sourceMemory[j][k].orphans[file] = value
                    }
                }
            }
            for (k, id) in plans[i].sourceDeltas.enumerated() where id >= 0 {
                let name = names[id]
                if next.destinationNames.contains(name) {
                    for (file, value) in sourceMemory[i][k].remembered(in: index) {
                        let instance: EngineInstance =
                            switch grain {
                            case .host: .host
                            case .process: .process(pid: file.pid, startTime: file.startTime)
                            case .file: .thread(file)
                            }
                        next.memory[j][MemoryKey(instance: instance, name: name), default: [:]][.file(file)] = value
                    }
                } else if let id = nextNameID[name], let newK = next.plans[j].sourceDeltas.firstIndex(of: id) {
                    next.sourceMemory[j][newK] = sourceMemory[i][k]
                }
            }
        }
        next.lastPass = lastPass
        // The source memory is aligned with this index: the new engine resolves its names
        // again on its first pass and fits the memory to its own index.
        next.index = index
        return next
    }
}

/// What must not change for an entry to keep its history across a reload.
struct EntryIdentity: Hashable {
    var destinations: [String]
    var root: ExpressionNode
    var scope: EngineScope
    var operation: EngineOperation
    var interval: Double?

    init(_ entry: EngineEntry) {
        destinations = entry.destinations
        root = entry.expression.root
        scope = entry.scope
        operation = entry.operation
        interval = entry.interval
    }
}
