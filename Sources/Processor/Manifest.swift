/// A processor manifest: where the inputs come from, the pass interval, constants, and the
/// ordered entries that derive new metrics (see `docs/MANIFEST.md`).
///
/// Manifest order is evaluation order: an entry sees the destinations of the entries before it
/// in the same pass, never those after it.
///
/// ```swift
/// let manifest = try Manifest.load(path: "web.manifest.json")
/// for entry in manifest.entries { print(entry.destinations.map(\.name), entry.expression.source) }
/// ```
public struct Manifest: Sendable {
    /// Which stats files the processor reads.
    ///
    /// ```swift
    /// manifest.sources.roots  // ["/run/mmstats"]
    /// ```
    public struct Sources: Equatable, Sendable {
        /// Stats roots (directories) to scan; empty means the default root.
        public var roots: [String]
        /// Globs of file paths (relative to a root, or absolute); empty means every file.
        public var files: [String]
        /// Application names to read; empty means all.
        public var applications: [String]
        /// Model names to read; empty means all.
        public var models: [String]

        /// Creates a source selection.
        ///
        /// ```swift
        /// let sources = Manifest.Sources(roots: ["/run/mmstats"], files: [], applications: ["web"], models: [])
        /// ```
        public init(roots: [String] = [], files: [String] = [], applications: [String] = [], models: [String] = []) {
            self.roots = roots
            self.files = files
            self.applications = applications
            self.models = models
        }
    }

    /// The stored type of a destination: the result is converted to it.
    ///
    /// ```swift
    /// Manifest.ValueType(rawValue: "counter")  // .counter
    /// ```
    public enum ValueType: String, Equatable, Sendable, CaseIterable {
        /// A 64-bit signed integer (a double result is rounded to the nearest, halves away from zero).
        case integer
        /// A monotonic 64-bit integer total.
        case counter
        /// A double.
        case float
    }

    /// Where an entry's inputs are taken from and its result computed.
    ///
    /// ```swift
    /// Manifest.Scope(rawValue: "process")  // .process
    /// ```
    public enum Scope: String, Equatable, Sendable, CaseIterable {
        /// One stats file (one thread).
        case thread
        /// A process: its threads' files summed.
        case process
        /// This host: every process summed (the default).
        case host
        /// Across machines: validated here, computed by Prometheus from generated rules.
        case cluster
    }

    /// How a value combines across the files of its scope.
    ///
    /// ```swift
    /// Manifest.Operation(rawValue: "re-calculate")  // .reCalculate
    /// ```
    public enum Operation: String, Equatable, Sendable, CaseIterable {
        /// Evaluate per file, then add the results up (the default at `cluster` scope, as in
        /// Traffic Server: evaluate per host, add the hosts' results).
        case sum
        /// Add up each input across the scope first (deltas included), then evaluate once (the
        /// default at `thread`, `process` and `host` scope: a ratio of totals, a percentile of
        /// the merged histograms, one count).
        case reCalculate = "re-calculate"

        /// The operation of a destination that names none.
        ///
        /// ```swift
        /// Manifest.Operation.defaultOperation(at: .host)     // .reCalculate
        /// Manifest.Operation.defaultOperation(at: .cluster)  // .sum
        /// ```
        public static func defaultOperation(at scope: Scope) -> Operation {
            scope == .cluster ? .sum : .reCalculate
        }
    }

    /// Where one result is stored.
    ///
    /// ```swift
    /// let d = Manifest.Destination(name: "web.rps", scope: .host, operation: .sum, line: 5, column: 28)
    /// ```
    public struct Destination: Equatable, Sendable {
        /// The metric name.
        public var name: String
        /// The scope.
        public var scope: Scope
        /// The operation.
        public var operation: Operation
        /// The 1-based line of the name in the file.
        public var line: Int
        /// The 1-based column of the name in the file.
        public var column: Int

        /// Creates a destination.
        ///
        /// ```swift
        /// let d = Manifest.Destination(name: "web.rps", scope: .host, operation: .sum, line: 5, column: 28)
        /// ```
        public init(name: String, scope: Scope, operation: Operation, line: Int, column: Int) {
            self.name = name
            self.scope = scope
            self.operation = operation
            self.line = line
            self.column = column
        }
    }

    /// One derived statistic.
    ///
    /// ```swift
    /// let entry = manifest.entries[0]
    /// print(entry.index, entry.type, entry.expression.source)  // 1 float #requests * $HRTIME_SECOND / _DIFFTIME
    /// ```
    public struct Entry: Sendable {
        /// The 1-based position in the manifest (evaluation order).
        public var index: Int
        /// The destinations (at least one).
        public var destinations: [Destination]
        /// The stored type.
        public var type: ValueType
        /// The compiled expression.
        public var expression: CompiledExpression
        /// Run only when this many seconds have passed since the entry last ran; nil: every pass.
        public var interval: Double?
        /// The lower bound, inclusive.
        public var minimum: Number?
        /// The upper bound, inclusive.
        public var maximum: Number?
        /// The value stored when the result is missing or out of bounds.
        public var defaultValue: Number?
        /// The unit, for people and exporters (`requests/s`).
        public var unit: String?
        /// A description, for people and exporters.
        public var description: String?
        /// Trace this entry's evaluation.
        public var debug: Bool
        /// The 1-based line of the entry in the file.
        public var line: Int
        /// The 1-based column of the entry in the file.
        public var column: Int

        /// Applies the bounds and the default to a result.
        ///
        /// A missing result (nil) becomes the default, or stays missing. A result below `minimum`
        /// or above `maximum` becomes the default when there is one, else the bound it crossed.
        ///
        /// ```swift
        /// // minimum 0, maximum 100, no default:
        /// entry.bounded(.int(150))  // .int(100)
        /// entry.bounded(nil)        // nil
        /// ```
        public func bounded(_ result: Number?) -> Number? {
            guard let result else { return defaultValue }
            if let minimum, Number.isLess(result, minimum) { return defaultValue ?? minimum }
            if let maximum, Number.isLess(maximum, result) { return defaultValue ?? maximum }
            return result
        }
    }

    /// A plugin the manifest names: a compiled-in plugin's name, or a path (it has a `/`) to a
    /// shared object (docs/PLUGINS.md), with its position in the file.
    ///
    /// ```swift
    /// manifest.plugins.map(\.spec)  // ["windows", "./plugins/libApdex.so"]
    /// ```
    public struct PluginSpec: Sendable, Hashable {
        /// The name or path, as written.
        public var spec: String
        /// The 1-based line of the string.
        public var line: Int
        /// The 1-based column of the string.
        public var column: Int

        /// Creates a spec.
        ///
        /// ```swift
        /// Manifest.PluginSpec(spec: "windows", line: 2, column: 17)
        /// ```
        public init(spec: String, line: Int, column: Int) {
            self.spec = spec
            self.line = line
            self.column = column
        }
    }

    /// The file the manifest was loaded from (as given).
    public var file: String
    /// The plugins it names, in order (none for Traffic Server XML).
    public var plugins: [PluginSpec] = []

    /// Where the results go besides the processor's own stats file.
    ///
    /// ```swift
    /// manifest.outputs.listen  // "127.0.0.1:9464": mmstats run serves them over HTTP too
    /// ```
    public struct Outputs: Sendable, Hashable {
        /// An HTTP address: `mmstats run` serves every metric and its results there, as
        /// `mmstats serve --manifest` does.
        public var listen: String?
        /// No outputs beyond the stats file.
        public init(listen: String? = nil) { self.listen = listen }
    }
    /// The input selection.
    public var sources: Sources
    /// The outputs besides the results file.
    public var outputs = Outputs()
    /// Seconds between passes (default 1).
    public var interval: Double
    /// The manifest's constants, names without `$` (the built-in six are not repeated here).
    public var constants: [String: Number]
    /// The entries, in evaluation order.
    public var entries: [Entry]
}

/// One load error of a manifest: file, position, entry, field and reason.
///
/// ```swift
/// print(error)  // web.json:9:31: entry 2 (web.rps): expression: unknown constant '$FOO'
/// ```
public struct ManifestError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// The 1-based line (0 when the file could not be read).
    public var line: Int
    /// The 1-based column (0 when the file could not be read).
    public var column: Int
    /// The 1-based entry index, when the error is inside an entry.
    public var entry: Int?
    /// The entry's first destination, when known.
    public var destination: String?
    /// The field (`expression`, `minimum`, `sources.roots`, …), when the error is in one.
    public var field: String?
    /// Why.
    public var reason: String

    /// Creates an error.
    ///
    /// ```swift
    /// ManifestError(file: "m.json", line: 3, column: 7, entry: 1, destination: "a", field: "type", reason: "…")
    /// ```
    public init(
        file: String, line: Int, column: Int, entry: Int? = nil, destination: String? = nil, field: String? = nil,
        reason: String
    ) {
        self.file = file
        self.line = line
        self.column = column
        self.entry = entry
        self.destination = destination
        self.field = field
        self.reason = reason
    }

    /// `file:line:column: entry N (destination): field: reason`, leaving out the parts not known.
    ///
    /// ```swift
    /// ManifestError(file: "m.json", line: 3, column: 7, entry: 1, destination: "a", field: "type",
    ///     reason: "unknown type 'int'").description
    /// // "m.json:3:7: entry 1 (a): type: unknown type 'int'"
    /// ```
    public var description: String {
        var text = line > 0 ? "\(file):\(line):\(column): " : "\(file): "
        if let entry {
            text += destination.map { "entry \(entry) (\($0)): " } ?? "entry \(entry): "
        }
        if let field { text += "\(field): " }
        return text + reason
    }
}

/// Every load error of a manifest, in file order, so a checker can print them all at once.
///
/// ```swift
/// do { _ = try Manifest.load(path: "m.json") } catch { for e in error.errors { print(e) } }
/// ```
public struct ManifestErrors: Error, Equatable, Sendable, CustomStringConvertible {
    /// The errors (at least one).
    public var errors: [ManifestError]

    /// Creates a list.
    ///
    /// ```swift
    /// ManifestErrors(errors: [error])
    /// ```
    public init(errors: [ManifestError]) { self.errors = errors }

    /// One error per line.
    ///
    /// ```swift
    /// print(errors)  // m.json:3:7: entry 1 (a): type: unknown type 'int'
    /// ```
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
