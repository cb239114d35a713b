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
/// ```swift
/// let pass = engine.run(inputs)
/// pass["web.rps"]  // the host result, or nil
/// ```
public struct EnginePass: Sendable {
    /// Monotonic nanoseconds since the previous pass (nil on the first).
    public var elapsed: UInt64?
    /// The results, in entry order (cluster entries have none).
    public var results: [EngineResult]

    /// Creates a pass result.
    ///
    /// ```swift
    /// EnginePass(elapsed: nil, results: [])
    /// ```
    public init(elapsed: UInt64?, results: [EngineResult]) {
        self.elapsed = elapsed
        self.results = results
    }

    /// The value of `destination` at `instance` (default: the host); nil when it has no value
    /// or no such result.
    ///
    /// ```swift
    /// pass["web.rps"]                                         // host
    /// pass["web.rps", .process(pid: 1, startTime: 0)]         // one process
    /// ```
    public subscript(destination: String, instance: EngineInstance = .host) -> Number? {
        results.first { $0.destination == destination && $0.instance == instance }?.value
    }
}
