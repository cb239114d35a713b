extension Manifest {
    /// The engine's entries for this manifest, in manifest order: one per manifest entry and
    /// group of its destinations with the same scope and operation (a Traffic Server entry with
    /// a node and a cluster destination gives two; the engine skips cluster entries locally).
    ///
    /// ```swift
    /// let manifest = try Manifest.load(path: "stats.json")
    /// var engine = try Engine(entries: manifest.engineEntries())
    /// ```
    public func engineEntries() -> [EngineEntry] {
        var result: [EngineEntry] = []
        for entry in entries {
            var groups: [(scope: Scope, operation: Operation, names: [String])] = []
            for destination in entry.destinations {
                if let index = groups.firstIndex(where: {
                    $0.scope == destination.scope && $0.operation == destination.operation
                }) {
                    groups[index].names.append(destination.name)
                } else {
                    groups.append((destination.scope, destination.operation, [destination.name]))
                }
            }
            for group in groups {
                result.append(
                    EngineEntry(
                        destinations: group.names, type: EngineValueType(entry.type), expression: entry.expression,
                        interval: entry.interval, minimum: entry.minimum?.doubleValue,
                        maximum: entry.maximum?.doubleValue, defaultValue: entry.defaultValue?.doubleValue,
                        scope: EngineScope(group.scope), operation: group.operation == .sum ? .sum : .reCalculate,
                        unit: entry.unit ?? "", help: entry.description ?? ""))
            }
        }
        return result
    }
}

extension EngineValueType {
    init(_ type: Manifest.ValueType) {
        switch type {
        case .integer: self = .integer
        case .counter: self = .counter
        case .float: self = .float
        }
    }
}

extension EngineScope {
    init(_ scope: Manifest.Scope) {
        switch scope {
        case .thread: self = .thread
        case .process: self = .process
        case .host: self = .host
        case .cluster: self = .cluster
        }
    }
}
