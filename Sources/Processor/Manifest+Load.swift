#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Manifest {
    /// The largest manifest accepted, in bytes.
    ///
    /// ```swift
    /// print(Manifest.maxFileSize)  // 4194304
    /// ```
    public static let maxFileSize = 4 << 20

    /// The longest destination name or constant name, in UTF-8 bytes.
    ///
    /// ```swift
    /// print(Manifest.maxNameLength)  // 1024
    /// ```
    public static let maxNameLength = 1024

    /// Reads and checks the manifest at `path`: JSON, or Traffic Server XML when its first
    /// non-blank character is `<`.
    ///
    /// ```swift
    /// let manifest = try Manifest.load(path: "/etc/trafficserver/stats.config.xml")
    /// print(manifest.entries.count)  // 142
    /// ```
    public static func load(
        path: String, functions: [ExpressionFunction] = ExpressionFunction.registered()
    ) throws(ManifestErrors) -> Manifest {
        let bytes = try readManifestFile(path)
        return try parse(bytes, file: path, functions: functions)
    }

    /// A path a manifest names (a `sources.roots` directory, a plugin's shared object) as
    /// seen from the manifest's directory: a relative path is joined to the directory of
    /// `manifestFile`; `.` components and repeated `/` are dropped (`..` is kept as it is).
    ///
    /// ```swift
    /// Manifest.resolve("./stats", relativeTo: "./conf/m.json")  // "conf/stats"
    /// Manifest.resolve("stats", relativeTo: "m.json")           // "stats"
    /// Manifest.resolve("/run/stats", relativeTo: "conf/m.json") // "/run/stats"
    /// ```
    public static func resolve(_ path: String, relativeTo manifestFile: String) -> String {
        var joined = path
        if !path.hasPrefix("/"), let slash = manifestFile.lastIndex(of: "/") {
            joined = String(manifestFile[...slash]) + path
        }
        let components = joined.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        if joined.hasPrefix("/") { return "/" + components }
        return components.isEmpty ? "." : components
    }

    /// Checks a manifest's contents; `file` names it in errors.
    ///
    /// ```swift
    /// let json = #"{ "entries": [ { "destination": "b", "type": "integer", "expression": "a * 2" } ] }"#
    /// let manifest = try Manifest.parse(Array(json.utf8), file: "inline.json")
    /// ```
    public static func parse(
        _ bytes: [UInt8], file: String, functions: [ExpressionFunction] = ExpressionFunction.registered()
    ) throws(ManifestErrors) -> Manifest {
        var first = bytes.startIndex
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { first += 3 }
        while first < bytes.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[first]) { first += 1 }
        if first < bytes.endIndex, bytes[first] == UInt8(ascii: "<") {
            return try fromTrafficServer(bytes, file: file, functions: functions)
        }
        var loader = ManifestLoader(file: file, functions: functions)
        let manifest = loader.load(bytes)
        guard loader.errors.isEmpty, let manifest else {
            // File order, so a checker prints them like a compiler (the sort is stable).
            throw ManifestErrors(errors: loader.errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return manifest
    }

    /// Converts a Traffic Server `stats.config.xml` (see `docs/TRAFFIC-SERVER.md`).
    private static func fromTrafficServer(
        _ bytes: [UInt8], file: String, functions: [ExpressionFunction]
    ) throws(ManifestErrors) -> Manifest {
        let tsEntries: [TrafficServerEntry]
        do {
            tsEntries = try TrafficServerConfig.parse(bytes, file: file)
        } catch {
            throw ManifestErrors(errors: [
                ManifestError(
                    file: file, line: error.line, column: error.column, entry: error.entry, reason: error.reason)
            ])
        }
        let compiler = ExpressionCompiler(functions: functions)
        var errors: [ManifestError] = []
        var entries: [Entry] = []
        for ts in tsEntries {
            let destinations = ts.destinations.map {
                Destination(
                    // A node destination read the node's own totals: re-calculate at host scope.
                    // The operation attribute only ever meant something on the cluster scope.
                    name: $0.name, scope: $0.scope == .cluster ? .cluster : .host,
                    operation: $0.scope == .cluster && $0.operation == .sum ? .sum : .reCalculate, line: $0.line,
                    column: $0.column)
            }
            let compiled: CompiledExpression
            do {
                compiled = try compiler.compile(ts.expression)
            } catch {
                let offset = scalarOffset(in: ts.expression, line: error.line, column: error.column)
                let (line, column) = ts.expressionPosition(offset: offset)
                errors.append(
                    ManifestError(
                        file: file, line: line, column: column, entry: ts.index, destination: destinations.first?.name,
                        field: "expression", reason: error.reason))
                continue
            }
            entries.append(
                Entry(
                    index: ts.index, destinations: destinations, type: inferredType(compiled.root),
                    expression: compiled, interval: ts.interval.flatMap { $0 > 0 ? Double($0) : nil },
                    minimum: ts.minimum.map(number), maximum: ts.maximum.map(number),
                    defaultValue: ts.defaultValue.map(number), unit: nil, description: nil, debug: ts.debug,
                    line: ts.line, column: ts.column))
        }
        errors += orderErrors(
            entries, file: file,
            position: { entry, offset in
                guard let ts = tsEntries.first(where: { $0.index == entry.index }) else {
                    return (entry.line, entry.column)
                }
                return ts.expressionPosition(offset: offset)
            })
        guard errors.isEmpty else { throw ManifestErrors(errors: errors) }
        return Manifest(file: file, sources: Sources(), interval: 1, constants: [:], entries: entries)
    }

    /// Traffic Server's XML has no type: a division, or a fractional literal or constant, makes
    /// the entry `float`; anything else is `integer`.
    static func inferredType(_ node: ExpressionNode) -> ValueType {
        func isFloat(_ node: ExpressionNode) -> Bool {
            switch node {
            case .number(let value), .constant(_, let value):
                if case .double = value { return true }
                return false
            case .metric, .delta, .elapsed: return false
            case .negate(let inner): return isFloat(inner)
            case .binary(let op, let lhs, let rhs): return op == .divide || isFloat(lhs) || isFloat(rhs)
            case .call(_, let arguments):
                return arguments.contains {
                    if case .value(let inner) = $0 { return isFloat(inner) }
                    return false
                }
            }
        }
        return isFloat(node) ? .float : .integer
    }

    /// A bound from the XML: an integer when it is one, else a double.
    private static func number(_ value: Double) -> Number {
        if value == value.rounded(), let int = Int64(exactly: value) { return .int(int) }
        return .double(value)
    }

    /// The 1-based scalar offset in `source` of a 1-based line and column.
    static func scalarOffset(in source: String, line: Int, column: Int) -> Int {
        var offset = 1
        var currentLine = 1
        var currentColumn = 1
        for scalar in source.unicodeScalars {
            if currentLine == line, currentColumn == column { return offset }
            if scalar == "\n" {
                currentLine += 1
                currentColumn = 1
            } else {
                currentColumn += 1
            }
            offset += 1
        }
        return offset
    }

    /// The most glob-against-destination matches the order checks try; past it, the remaining
    /// globs are left to evaluation (a glob never matches a later entry's value before it is
    /// computed in a pass anyway: it sees the previous pass's).
    static let globCheckBudget = 10_000_000

    /// Duplicate destinations, self references, cycles and forward references (plain, `#` and
    /// glob references).
    ///
    /// `position` maps an entry and a 1-based scalar offset in its expression to the file.
    static func orderErrors(
        _ entries: [Entry], file: String, position: (Entry, Int) -> (line: Int, column: Int)
    ) -> [ManifestError] {
        var errors: [ManifestError] = []
        var writer: [String: Int] = [:]  // destination → position in `entries`
        for (slot, entry) in entries.enumerated() {
            for destination in entry.destinations {
                if let earlier = writer[destination.name] {
                    let first = entries[earlier].destinations.first { $0.name == destination.name }
                    errors.append(
                        ManifestError(
                            file: file, line: destination.line, column: destination.column, entry: entry.index,
                            destination: entry.destinations.first?.name, field: "destination",
                            reason: "'\(destination.name)' is already written by entry \(entries[earlier].index)"
                                + (first.map { " (at \($0.line):\($0.column))" } ?? "")))
                } else {
                    writer[destination.name] = slot
                }
            }
        }
        // What each glob argument matches among the destinations, within a budget of match
        // attempts (a hostile manifest of many globs and destinations stays cheap to load).
        let destinations = writer.keys.sorted().map { (name: $0, scalars: Array($0.unicodeScalars)) }
        var budget = globCheckBudget
        var globTargets: [String: [Int]] = [:]
        for entry in entries {
            for reference in entry.expression.references where reference.kind == .glob {
                guard globTargets[reference.name] == nil, budget >= destinations.count else { continue }
                budget -= destinations.count
                let pattern = Array(reference.name.unicodeScalars)
                globTargets[reference.name] = destinations.compactMap { d in
                    EngineIndex.matches(d.scalars, pattern) ? writer[d.name] : nil
                }
            }
        }
        func targets(_ reference: ExpressionReference) -> [Int] {
            switch reference.kind {
            case .metric, .delta: writer[reference.name].map { [$0] } ?? []
            case .glob: globTargets[reference.name] ?? []
            case .elapsed: []
            }
        }
        // Edges: entry → the entries whose destinations it reads.
        let edges: [[Int]] = entries.map { entry in entry.expression.references.flatMap(targets) }
        func reaches(from start: Int, to target: Int) -> Bool {
            var seen: Set<Int> = [start]
            var queue = [start]
            while let next = queue.popLast() {
                if next == target { return true }
                for neighbour in edges[next] where seen.insert(neighbour).inserted { queue.append(neighbour) }
            }
            return false
        }
        for (slot, entry) in entries.enumerated() {
            for reference in entry.expression.references {
                guard let target = targets(reference).filter({ $0 >= slot }).min() else { continue }
                let offset = scalarOffset(in: entry.expression.source, line: reference.line, column: reference.column)
                let (line, column) = position(entry, offset)
                // A glob names what it matched, so the message says which destination is at stake.
                let what: String
                if reference.kind == .glob {
                    let matched = entries[target].destinations.first { d in
                        EngineIndex.matches(Array(d.name.unicodeScalars), Array(reference.name.unicodeScalars))
                    }
                    what = "glob '\(reference.name)' matches '\(matched?.name ?? "?")', which"
                } else {
                    what = "'\(reference.name)'"
                }
                let reason: String
                if target == slot {
                    reason = "cycle: \(what) is this entry's own destination"
                } else if reaches(from: target, to: slot) {
                    reason = "cycle: \(what) is written by entry \(entries[target].index), which depends on this entry"
                } else if reference.kind == .glob {
                    reason =
                        "forward reference: \(what) is written by later entry \(entries[target].index): "
                        + "manifest order is evaluation order, so move this entry after it or narrow the glob"
                } else {
                    reason =
                        "forward reference to '\(reference.name)', written by later entry \(entries[target].index): "
                        + "manifest order is evaluation order, so move this entry after it"
                }
                errors.append(
                    ManifestError(
                        file: file, line: line, column: column, entry: entry.index,
                        destination: entry.destinations.first?.name, field: "expression", reason: reason))
            }
        }
        return errors
    }

    static func readManifestFile(_ path: String) throws(ManifestErrors) -> [UInt8] {
        do throws(BoundedFile.Failure) {
            return try BoundedFile.contents(of: path, limit: maxFileSize)
        } catch {
            throw ManifestErrors(errors: [ManifestError(file: path, line: 0, column: 0, reason: error.reason)])
        }
    }
}
