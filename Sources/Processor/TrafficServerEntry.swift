/// One derived statistic of a Traffic Server `stats.config.xml`: one `<statistics>` element.
///
/// A neutral value: the processor converts it to a manifest entry and compiles its expression.
///
/// ```swift
/// let entries = try TrafficServerConfig.load(path: "stats.config.xml")
/// print(entries[0].destinations[0].name, entries[0].expression)
/// // proxy.node.http.user_agents_total_documents_served proxy.process.http.incoming_requests
/// ```
public struct TrafficServerEntry: Equatable, Sendable {
    /// Where a destination's value is computed: on this node, or across the cluster.
    ///
    /// ```swift
    /// let scope = TrafficServerEntry.Scope(rawValue: "cluster")  // .cluster
    /// ```
    public enum Scope: String, Equatable, Sendable {
        /// This node's value (the default).
        case node
        /// The value across every node of the cluster.
        case cluster
    }

    /// How a cluster-scope destination combines the nodes.
    ///
    /// ```swift
    /// let operation = TrafficServerEntry.Operation(rawValue: "re-calculate")  // .reCalculate
    /// ```
    public enum Operation: String, Equatable, Sendable {
        /// Add up every node's value of the node-scope destination (the default).
        case sum
        /// Replace each variable by its sum over all nodes, then evaluate the expression.
        case reCalculate = "re-calculate"
    }

    /// One `<destination>`: the name the result is stored under, with its scope and operation.
    ///
    /// ```swift
    /// let destination = entries[0].destinations[1]
    /// print(destination.name, destination.scope, destination.operation)  // proxy.cluster.… cluster sum
    /// ```
    public struct Destination: Equatable, Sendable {
        /// The metric name the result is stored under.
        public var name: String
        /// The `scope` attribute: node (the default) or cluster.
        public var scope: Scope
        /// The `operation` attribute: sum (the default) or re-calculate.
        public var operation: Operation
        /// The 1-based line of the `<destination>` tag.
        public var line: Int
        /// The 1-based column of the `<destination>` tag.
        public var column: Int

        /// Creates a destination.
        ///
        /// ```swift
        /// let d = TrafficServerEntry.Destination(name: "proxy.node.x", scope: .node, operation: .sum, line: 3, column: 9)
        /// ```
        public init(name: String, scope: Scope, operation: Operation, line: Int, column: Int) {
            self.name = name
            self.scope = scope
            self.operation = operation
            self.line = line
            self.column = column
        }
    }

    /// The 1-based index of the entry among the file's `<statistics>` elements.
    public var index: Int
    /// The destinations, in file order: at most one of each scope, at least one in all.
    public var destinations: [Destination]
    /// The expression text, leading and trailing whitespace removed, entities replaced.
    public var expression: String
    /// The 1-based line of the expression's first character in the file.
    public var expressionLine: Int
    /// The 1-based column of the expression's first character in the file.
    public var expressionColumn: Int
    /// The lower bound: the `minimum` attribute or a `<min>` element.
    public var minimum: Double?
    /// The upper bound: the `maximum` attribute or a `<max>` element.
    public var maximum: Double?
    /// The value used when the result is missing or out of range: a `<default>` element.
    public var defaultValue: Double?
    /// The `interval` attribute: the entry runs only when this many seconds have passed since it last ran.
    public var interval: Int?
    /// The `debug` attribute: `debug="1"` asks for the entry's evaluation to be traced.
    public var debug: Bool
    /// The 1-based line of the `<statistics>` tag.
    public var line: Int
    /// The 1-based column of the `<statistics>` tag.
    public var column: Int

    /// Creates an entry.
    ///
    /// ```swift
    /// let e = TrafficServerEntry(index: 1, destinations: [], expression: "a", expressionLine: 4,
    ///     expressionColumn: 13, minimum: 0, maximum: nil, defaultValue: nil, interval: nil, debug: false,
    ///     line: 2, column: 5)
    /// ```
    public init(
        index: Int, destinations: [Destination], expression: String, expressionLine: Int, expressionColumn: Int,
        minimum: Double?, maximum: Double?, defaultValue: Double?, interval: Int?, debug: Bool, line: Int, column: Int
    ) {
        self.index = index
        self.destinations = destinations
        self.expression = expression
        self.expressionLine = expressionLine
        self.expressionColumn = expressionColumn
        self.minimum = minimum
        self.maximum = maximum
        self.defaultValue = defaultValue
        self.interval = interval
        self.debug = debug
        self.line = line
        self.column = column
    }

    /// The file's `(line, column)` of the expression's character at a 1-based `offset` (in Unicode scalars).
    ///
    /// An expression compiler reports columns within ``expression``; this maps them back into the
    /// file, across the expression's line breaks. Exact unless the expression's text used an entity
    /// reference or a CDATA section (then the columns after it are approximate).
    ///
    /// ```swift
    /// let (line, column) = entry.expressionPosition(offset: 12)  // where the 12th character is in the file
    /// ```
    public func expressionPosition(offset: Int) -> (line: Int, column: Int) {
        var line = expressionLine
        var column = expressionColumn
        for scalar in expression.unicodeScalars.prefix(max(0, offset - 1)) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    /// The node-scope destination, if the entry has one.
    ///
    /// ```swift
    /// entries[0].nodeDestination?.name  // "proxy.node.http.user_agents_total_documents_served"
    /// ```
    public var nodeDestination: Destination? { destinations.first { $0.scope == .node } }

    /// The cluster-scope destination, if the entry has one.
    ///
    /// ```swift
    /// entries[0].clusterDestination?.operation  // .sum
    /// ```
    public var clusterDestination: Destination? { destinations.first { $0.scope == .cluster } }
}

/// A `stats.config.xml` that cannot be loaded: the file, the position, the entry if any, and why.
///
/// ```swift
/// do { _ = try TrafficServerConfig.load(path: "stats.config.xml") } catch { print(error) }
/// // stats.config.xml:12:9: entry 2: second node-scope destination 'b' (the first is 'a' at 11:9)
/// ```
public struct TrafficServerConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, broadly.
    ///
    /// ```swift
    /// if error.code == .syntax { print("not well-formed XML") }
    /// ```
    public enum Code: String, Equatable, Sendable {
        /// The file is not well-formed XML (or not UTF-8, or has a forbidden character).
        case syntax
        /// The XML is well-formed but not in the schema Traffic Server read.
        case schema
        /// The file, or something in it, is larger or deeper than the reader's limits.
        case overLimit
        /// The file could not be read.
        case io
    }

    /// The category of the failure.
    public let code: Code
    /// The file concerned.
    public let file: String
    /// The 1-based line, or 0 when the error has no position (the file could not be read).
    public let line: Int
    /// The 1-based column, or 0 when the error has no position.
    public let column: Int
    /// The 1-based index of the `<statistics>` entry concerned, if any.
    public let entry: Int?
    /// What is wrong, in words.
    public let reason: String

    /// Creates an error.
    ///
    /// ```swift
    /// let e = TrafficServerConfigError(.schema, file: "s.xml", line: 3, column: 5, entry: 1, "no <expression>")
    /// ```
    public init(_ code: Code, file: String, line: Int, column: Int, entry: Int? = nil, _ reason: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.entry = entry
        self.reason = reason
    }

    /// `file:line:column: entry N: reason` (the position and entry when known).
    ///
    /// ```swift
    /// print(error)  // stats.config.xml:40:5: entry 3: no <expression>
    /// ```
    public var description: String {
        let place = line > 0 ? "\(file):\(line):\(column)" : file
        let entryText = entry.map { "entry \($0): " } ?? ""
        return "\(place): \(entryText)\(reason)"
    }
}
