/// Builds a `Manifest` from JSON text, collecting every error instead of stopping at the first.
struct ManifestLoader {
    let file: String
    let functions: [ExpressionFunction]
    var errors: [ManifestError] = []

    /// The entry being read, for error prefixes.
    private var entryIndex: Int?
    private var entryName: String?

    init(file: String, functions: [ExpressionFunction]) {
        self.file = file
        self.functions = functions
    }

    private mutating func fail(_ at: JSONPosition, _ field: String?, _ reason: String) {
        errors.append(
            ManifestError(
                file: file, line: at.line, column: at.column, entry: entryIndex, destination: entryName, field: field,
                reason: reason))
    }

    private mutating func expected(_ what: String, _ node: JSONNode, _ field: String) {
        fail(node.position, field, "expected \(what), found \(node.kindName)")
    }

    private mutating func string(_ node: JSONNode, _ field: String) -> JSONString? {
        if case .string(let text) = node.value { return text }
        expected("a string", node, field)
        return nil
    }

    private mutating func number(_ node: JSONNode, _ field: String) -> Number? {
        if case .number(let value) = node.value { return value }
        expected("a number", node, field)
        return nil
    }

    private mutating func seconds(_ node: JSONNode, _ field: String) -> Double? {
        guard let value = number(node, field)?.doubleValue else { return nil }
        guard value > 0, value <= 86_400 else {
            fail(node.position, field, "\(value) seconds: expected more than 0 and at most 86400")
            return nil
        }
        return value
    }

    private mutating func strings(_ node: JSONNode, _ field: String) -> [String] {
        guard case .array(let items) = node.value else {
            expected("a list of strings", node, field)
            return []
        }
        return items.compactMap { string($0, field)?.value }
    }

    private mutating func name(_ node: JSONNode, _ field: String) -> JSONString? {
        guard let text = string(node, field) else { return nil }
        if text.value.isEmpty {
            fail(node.position, field, "empty name")
            return nil
        }
        if text.value.utf8.count > Manifest.maxNameLength {
            fail(node.position, field, "name longer than \(Manifest.maxNameLength) bytes")
            return nil
        }
        return text
    }

    private mutating func object(_ node: JSONNode, _ field: String?, keys: Set<String>) -> [JSONMember]? {
        guard case .object(let members) = node.value else {
            expected("an object", node, field ?? "manifest")
            return nil
        }
        for member in members where !keys.contains(member.key) {
            let prefix = field.map { "\($0)." } ?? ""
            fail(
                member.keyPosition, prefix + member.key,
                "unknown key '\(member.key)' (expected one of: \(keys.sorted().joined(separator: ", ")))")
        }
        return members.filter { keys.contains($0.key) }
    }

    mutating func load(_ bytes: [UInt8]) -> Manifest? {
        let root: JSONNode
        do {
            root = try JSONText.parse(bytes, limits: JSONLimits(maxBytes: Manifest.maxFileSize, maxDepth: 64))
        } catch {
            fail(error.position, nil, error.reason)
            return nil
        }
        guard
            let members = object(
                root, nil, keys: ["plugins", "sources", "outputs", "interval", "constants", "entries"])
        else {
            return nil
        }
        var outputs = Manifest.Outputs()
        var plugins: [Manifest.PluginSpec] = []
        var sources = Manifest.Sources()
        var interval = 1.0
        var constants: [String: Number] = [:]
        var entriesNode: JSONNode?
        for member in members {
            switch member.key {
            case "sources":
                guard
                    let fields = object(member.node, "sources", keys: ["roots", "files", "applications", "models"])
                else { continue }
                for field in fields {
                    let values = strings(field.node, "sources.\(field.key)")
                    switch field.key {
                    case "roots":
                        // Relative to the manifest's directory, as `plugins` are.
                        sources.roots = values.map { $0.isEmpty ? $0 : Manifest.resolve($0, relativeTo: file) }
                    case "files": sources.files = values
                    case "applications": sources.applications = values
                    default: sources.models = values
                    }
                }
            case "plugins":
                guard case .array(let items) = member.node.value else {
                    expected("a list of plugin names and paths", member.node, "plugins")
                    continue
                }
                for item in items {
                    guard let text = name(item, "plugins") else { continue }
                    plugins.append(
                        Manifest.PluginSpec(spec: text.value, line: item.position.line, column: item.position.column))
                }
            case "outputs":
                guard let fields = object(member.node, "outputs", keys: ["listen"]) else { continue }
                for field in fields {
                    guard let text = string(field.node, "outputs.listen") else { continue }
                    // The parser `mmstats serve --listen` uses: an address it would refuse is an error here.
                    switch ListenAddress.validate(text.value) {
                    case .success: outputs.listen = text.value
                    case .failure(let error): fail(field.node.position, "outputs.listen", error.description)
                    }
                }
            case "interval":
                interval = seconds(member.node, "interval") ?? interval
            case "constants":
                guard case .object(let items) = member.node.value else {
                    expected("an object of name: number", member.node, "constants")
                    continue
                }
                for item in items {
                    let field = "constants.\(item.key)"
                    if !Self.isConstantName(item.key) {
                        fail(item.keyPosition, field, "a constant name is a letter or '_', then letters, digits or '_'")
                    } else if ExpressionCompiler.builtinConstants[item.key] != nil {
                        fail(item.keyPosition, field, "'$\(item.key)' is built in and cannot be redefined")
                    } else if let value = number(item.node, field) {
                        constants[item.key] = value
                    }
                }
            default:
                entriesNode = member.node
            }
        }
        guard let entriesNode else {
            fail(root.position, "entries", "missing: a manifest needs a list of entries")
            return nil
        }
        guard case .array(let entryNodes) = entriesNode.value else {
            expected("a list", entriesNode, "entries")
            return nil
        }
        let compiler = ExpressionCompiler(constants: constants, functions: functions)
        var entries: [Manifest.Entry] = []
        var expressionText: [Int: JSONString] = [:]  // entry index → its expression's JSON string
        for (offset, node) in entryNodes.enumerated() {
            if let (entry, text) = loadEntry(node, index: offset + 1, compiler: compiler) {
                entries.append(entry)
                expressionText[entry.index] = text
            }
        }
        entryIndex = nil
        entryName = nil
        errors += Manifest.orderErrors(
            entries, file: file,
            position: { entry, offset in
                let position = expressionText[entry.index]?.position(offset: offset)
                return (position?.line ?? entry.line, position?.column ?? entry.column)
            })
        return Manifest(
            file: file, plugins: plugins, sources: sources, outputs: outputs, interval: interval, constants: constants,
            entries: entries)
    }

    static func isConstantName(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        for (i, scalar) in name.unicodeScalars.enumerated() {
            let letter = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
            if !letter && (i == 0 || !("0"..."9").contains(scalar)) { return false }
        }
        return true
    }

    private static let entryKeys: Set<String> = [
        "destination", "destinations", "type", "expression", "interval", "minimum", "maximum", "default", "scope",
        "operation", "unit", "description", "debug",
    ]

    private mutating func loadEntry(
        _ node: JSONNode, index: Int, compiler: ExpressionCompiler
    ) -> (Manifest.Entry, JSONString)? {
        entryIndex = index
        entryName = nil
        guard case .object(let members) = node.value else {
            expected("an object", node, "entries")
            return nil
        }
        let field = { (key: String) in members.first { $0.key == key } }
        // The name first, so every error of the entry can carry it.
        var names: [(JSONString, JSONPosition, Manifest.Scope?, Manifest.Operation?)] = []
        let single = field("destination")
        let list = field("destinations")
        if single != nil, let list {
            fail(list.keyPosition, "destinations", "give 'destination' or 'destinations', not both")
        }
        if let single, let text = name(single.node, "destination") {
            names.append((text, single.node.position, nil, nil))
        }
        entryName = names.first?.0.value
        var badEntry = false
        if single == nil, let list {
            if case .array(let items) = list.node.value {
                if items.isEmpty { fail(list.node.position, "destinations", "empty list") }
                for item in items {
                    if case .object(let raw) = item.value {
                        // Name the entry before reporting anything about this item.
                        if entryName == nil, let nameNode = raw.first(where: { $0.key == "name" })?.node,
                            case .string(let text) = nameNode.value, !text.value.isEmpty
                        {
                            entryName = text.value
                        }
                        guard let parts = object(item, "destinations", keys: ["name", "scope", "operation"]) else {
                            continue
                        }
                        guard let nameMember = parts.first(where: { $0.key == "name" }) else {
                            fail(item.position, "destinations", "missing 'name'")
                            badEntry = true
                            continue
                        }
                        guard let text = name(nameMember.node, "destinations.name") else { continue }
                        let scope = parts.first { $0.key == "scope" }.flatMap {
                            enumValue($0.node, "destinations.scope", Manifest.Scope.self)
                        }
                        let operation = parts.first { $0.key == "operation" }.flatMap {
                            enumValue($0.node, "destinations.operation", Manifest.Operation.self)
                        }
                        names.append((text, nameMember.node.position, scope, operation))
                    } else if let text = name(item, "destinations") {
                        names.append((text, item.position, nil, nil))
                    }
                    if entryName == nil { entryName = names.first?.0.value }
                }
            } else {
                expected("a list of names", list.node, "destinations")
            }
        }
        _ = object(node, nil, keys: Self.entryKeys)
        if single == nil, list == nil {
            fail(node.position, "destination", "missing: an entry needs 'destination' or 'destinations'")
        }
        let type = field("type").flatMap { enumValue($0.node, "type", Manifest.ValueType.self) }
        if field("type") == nil { fail(node.position, "type", "missing: expected one of integer, counter, float") }
        let scope = field("scope").flatMap { enumValue($0.node, "scope", Manifest.Scope.self) } ?? .host
        let operation = field("operation").flatMap { enumValue($0.node, "operation", Manifest.Operation.self) }
        let interval = field("interval").flatMap { seconds($0.node, "interval") }
        let minimum = field("minimum").flatMap { number($0.node, "minimum") }
        let maximum = field("maximum").flatMap { number($0.node, "maximum") }
        let defaultValue = field("default").flatMap { number($0.node, "default") }
        let unit = field("unit").flatMap { string($0.node, "unit")?.value }
        let description = field("description").flatMap { string($0.node, "description")?.value }
        var debug = false
        if let member = field("debug") {
            if case .bool(let flag) = member.node.value {
                debug = flag
            } else {
                expected("true or false", member.node, "debug")
            }
        }
        if let minimum, let maximum, Number.isLess(maximum, minimum), let member = field("maximum") {
            fail(member.node.position, "maximum", "\(maximum) is less than the minimum \(minimum)")
        }
        if let defaultValue, let member = field("default"),
            minimum.map({ Number.isLess(defaultValue, $0) }) == true
                || maximum.map({ Number.isLess($0, defaultValue) }) == true
        {
            fail(member.node.position, "default", "\(defaultValue) is outside the bounds")
        }
        var compiled: CompiledExpression?
        var expressionText: JSONString?
        if let member = field("expression") {
            if let text = string(member.node, "expression") {
                expressionText = text
                do {
                    compiled = try compiler.compile(text.value)
                } catch {
                    let offset = Manifest.scalarOffset(in: text.value, line: error.line, column: error.column)
                    fail(text.position(offset: offset), "expression", error.reason)
                }
            }
        } else {
            fail(node.position, "expression", "missing")
        }
        guard !badEntry, !names.isEmpty, let type, let compiled, let expressionText else { return nil }
        let destinations = names.map {
            Manifest.Destination(
                name: $0.0.value, scope: $0.2 ?? scope,
                operation: $0.3 ?? operation ?? Manifest.Operation.defaultOperation(at: $0.2 ?? scope),
                line: $0.1.line, column: $0.1.column)
        }
        let entry = Manifest.Entry(
            index: index, destinations: destinations, type: type, expression: compiled, interval: interval,
            minimum: minimum, maximum: maximum, defaultValue: defaultValue, unit: unit, description: description,
            debug: debug, line: node.position.line, column: node.position.column)
        return (entry, expressionText)
    }

    private mutating func enumValue<T: RawRepresentable & CaseIterable>(
        _ node: JSONNode, _ field: String, _: T.Type
    ) -> T? where T.RawValue == String {
        guard let text = string(node, field)?.value else { return nil }
        if let value = T(rawValue: text) { return value }
        let names = T.allCases.map(\.rawValue).joined(separator: ", ")
        fail(node.position, field, "unknown value '\(text)' (expected one of: \(names))")
        return nil
    }
}

extension Manifest {
    /// The `plugins` a manifest file names, read before the manifest itself is checked (their
    /// functions must be registered before its expressions compile). A file that does not
    /// parse, or is Traffic Server XML, names none: `load(path:)` reports its errors.
    ///
    /// ```swift
    /// let specs = Manifest.pluginSpecs(path: "m.json")  // [PluginSpec(spec: "./libApdex.so", line: 2, column: 17)]
    /// ```
    public static func pluginSpecs(path: String) -> [PluginSpec] {
        guard let bytes = try? readManifestFile(path),
            let root = try? JSONText.parse(bytes, limits: JSONLimits(maxBytes: Manifest.maxFileSize, maxDepth: 64)),
            case .object(let members) = root.value,
            let plugins = members.first(where: { $0.key == "plugins" }), case .array(let items) = plugins.node.value
        else { return [] }
        return items.compactMap { item in
            guard case .string(let text) = item.value, !text.value.isEmpty else { return nil }
            return PluginSpec(spec: text.value, line: item.position.line, column: item.position.column)
        }
    }
}
