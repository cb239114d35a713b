/// The four arithmetic operators.
///
/// ```swift
/// BinaryOperator.divide.symbol  // "/"
/// ```
public enum BinaryOperator: Sendable, Hashable {
    /// `+`
    case add
    /// `-`
    case subtract
    /// `*`
    case multiply
    /// `/` (always a double result)
    case divide

    /// The operator as written.
    ///
    /// ```swift
    /// BinaryOperator.add.symbol  // "+"
    /// ```
    public var symbol: String {
        switch self {
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        }
    }
}

/// One argument of a call in the compiled tree.
///
/// ```swift
/// ExpressionArgument.glob("web.*.requests")
/// ```
public indirect enum ExpressionArgument: Sendable, Hashable {
    /// An expression, evaluated before the call.
    case value(ExpressionNode)
    /// A metric name, passed as text.
    case metric(String)
    /// A name glob, passed as text.
    case glob(String)
}

/// A node of a compiled expression tree.
///
/// Metric names keep their dots: splitting `web.response_time.p99` into a metric and an
/// exposed field is the resolver's business.
///
/// ```swift
/// let e = try ExpressionCompiler().compile("#a * 2")
/// e.root  // .binary(.multiply, .delta("a"), .number(.int(2)))
/// ```
public indirect enum ExpressionNode: Sendable, Hashable {
    /// A literal.
    case number(Number)
    /// A named constant (`$NAME`), already replaced by its value.
    case constant(name: String, value: Number)
    /// The current value of a metric (or exposed field).
    case metric(String)
    /// `#name`: the change of a metric since the entry last ran.
    case delta(String)
    /// `_NAME`: elapsed nanoseconds since the entry last ran (`_DIFFTIME`).
    case elapsed(String)
    /// Unary minus.
    case negate(ExpressionNode)
    /// A binary operation.
    case binary(BinaryOperator, ExpressionNode, ExpressionNode)
    /// A function call, its name checked against the compiler's table.
    case call(String, [ExpressionArgument])
}

/// A name an expression refers to, with where it appears (for resolution and load errors).
///
/// ```swift
/// let e = try ExpressionCompiler().compile("a + #b")
/// e.references.map(\.name)  // ["a", "b"]
/// ```
public struct ExpressionReference: Sendable, Hashable {
    /// What kind of reference.
    ///
    /// ```swift
    /// try ExpressionCompiler().compile("#a").references[0].kind  // .delta
    /// ```
    public enum Kind: Sendable, Hashable {
        /// A metric's current value (also a function's `.metric` argument).
        case metric
        /// `#name`.
        case delta
        /// `_NAME`.
        case elapsed
        /// A glob argument.
        case glob
    }
    /// The kind.
    public var kind: Kind
    /// The name or glob text (without `#`, quotes or escapes).
    public var name: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    /// Creates a reference.
    ///
    /// ```swift
    /// ExpressionReference(kind: .delta, name: "requests", line: 1, column: 1)
    /// ```
    public init(kind: Kind, name: String, line: Int, column: Int) {
        self.kind = kind
        self.name = name
        self.line = line
        self.column = column
    }
}

/// A compiled expression: its source, its tree and the names it refers to.
///
/// ```swift
/// let e = try ExpressionCompiler().compile("#requests * $HRTIME_SECOND / _DIFFTIME")
/// e.evaluate(with: ExpressionInputs(deltas: ["requests": .int(50)], elapsed: .int(10_000_000_000)))
/// // .double(5.0)
/// ```
public struct CompiledExpression: Sendable {
    /// The text it was compiled from.
    public let source: String
    /// The tree.
    public let root: ExpressionNode
    /// Every metric, delta, elapsed and glob reference, in source order.
    public let references: [ExpressionReference]
    /// The compiler's function table, for pure functions at evaluation.
    let functions: [String: ExpressionFunction]
}

/// Compiles expression text into `CompiledExpression`s against a table of constants and functions.
///
/// ```swift
/// let compiler = ExpressionCompiler(constants: ["PAGE": .int(4096)])
/// let e = try compiler.compile("pages * $PAGE")
/// ```
public struct ExpressionCompiler: Sendable {
    /// Traffic Server's six constants, names without the `$`.
    ///
    /// ```swift
    /// ExpressionCompiler.builtinConstants["HRTIME_SECOND"]  // .int(1_000_000_000)
    /// ```
    public static let builtinConstants: [String: Number] = [
        "BYTES_TO_MB_SCALE": .double(1.0 / (1024.0 * 1024.0)),
        "BYTES_TO_MBIT_SCALE": .double(8.0 / 1_000_000.0),
        "MBIT_TO_KBIT_SCALE": .int(1000),
        "SECOND_TO_MILLISECOND_SCALE": .int(1000),
        "PCT_TO_INTPCT_SCALE": .int(100),
        "HRTIME_SECOND": .int(1_000_000_000),
    ]

    /// The longest expression accepted, in UTF-8 bytes (64 KiB).
    ///
    /// ```swift
    /// try ExpressionCompiler().compile(String(repeating: "a", count: 70_000))  // throws: … the limit is 65536
    /// ```
    public static let maximumLength = 65_536
    /// The deepest nesting of parentheses, unary minus and calls accepted.
    ///
    /// ```swift
    /// try ExpressionCompiler().compile(String(repeating: "(", count: 129) + "a")  // throws at column 129
    /// ```
    public static let maximumNesting = 128
    /// The tallest tree accepted (a chain `a+b+c+…` is one level per operator).
    ///
    /// ```swift
    /// try ExpressionCompiler().compile(Array(repeating: "a", count: 600).joined(separator: "+"))  // throws
    /// ```
    public static let maximumTreeHeight = 512

    /// The constants, names without `$`: the built-in six, then the user's.
    public let constants: [String: Number]
    /// The functions by name.
    public let functions: [String: ExpressionFunction]

    /// Creates a compiler. A user constant cannot redefine a built-in one (the built-in wins;
    /// the manifest loader rejects such names); a later function with the same name replaces
    /// an earlier one.
    ///
    /// ```swift
    /// let compiler = ExpressionCompiler(constants: ["K": .int(1024)], functions: ExpressionFunction.standard)
    /// ```
    public init(constants: [String: Number] = [:], functions: [ExpressionFunction] = ExpressionFunction.standard) {
        self.constants = constants.merging(Self.builtinConstants) { _, builtin in builtin }
        var table: [String: ExpressionFunction] = [:]
        for function in functions { table[function.name] = function }
        self.functions = table
    }

    /// Compiles `source`, or throws the first error with its line and column.
    ///
    /// ```swift
    /// let e = try ExpressionCompiler().compile("(a + b) / 2")
    /// ```
    public func compile(_ source: String) throws(ExpressionError) -> CompiledExpression {
        var parser = try ExpressionParser(source: source, compiler: self)
        let root = try parser.parseAll()
        return CompiledExpression(source: source, root: root, references: parser.references, functions: functions)
    }
}
