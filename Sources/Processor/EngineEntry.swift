/// The type a destination stores: it decides the stored representation, not the expression.
///
/// ```swift
/// EngineValueType.integer.store(.double(2.5))  // .int(3)
/// ```
public enum EngineValueType: String, Sendable, Hashable {
    /// A 64-bit signed integer (a double is rounded to the nearest, halves away from zero).
    case integer
    /// A 64-bit signed integer that only grows (stored like `integer`).
    case counter
    /// A double.
    case float

    /// Converts a result to the stored type: a double outside Int64's range is no value for
    /// `integer` and `counter`.
    ///
    /// ```swift
    /// EngineValueType.float.store(.int(2))  // .double(2.0)
    /// ```
    public func store(_ number: Number) -> Number? {
        switch self {
        case .float:
            return .double(number.doubleValue)
        case .integer, .counter:
            switch number {
            case .int: return number
            case .double(let d):
                let rounded = d.rounded(.toNearestOrAwayFromZero)
                guard let exact = Int64(exactly: rounded) else { return nil }
                return .int(exact)
            }
        }
    }
}

/// Where an entry evaluates: one file, one process's files, every file of the host, or the
/// cluster (left to Prometheus; skipped locally).
///
/// ```swift
/// EngineScope.process
/// ```
public enum EngineScope: String, Sendable, Hashable {
    /// Each file (one writer thread) on its own.
    case thread
    /// The files of one process (same pid and start time) together.
    case process
    /// Every file of the host together.
    case host
    /// Across machines: validated, never evaluated by the engine.
    case cluster
}

/// How an entry combines the files of its scope.
///
/// ```swift
/// EngineOperation.reCalculate  // Σa / Σb, not Σ(a / b)
/// ```
public enum EngineOperation: String, Sendable, Hashable {
    /// Evaluates the expression per file, then adds the results.
    case sum
    /// Replaces each variable by its sum over the scope (deltas included), then evaluates once.
    case reCalculate
}

/// One entry of the engine: what to compute, where, how often, within which bounds, into
/// which destinations. The manifest loader maps its entries to these.
///
/// ```swift
/// let entry = EngineEntry(
///     destinations: ["web.rps"], type: .float,
///     expression: try ExpressionCompiler().compile("rate(web.requests)"), scope: .host)
/// ```
public struct EngineEntry: Sendable {
    /// The names the result is stored under (at least one).
    public var destinations: [String]
    /// The stored type.
    public var type: EngineValueType
    /// The compiled expression.
    public var expression: CompiledExpression
    /// Minimum seconds between two runs of the entry (nil: every pass).
    public var interval: Double?
    /// Results below this are out of range.
    public var minimum: Double?
    /// Results above this are out of range.
    public var maximum: Double?
    /// Stored when the result is missing or out of range (nil: no value).
    public var defaultValue: Double?
    /// Where the entry evaluates.
    public var scope: EngineScope
    /// How files are combined.
    public var operation: EngineOperation
    /// The unit, for people and exporters (the results file's descriptors carry it).
    public var unit: String
    /// The description, for people and exporters.
    public var help: String

    /// Creates an entry.
    ///
    /// ```swift
    /// EngineEntry(destinations: ["x"], type: .integer, expression: e, minimum: 0, maximum: 100)
    /// ```
    public init(
        destinations: [String], type: EngineValueType, expression: CompiledExpression,
        interval: Double? = nil, minimum: Double? = nil, maximum: Double? = nil, defaultValue: Double? = nil,
        scope: EngineScope = .host, operation: EngineOperation = .reCalculate, unit: String = "", help: String = ""
    ) {
        self.destinations = destinations
        self.type = type
        self.expression = expression
        self.interval = interval
        self.minimum = minimum
        self.maximum = maximum
        self.defaultValue = defaultValue
        self.scope = scope
        self.operation = operation
        self.unit = unit
        self.help = help
    }
}

/// An engine configuration error, naming the entry (1-based, with its first destination)
/// and the field.
///
/// ```swift
/// // entry 2 ('web.ratio'): field 'minimum': 5.0 is greater than maximum 1.0
/// ```
public struct EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The message.
    public var description: String

    /// Creates an error.
    ///
    /// ```swift
    /// EngineError(description: "entry 1: no destination")
    /// ```
    public init(description: String) { self.description = description }
}
