import CMmStatsPlugin
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Validates and copies a plugin's descriptor (docs/PLUGINS.md, "What the host checks").
///
/// Every count is checked against its limit before anything it counts is read, and every
/// string is read with a bound; what the host keeps is Swift copies, never the plugin's
/// pointers (except the callbacks and their contexts).
struct DescriptorReader {
    let path: String

    func fail(_ entry: String?, _ reason: String) -> MmStatsError {
        MmStatsError(.invalidArgument, path: path, entry: entry, "malformed descriptor: \(reason)")
    }

    func plugin(_ pointer: UnsafePointer<mmstats_plugin>) throws(MmStatsError) -> Plugin {
        // The version and size come first in every version of the struct: read them alone.
        let header = UnsafeRawPointer(pointer)
        let version = header.loadUnaligned(as: UInt32.self)
        let size = header.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        guard version == ExternalPlugin.interfaceVersion else {
            throw MmStatsError(
                .unsupportedVersion, path: path,
                "the plugin's descriptor has interface version \(version); this host reads version \(ExternalPlugin.interfaceVersion)"
            )
        }
        guard size == MemoryLayout<mmstats_plugin>.size else {
            throw fail(nil, "struct_size is \(size); version 1 needs \(MemoryLayout<mmstats_plugin>.size)")
        }
        let d = pointer.pointee
        let name = try string(d.name, limit: Int(MMSTATS_PLUGIN_MAX_NAME), what: "the plugin's name", entry: nil)
        try checkName(name, what: "the plugin's name", entry: nil, allowed: Self.kindCharacters)
        let version_ = try string(
            d.version, limit: Int(MMSTATS_PLUGIN_MAX_VERSION), what: "the plugin's version", entry: "plugin \(name)")
        let kinds = try array(
            d.kinds, count: d.kind_count, stride: d.kind_size, limit: Int(MMSTATS_PLUGIN_MAX_KINDS),
            what: "kind", plugin: name)
        let evaluators = try array(
            d.evaluators, count: d.evaluator_count, stride: d.evaluator_size,
            limit: Int(MMSTATS_PLUGIN_MAX_EVALUATORS), what: "evaluator", plugin: name)
        var kindValues: [any MetricKind] = []
        for (i, kind) in kinds.enumerated() {
            let value = try self.kind(kind, entry: "kind \(i)")
            if kindValues.contains(where: { $0.name == value.name }) {
                throw fail("kind \(i) ('\(value.name)')", "the name is used twice")
            }
            kindValues.append(value)
        }
        var evaluatorValues: [any Evaluator] = []
        for (i, evaluator) in evaluators.enumerated() {
            let value = try self.evaluator(evaluator, entry: "evaluator \(i)")
            if evaluatorValues.contains(where: { $0.name == value.name }) {
                throw fail("evaluator \(i) ('\(value.name)')", "the name is used twice")
            }
            evaluatorValues.append(value)
        }
        return Plugin(name: name, version: version_, kinds: kindValues, evaluators: evaluatorValues)
    }

    /// The `count` elements at `base`, after checking the count, the pointer and the stride.
    private func array<T>(
        _ base: UnsafePointer<T>?, count: UInt32, stride: UInt32, limit: Int, what: String, plugin: String
    ) throws(MmStatsError) -> [T] {
        guard count > 0 else { return [] }
        guard Int(count) <= limit else { throw fail(nil, "\(what)_count is \(count); the limit is \(limit)") }
        guard let base else { throw fail(nil, "\(what)s is NULL but \(what)_count is \(count)") }
        guard Int(stride) == MemoryLayout<T>.size else {
            throw fail(nil, "\(what)_size is \(stride); version 1 needs \(MemoryLayout<T>.size)")
        }
        return (0..<Int(count)).map { base[$0] }
    }

    private func kind(_ k: mmstats_plugin_kind, entry: String) throws(MmStatsError) -> ExternalKind {
        let name = try string(k.name, limit: Int(MMSTATS_PLUGIN_MAX_NAME), what: "the name", entry: entry)
        try checkName(name, what: "the name", entry: entry, allowed: Self.kindCharacters)
        let entry = "\(entry) ('\(name)')"
        let text = try string(
            k.signature, limit: Int(MMSTATS_PLUGIN_MAX_SIGNATURE), what: "the signature", entry: entry)
        let signature: Signature
        do throws(SignatureError) {
            signature = try Signature(text)
        } catch {
            throw fail(entry, "the signature '\(text)' does not parse: \(error)")
        }
        if signature.components.contains(where: { if case .string = $0 { true } else { false } }) {
            throw fail(entry, "the signature '\(text)' has a string component; plugin kinds hold numbers only")
        }
        let maxComponents = Int(MMSTATS_PLUGIN_MAX_COMPONENTS)
        guard signature.components.count <= maxComponents else {
            throw fail(
                entry, "the signature has \(signature.components.count) components; the limit is \(maxComponents)")
        }
        guard Int(k.field_count) == signature.components.count else {
            throw fail(
                entry,
                "field_count is \(k.field_count) but the signature '\(text)' has \(signature.components.count) components"
            )
        }
        let fieldNames = try names(k.field_names, count: Int(k.field_count), what: "field name", entry: entry)
        let exposedNames: [String]
        if k.expose == nil {
            guard k.exposed_count == 0 else {
                throw fail(entry, "exposed_count is \(k.exposed_count) but expose is NULL")
            }
            exposedNames = []
        } else {
            let limit = Int(MMSTATS_PLUGIN_MAX_EXPOSED)
            guard k.exposed_count >= 1, Int(k.exposed_count) <= limit else {
                throw fail(entry, "exposed_count is \(k.exposed_count); it must be 1 to \(limit) when expose is set")
            }
            exposedNames = try names(k.exposed_names, count: Int(k.exposed_count), what: "exposed name", entry: entry)
        }
        let layout = LayoutID(rawValue: k.default_layout)
        guard layout == .word || layout == .doubleBuffer else {
            throw fail(entry, "default_layout is \(k.default_layout); it must be 1 (word) or 2 (double buffer)")
        }
        return ExternalKind(
            name: name, signature: signature, fieldNames: fieldNames, defaultLayout: layout,
            exposedNames: exposedNames, callback: ExternalKind.Callback(expose: k.expose, context: k.context))
    }

    private func evaluator(_ e: mmstats_plugin_evaluator, entry: String) throws(MmStatsError) -> ExternalEvaluator {
        let name = try string(e.name, limit: Int(MMSTATS_PLUGIN_MAX_NAME), what: "the name", entry: entry)
        try checkName(name, what: "the name", entry: entry, allowed: Self.identifierCharacters)
        let entry = "\(entry) ('\(name)')"
        let limit = Int(MMSTATS_PLUGIN_MAX_PARAMETERS)
        guard Int(e.parameter_count) <= limit else {
            throw fail(entry, "parameter_count is \(e.parameter_count); the limit is \(limit)")
        }
        guard let evaluate = e.evaluate else { throw fail(entry, "evaluate is NULL") }
        return ExternalEvaluator(
            name: name, parameterCount: Int(e.parameter_count), path: path,
            callback: ExternalEvaluator.Callback(evaluate: evaluate, context: e.context))
    }

    /// `count` distinct names from an array of C strings.
    private func names(
        _ array: UnsafePointer<UnsafePointer<CChar>?>?, count: Int, what: String, entry: String
    ) throws(MmStatsError) -> [String] {
        guard count > 0 else { return [] }
        guard let array else { throw fail(entry, "the \(what)s are NULL") }
        var result: [String] = []
        for i in 0..<count {
            let name = try string(array[i], limit: Int(MMSTATS_PLUGIN_MAX_NAME), what: "\(what) \(i)", entry: entry)
            try checkName(name, what: "\(what) \(i)", entry: entry, allowed: Self.kindCharacters)
            if result.contains(name) { throw fail(entry, "\(what) '\(name)' is used twice") }
            result.append(name)
        }
        return result
    }

    /// A NUL-terminated UTF-8 string of at most `limit` bytes, read without passing the bound.
    private func string(
        _ pointer: UnsafePointer<CChar>?, limit: Int, what: String, entry: String?
    ) throws(MmStatsError) -> String {
        guard let pointer else { throw fail(entry, "\(what) is NULL") }
        let length = strnlen(pointer, limit + 1)
        guard length <= limit else { throw fail(entry, "\(what) is longer than \(limit) bytes") }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw fail(entry, "\(what) is not valid UTF-8")
        }
        return text
    }

    /// Kind, field and plugin names: a letter, then letters, digits, `_`, `-` or `.`.
    static let kindCharacters = "_-."
    /// Evaluator names are identifiers: a letter, then letters, digits or `_`.
    static let identifierCharacters = "_"

    private func checkName(_ name: String, what: String, entry: String?, allowed: String) throws(MmStatsError) {
        let bytes = Array(name.utf8)
        func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        let extra = Set(allowed.utf8)
        guard let first = bytes.first, isLetter(first),
            bytes.allSatisfy({ isLetter($0) || isDigit($0) || extra.contains($0) })
        else {
            let shown = allowed.map { "'\($0)'" }.joined(separator: ", ")
            throw fail(entry, "\(what) '\(name)' is not a name (a letter, then letters, digits, \(shown))")
        }
    }
}
