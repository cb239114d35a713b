/// Where a result belongs: the host, one process, or one file (a writer thread).
///
/// ```swift
/// EngineInstance.process(pid: 12, startTime: 99)
/// ```
public enum EngineInstance: Sendable, Hashable {
    /// Every file of the host.
    case host
    /// The files of one process.
    case process(pid: Int64, startTime: UInt64)
    /// One file.
    case thread(EngineFile)

    /// Whether the file belongs to this instance.
    ///
    /// ```swift
    /// EngineInstance.host.contains(file)  // true
    /// ```
    public func contains(_ file: EngineFile) -> Bool {
        switch self {
        case .host: true
        case .process(let pid, let start): file.pid == pid && file.startTime == start
        case .thread(let f): f == file
        }
    }

    /// Whether `other` is this instance or lies within it.
    ///
    /// ```swift
    /// EngineInstance.host.encloses(.process(pid: 1, startTime: 0))  // true
    /// ```
    public func encloses(_ other: EngineInstance) -> Bool {
        switch (self, other) {
        case (.host, _): true
        case (.process(let p, let s), .process(let q, let t)): p == q && s == t
        case (.process, .thread(let f)): contains(f)
        case (.thread(let f), .thread(let g)): f == g
        default: false
        }
    }
}

/// One destination's result at one instance.
///
/// ```swift
/// EngineResult(destination: "web.rps", instance: .host, value: .double(5))
/// ```
public struct EngineResult: Sendable, Hashable {
    /// The destination name.
    public var destination: String
    /// Where it belongs.
    public var instance: EngineInstance
    /// The stored value, or nil: no value.
    public var value: Number?

    /// Creates a result.
    ///
    /// ```swift
    /// EngineResult(destination: "x", instance: .host, value: nil)
    /// ```
    public init(destination: String, instance: EngineInstance, value: Number?) {
        self.destination = destination
        self.instance = instance
        self.value = value
    }
}

/// What one pass produced: every destination's results, in entry order, and the time since
/// the previous pass.
///
/// The engine stores a pass compactly (per entry: its instances, and the values that are not
/// the entry's usual no value or default); `results` builds the list on each access, so bind
/// it once when reading it several times.
///
/// ```swift
/// let pass = engine.run(inputs)
/// pass["web.rps"]  // the host result, or nil
/// ```
public struct EnginePass: Sendable {
    /// Monotonic nanoseconds since the previous pass (nil on the first).
    public var elapsed: UInt64?
    /// The results, in entry order (cluster entries have none).
    public var results: [EngineResult] {
        get {
            switch storage {
            case .list(let results): return results
            case .entries(let entries):
                var results: [EngineResult] = []
                results.reserveCapacity(entries.reduce(0) { $0 + $1.count })
                for entry in entries { entry.forEachResult { results.append($0) } }
                return results
            }
        }
        set { storage = .list(newValue) }
    }

    enum Storage: Sendable {
        case list([EngineResult])
        case entries([EntryResults])
    }
    var storage: Storage

    /// Creates a pass result.
    ///
    /// ```swift
    /// EnginePass(elapsed: nil, results: [])
    /// ```
    public init(elapsed: UInt64?, results: [EngineResult]) {
        self.elapsed = elapsed
        storage = .list(results)
    }

    init(elapsed: UInt64?, entries: [EntryResults]) {
        self.elapsed = elapsed
        storage = .entries(entries)
    }

    /// Calls `body` with every result, in the order of `results`, without building that list.
    ///
    /// ```swift
    /// pass.forEachResult { result in print(result.destination, result.value ?? "no value") }
    /// ```
    public func forEachResult(_ body: (EngineResult) throws -> Void) rethrows {
        switch storage {
        case .list(let results): for result in results { try body(result) }
        case .entries(let entries): for entry in entries { try entry.forEachResult(body) }
        }
    }

    /// How many results the pass has (`results.count`, without building the list).
    ///
    /// ```swift
    /// pass.resultCount  // one per destination and instance
    /// ```
    public var resultCount: Int {
        switch storage {
        case .list(let results): results.count
        case .entries(let entries): entries.reduce(0) { $0 + $1.count }
        }
    }

    /// How many results have a value (without building `results`).
    ///
    /// ```swift
    /// pass.valueCount  // results.filter { $0.value != nil }.count
    /// ```
    public var valueCount: Int {
        switch storage {
        case .list(let results): return results.reduce(0) { $0 + ($1.value == nil ? 0 : 1) }
        case .entries(let entries):
            var count = 0
            for entry in entries where !entry.destinations.isEmpty {
                var instances = 0
                if entry.fill == nil {
                    for listed in entry.values where listed.value != nil { instances += 1 }
                } else {
                    instances = entry.instances.count
                    for listed in entry.values where listed.value == nil { instances -= 1 }
                }
                count += instances * entry.destinations.count
            }
            return count
        }
    }

    /// The value of `destination` at `instance` (default: the host); nil when it has no value
    /// or no such result.
    ///
    /// ```swift
    /// pass["web.rps"]                                         // host
    /// pass["web.rps", .process(pid: 1, startTime: 0)]         // one process
    /// ```
    public subscript(destination: String, instance: EngineInstance = .host) -> Number? {
        switch storage {
        case .list(let results):
            return results.first { $0.destination == destination && $0.instance == instance }?.value
        case .entries(let entries):
            for entry in entries where entry.destinations.contains(destination) {
                if let found = entry.value(at: instance) { return found }
            }
            return nil
        }
    }
}

/// The instances of an entry's results: the host, the processes or the files of an index.
enum EngineInstances: Sendable {
    case host
    case processes([EngineIndex.ProcessKey])
    case files([EngineFile])

    var count: Int {
        switch self {
        case .host: 1
        case .processes(let processes): processes.count
        case .files(let files): files.count
        }
    }

    subscript(position: Int) -> EngineInstance {
        switch self {
        case .host: .host
        case .processes(let processes):
            .process(pid: processes[position].pid, startTime: processes[position].startTime)
        case .files(let files): .thread(files[position])
        }
    }
}

/// One entry's results at one run, compactly: `fill` at every instance except those listed
/// in `values` (ascending positions), for each destination.
struct EntryResults: Sendable {
    var destinations: [String] = []
    var instances = EngineInstances.host
    var fill: Number?
    var values: [(position: Int, value: Number?)] = []
    /// The index the results were computed over (its generation and sample count): when it is
    /// the engine's current one, `instances` are its processes or files, position for position.
    var index: (generation: UInt64, samples: Int)?

    /// The value at instance position `position` (binary search in `values`, else `fill`).
    func value(atPosition position: Int) -> Number? {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle].position < position { low = middle + 1 } else { high = middle }
        }
        return low < values.count && values[low].position == position ? values[low].value : fill
    }

    /// How many results: one per destination and instance (none before the entry ran).
    var count: Int { destinations.isEmpty ? 0 : destinations.count * instances.count }

    /// The value at each instance, in order.
    func forEachInstance(_ body: (Int, Number?) throws -> Void) rethrows {
        var next = 0
        for n in 0..<(destinations.isEmpty ? 0 : instances.count) {
            if next < values.count, values[next].position == n {
                try body(n, values[next].value)
                next += 1
            } else {
                try body(n, fill)
            }
        }
    }

    /// Calls `body` for each instance with a value.
    func forEachValue(_ body: (EngineInstance, Number) -> Void) {
        if fill == nil {
            for (position, value) in values { if let value { body(instances[position], value) } }
        } else {
            forEachInstance { n, value in if let value { body(instances[n], value) } }
        }
    }

    /// Calls `body` with each result: per instance, one per destination.
    func forEachResult(_ body: (EngineResult) throws -> Void) rethrows {
        switch instances {
        case .host:
            try forEachInstance { _, value in
                for name in destinations { try body(EngineResult(destination: name, instance: .host, value: value)) }
            }
        case .processes(let processes):
            try forEachInstance { n, value in
                let instance = EngineInstance.process(pid: processes[n].pid, startTime: processes[n].startTime)
                for name in destinations { try body(EngineResult(destination: name, instance: instance, value: value)) }
            }
        case .files(let files):
            try forEachInstance { n, value in
                let instance = EngineInstance.thread(files[n])
                for name in destinations { try body(EngineResult(destination: name, instance: instance, value: value)) }
            }
        }
    }

    /// The value at `instance`, or nil when it has none or is not an instance of these results.
    func value(at instance: EngineInstance) -> Number?? {
        let position: Int?
        switch (instances, instance) {
        case (.host, .host): position = 0
        case (.processes(let processes), .process(let pid, let start)):
            position = processes.firstIndex(of: EngineIndex.ProcessKey(pid: pid, startTime: start))
        case (.files(let files), .thread(let file)): position = files.firstIndex(of: file)
        default: position = nil
        }
        guard let position else { return nil }
        let listed = values.first { $0.position == position }
        return .some(listed.map(\.value) ?? fill)
    }
}
