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
        for (j, entry) in newEntries.enumerated() {
            guard let i = old[EntryIdentity(entry)] else { continue }
            next.lastRun[j] = lastRun[i]
            // A delta name that became a destination, or stopped being one, starts afresh: its
            // remembered files or instances would not match the new contributions anyway.
            next.memory[j] = memory[i].filter { key, _ in next.destinationNames.contains(key.name) }
            let sources = plans[i].sourceDeltas.map { $0 >= 0 ? names[$0] : "" }
            for (k, id) in next.plans[j].sourceDeltas.enumerated() where id >= 0 {
                if let old = sources.firstIndex(of: next.names[id]) { next.sourceMemory[j][k] = sourceMemory[i][old] }
            }
            next.held[j] = held[i]
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
