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
            next.memory[j] = memory[i]
            next.held[j] = held[i]
            for name in entry.destinations { next.destinationValues[name] = destinationValues[name] }
        }
        next.lastPass = lastPass
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
