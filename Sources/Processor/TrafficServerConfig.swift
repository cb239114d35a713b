#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loads Traffic Server's `stats.config.xml`, in the schema its statistics processor really read.
///
/// The root is `<ink:statistics>`; each `<statistics minimum= maximum= interval= debug=>` holds
/// one or two `<destination scope= operation=>NAME</destination>` and exactly one
/// `<expression>TEXT</expression>`. `<min>`, `<max>` and `<default>`, promised by the design
/// notes, are accepted as the bounds and the default. Anything else is an error with its
/// position (see `docs/TRAFFIC-SERVER.md`).
///
/// ```swift
/// let entries = try TrafficServerConfig.load(path: "/etc/trafficserver/stats.config.xml")
/// for entry in entries { print(entry.destinations.map(\.name), entry.expression) }
/// ```
public enum TrafficServerConfig {
    /// The largest file accepted, in bytes (the shipped file is 77 KB).
    ///
    /// ```swift
    /// print(TrafficServerConfig.maxFileSize)  // 4194304
    /// ```
    public static let maxFileSize = 4 << 20

    /// Reads and validates the file at `path`.
    ///
    /// ```swift
    /// let entries = try TrafficServerConfig.load(path: "stats.config.xml")
    /// print(entries.count)  // 142 for Traffic Server's stats.config.xml.default
    /// ```
    public static func load(path: String) throws(TrafficServerConfigError) -> [TrafficServerEntry] {
        let bytes = try readFile(path)
        return try parse(bytes, file: path)
    }

    /// Validates a file's contents; `file` names it in errors.
    ///
    /// ```swift
    /// let xml = "<ink:statistics><statistics><destination>d</destination><expression>a</expression></statistics></ink:statistics>"
    /// let entries = try TrafficServerConfig.parse(Array(xml.utf8), file: "inline.xml")
    /// ```
    public static func parse(_ bytes: [UInt8], file: String) throws(TrafficServerConfigError) -> [TrafficServerEntry] {
        var limits = XMLLimits()
        limits.maxBytes = maxFileSize
        let root: XMLElement
        do {
            root = try XMLReader.parse(bytes, limits: limits)
        } catch {
            let code: TrafficServerConfigError.Code =
                switch error.kind {
                case .tooDeep, .tooLarge: .overLimit
                default: .syntax
                }
            throw TrafficServerConfigError(
                code, file: file, line: error.position.line, column: error.position.column, error.reason)
        }
        var loader = Loader(file: file)
        return try loader.document(root)
    }

    private static func readFile(_ path: String) throws(TrafficServerConfigError) -> [UInt8] {
        do throws(BoundedFile.Failure) {
            return try BoundedFile.contents(of: path, limit: maxFileSize)
        } catch {
            let code: TrafficServerConfigError.Code = if case .tooLarge = error { .overLimit } else { .io }
            throw TrafficServerConfigError(code, file: path, line: 0, column: 0, error.reason)
        }
    }
}

/// Walks the XML tree of a `stats.config.xml` and builds the entries.
private struct Loader {
    let file: String
    var entryIndex = 0

    init(file: String) {
        self.file = file
    }

    private func error(_ position: XMLPosition, _ reason: String, entry: Int? = nil) -> TrafficServerConfigError {
        TrafficServerConfigError(
            .schema, file: file, line: position.line, column: position.column, entry: entry, reason)
    }

    private static func isNamespaceDeclaration(_ attribute: XMLAttribute) -> Bool {
        attribute.name == "xmlns" || attribute.name.hasPrefix("xmlns:")
    }

    private static func isSpace(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\n"
    }

    private static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace(Character($0)) }),
            let last = scalars.lastIndex(where: { !isSpace(Character($0)) })
        else { return "" }
        return String(scalars[first...last])
    }

    /// Checks that `element` holds only whitespace text and returns its child elements.
    private func childElements(of element: XMLElement, entry: Int?, expected: String) throws(TrafficServerConfigError)
        -> [XMLElement]
    {
        var result: [XMLElement] = []
        for child in element.children {
            switch child {
            case .element(let element): result.append(element)
            case .text(let text):
                if let position = text.contentPosition {
                    let sample = String(Self.trimmed(text.value).prefix(40))
                    throw error(
                        position, "unexpected text '\(sample)' in <\(element.name)>: expected \(expected)", entry: entry
                    )
                }
            }
        }
        return result
    }

    /// The text of an element that holds text only, trimmed, with the position of its first character.
    private func textContent(of element: XMLElement, entry: Int) throws(TrafficServerConfigError) -> (
        String, XMLPosition?
    ) {
        var value = ""
        var position: XMLPosition?
        for child in element.children {
            switch child {
            case .element(let inner):
                throw error(inner.position, "<\(element.name)> holds text only, found <\(inner.name)>", entry: entry)
            case .text(let text):
                value += text.value
                if position == nil { position = text.contentPosition }
            }
        }
        return (Self.trimmed(value), position)
    }

    mutating func document(_ root: XMLElement) throws(TrafficServerConfigError) -> [TrafficServerEntry] {
        guard root.name == "ink:statistics" else {
            throw error(root.position, "the root element is <\(root.name)>, expected <ink:statistics>")
        }
        for attribute in root.attributes where !Self.isNamespaceDeclaration(attribute) {
            throw error(attribute.position, "unknown attribute '\(attribute.name)' on <ink:statistics>")
        }
        var entries: [TrafficServerEntry] = []
        for element in try childElements(of: root, entry: nil, expected: "<statistics> elements") {
            guard element.name == "statistics" else {
                throw error(
                    element.position, "unknown element <\(element.name)> in <ink:statistics>: expected <statistics>")
            }
            entryIndex += 1
            entries.append(try statistics(element))
        }
        return entries
    }

    private func number(_ text: String, field: String, at position: XMLPosition, entry: Int)
        throws(TrafficServerConfigError) -> Double
    {
        let value = Self.trimmed(text)
        guard Self.isDecimal(value), let number = Double(value), number.isFinite else {
            throw error(position, "\(field) '\(value)' is not a decimal number", entry: entry)
        }
        return number
    }

    /// `[+-]digits[.digits][e[+-]digits]` or `[+-].digits…`: what a configuration means by a number.
    static func isDecimal(_ text: String) -> Bool {
        var scalars = Substring(text).unicodeScalars[...]
        func digits() -> Int {
            var count = 0
            while let first = scalars.first, first.properties.numericType == .decimal, first.isASCII {
                scalars.removeFirst()
                count += 1
            }
            return count
        }
        if scalars.first == "+" || scalars.first == "-" { scalars.removeFirst() }
        var mantissa = digits()
        if scalars.first == "." {
            scalars.removeFirst()
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if scalars.first == "e" || scalars.first == "E" {
            scalars.removeFirst()
            if scalars.first == "+" || scalars.first == "-" { scalars.removeFirst() }
            guard digits() > 0 else { return false }
        }
        return scalars.isEmpty
    }

    private func statistics(_ element: XMLElement) throws(TrafficServerConfigError) -> TrafficServerEntry {
        let index = entryIndex
        var minimum: Double?
        var maximum: Double?
        var defaultValue: Double?
        var interval: Int?
        var debug = false
        for attribute in element.attributes where !Self.isNamespaceDeclaration(attribute) {
            switch attribute.name {
            case "minimum":
                minimum = try number(attribute.value, field: "minimum", at: attribute.position, entry: index)
            case "maximum":
                maximum = try number(attribute.value, field: "maximum", at: attribute.position, entry: index)
            case "interval":
                let value = Self.trimmed(attribute.value)
                guard !value.isEmpty, value.count <= 9, value.allSatisfy({ $0.isASCII && $0.isNumber }),
                    let seconds = Int(value)
                else {
                    throw error(
                        attribute.position, "interval '\(value)' is not a whole number of seconds (0 to 999999999)",
                        entry: index)
                }
                interval = seconds
            case "debug":
                switch Self.trimmed(attribute.value) {
                case "1": debug = true
                case "0": debug = false
                default:
                    throw error(attribute.position, "debug '\(attribute.value)' must be 0 or 1", entry: index)
                }
            default:
                throw error(
                    attribute.position,
                    "unknown attribute '\(attribute.name)' on <statistics> (expected minimum, maximum, interval, debug)",
                    entry: index)
            }
        }
        var destinations: [TrafficServerEntry.Destination] = []
        var expression: (text: String, position: XMLPosition, tag: XMLPosition)?
        let expected = "<destination>, <expression>, <min>, <max> or <default>"
        for child in try childElements(of: element, entry: index, expected: expected) {
            switch child.name {
            case "destination":
                let destination = try self.destination(child, entry: index)
                if let first = destinations.first(where: { $0.scope == destination.scope }) {
                    throw error(
                        child.position,
                        "second \(destination.scope.rawValue)-scope destination '\(destination.name)' (the first is "
                            + "'\(first.name)' at \(first.line):\(first.column)); at most one node-scope and one "
                            + "cluster-scope destination per entry",
                        entry: index)
                }
                destinations.append(destination)
            case "expression":
                try noAttributes(child, entry: index)
                if let first = expression {
                    throw error(child.position, "second <expression> (the first is at \(first.tag))", entry: index)
                }
                let (text, position) = try textContent(of: child, entry: index)
                guard let position, !text.isEmpty else {
                    throw error(child.position, "empty <expression>", entry: index)
                }
                expression = (text, position, child.position)
            case "min", "max", "default":
                try noAttributes(child, entry: index)
                let (text, position) = try textContent(of: child, entry: index)
                let field = child.name == "min" ? "minimum" : child.name == "max" ? "maximum" : "default"
                let value = try number(text, field: "<\(child.name)>", at: position ?? child.position, entry: index)
                let previous = child.name == "min" ? minimum : child.name == "max" ? maximum : defaultValue
                if previous != nil {
                    throw error(child.position, "\(field) given twice (attribute or element)", entry: index)
                }
                switch child.name {
                case "min": minimum = value
                case "max": maximum = value
                default: defaultValue = value
                }
            default:
                throw error(
                    child.position, "unknown element <\(child.name)> in <statistics>: expected \(expected)",
                    entry: index)
            }
        }
        guard !destinations.isEmpty else {
            throw error(element.position, "no <destination>", entry: index)
        }
        guard let expression else {
            throw error(element.position, "no <expression>", entry: index)
        }
        if let minimum, let maximum, minimum > maximum {
            throw error(element.position, "minimum \(minimum) is greater than maximum \(maximum)", entry: index)
        }
        return TrafficServerEntry(
            index: index, destinations: destinations, expression: expression.text,
            expressionLine: expression.position.line, expressionColumn: expression.position.column,
            minimum: minimum, maximum: maximum, defaultValue: defaultValue, interval: interval, debug: debug,
            line: element.position.line, column: element.position.column)
    }

    private func noAttributes(_ element: XMLElement, entry: Int) throws(TrafficServerConfigError) {
        for attribute in element.attributes where !Self.isNamespaceDeclaration(attribute) {
            throw error(attribute.position, "unknown attribute '\(attribute.name)' on <\(element.name)>", entry: entry)
        }
    }

    private func destination(_ element: XMLElement, entry: Int) throws(TrafficServerConfigError)
        -> TrafficServerEntry.Destination
    {
        var scope = TrafficServerEntry.Scope.node
        var operation = TrafficServerEntry.Operation.sum
        for attribute in element.attributes where !Self.isNamespaceDeclaration(attribute) {
            switch attribute.name {
            case "scope":
                guard let value = TrafficServerEntry.Scope(rawValue: attribute.value) else {
                    throw error(
                        attribute.position, "scope '\(attribute.value)' must be 'node' or 'cluster'", entry: entry)
                }
                scope = value
            case "operation":
                guard let value = TrafficServerEntry.Operation(rawValue: attribute.value) else {
                    throw error(
                        attribute.position, "operation '\(attribute.value)' must be 'sum' or 're-calculate'",
                        entry: entry)
                }
                operation = value
            default:
                throw error(
                    attribute.position,
                    "unknown attribute '\(attribute.name)' on <destination> (expected scope, operation)", entry: entry)
            }
        }
        let (name, position) = try textContent(of: element, entry: entry)
        guard let position, !name.isEmpty else {
            throw error(element.position, "empty <destination>", entry: entry)
        }
        if name.contains(where: { Self.isSpace($0) }) {
            throw error(position, "destination name '\(name)' contains whitespace", entry: entry)
        }
        return TrafficServerEntry.Destination(
            name: name, scope: scope, operation: operation, line: element.position.line,
            column: element.position.column)
    }
}
