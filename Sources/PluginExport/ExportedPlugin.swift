import CMmStatsPlugin
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A Swift ``Plugin`` exported through the C interface of docs/PLUGINS.md, for a plugin's
/// shared object to return from its `mmstats_plugin_v1` entry.
///
/// It builds the C descriptor once and never frees it: keep it in a global `let` (Swift
/// initializes globals once, thread-safely), as the interface needs the descriptor to live as
/// long as the process.
///
/// ```swift
/// import MmStatsCore
/// import PluginExport
///
/// let exported = ExportedPlugin(Plugin(name: "myplugin", version: "1.0", kinds: [MyKind()]))
///
/// @_cdecl("mmstats_plugin_v1")
/// public func mmstatsPluginV1() -> UnsafeRawPointer? { exported.descriptor }
/// ```
///
/// A kind's exposed names are learned by calling its `exposedFields(_:now:)` once, on zero
/// components at time 0; at run time, fields with other names are left out. Layouts of the
/// Swift plugin are not exported (the C interface has none). Kinds with string components are
/// exported as they are, and the host refuses them.
// The descriptor is written once, in init, and only read afterwards: sharing it is safe.
public final class ExportedPlugin: @unchecked Sendable {
    /// The descriptor, valid for the life of the process; what `mmstats_plugin_v1` returns.
    public let descriptor: UnsafeRawPointer?

    /// Builds the C descriptor of `plugin`.
    ///
    /// An evaluator is exported when it says how many inputs it takes: it conforms to
    /// ``FixedArityEvaluator``, or `parameterCounts` has its name. Others are left out.
    ///
    /// ```swift
    /// let exported = ExportedPlugin(ApdexPlugin.plugin)
    /// let other = ExportedPlugin(Plugin(name: "x", version: "1", evaluators: [Ratio()]), parameterCounts: ["ratio": 2])
    /// ```
    public init(_ plugin: Plugin, parameterCounts: [String: Int] = [:]) {
        let kinds = plugin.kinds.map { kind -> mmstats_plugin_kind in
            let box = KindBox(kind)
            var k = mmstats_plugin_kind()
            k.name = Self.keep(kind.name)
            k.signature = Self.keep(kind.signature.description)
            k.field_names = Self.keep(kind.fieldNames.map(Self.keep))
            k.field_count = UInt32(truncatingIfNeeded: kind.fieldNames.count)
            k.exposed_names = Self.keep(box.exposedNames.map(Self.keep))
            k.exposed_count = UInt32(truncatingIfNeeded: box.exposedNames.count)
            k.expose = exposeTrampoline
            k.context = Unmanaged.passRetained(box).toOpaque()
            k.default_layout = kind.defaultLayout.rawValue
            return k
        }
        let evaluators = plugin.evaluators.compactMap { evaluator -> mmstats_plugin_evaluator? in
            let arity = (evaluator as? any FixedArityEvaluator)?.parameterCount ?? parameterCounts[evaluator.name]
            guard let arity else { return nil }
            let box = EvaluatorBox(evaluator, parameterCount: arity)
            var e = mmstats_plugin_evaluator()
            e.name = Self.keep(evaluator.name)
            e.evaluate = evaluateTrampoline
            e.context = Unmanaged.passRetained(box).toOpaque()
            e.parameter_count = UInt32(truncatingIfNeeded: box.parameterCount)
            return e
        }
        var d = mmstats_plugin()
        d.abi_version = UInt32(MMSTATS_PLUGIN_ABI_VERSION)
        d.struct_size = UInt32(MemoryLayout<mmstats_plugin>.size)
        d.name = Self.keep(plugin.name)
        d.version = Self.keep(plugin.version)
        d.kinds = Self.keep(kinds)
        d.kind_count = UInt32(truncatingIfNeeded: kinds.count)
        d.kind_size = UInt32(MemoryLayout<mmstats_plugin_kind>.size)
        d.evaluators = Self.keep(evaluators)
        d.evaluator_count = UInt32(truncatingIfNeeded: evaluators.count)
        d.evaluator_size = UInt32(MemoryLayout<mmstats_plugin_evaluator>.size)
        let pointer = UnsafeMutablePointer<mmstats_plugin>.allocate(capacity: 1)
        pointer.initialize(to: d)
        descriptor = UnsafeRawPointer(pointer)
    }

    /// A C copy of `text` that is never freed.
    private static func keep(_ text: String) -> UnsafePointer<CChar>? { UnsafePointer(strdup(text)) }

    /// A copy of `items` that is never freed (nil when empty).
    private static func keep<T>(_ items: [T]) -> UnsafePointer<T>? {
        guard !items.isEmpty else { return nil }
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: items.count)
        pointer.initialize(from: items, count: items.count)
        return UnsafePointer(pointer)
    }
}

/// A kind and the index of each exposed name, reached from the C callback's context.
final class KindBox: Sendable {
    let kind: any MetricKind
    let fieldNames: [String]
    let exposedNames: [String]
    let index: [String: UInt32]

    init(_ kind: any MetricKind) {
        self.kind = kind
        fieldNames = kind.fieldNames
        let zeros = kind.signature.components.enumerated().map { i, _ in
            (name: i < kind.fieldNames.count ? kind.fieldNames[i] : "f\(i)", value: Value.uint(0))
        }
        var names: [String] = []
        for field in kind.exposedFields(zeros, now: 0) where !names.contains(field.name) { names.append(field.name) }
        exposedNames = names
        index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, UInt32($0)) })
    }
}

/// An evaluator and its parameter count, reached from the C callback's context.
final class EvaluatorBox: Sendable {
    let evaluator: any Evaluator
    let parameterCount: Int

    init(_ evaluator: any Evaluator, parameterCount: Int) {
        self.evaluator = evaluator
        self.parameterCount = parameterCount
    }
}

/// An evaluator that says how many inputs it takes, as the C interface needs.
///
/// ```swift
/// struct Ratio: FixedArityEvaluator {
///     var name: String { "ratio" }
///     var parameterCount: Int { 2 }
///     func evaluate(_ inputs: [Value], context: EvaluationContext) throws -> Value? { … }
/// }
/// ```
public protocol FixedArityEvaluator: Evaluator {
    /// How many inputs `evaluate` takes.
    var parameterCount: Int { get }
}

extension FixedArityEvaluator {
    /// `parameterCount` numbers: each argument is an expression's value.
    ///
    /// ```swift
    /// ApdexEvaluator().parameters  // [.value, .value, .value]
    /// ```
    public var parameters: [EvaluatorParameter] { Array(repeating: .value, count: parameterCount) }
}

private let exposeTrampoline: mmstats_plugin_expose_fn = { context, components, count, now, out, capacity in
    guard let context, let out else { return -1 }
    let box = Unmanaged<KindBox>.fromOpaque(context).takeUnretainedValue()
    guard Int(count) == box.fieldNames.count, count == 0 || components != nil else { return -1 }
    var inputs: [(name: String, value: Value)] = []
    for i in 0..<Int(count) {
        guard let c = components?[i], let value = exportedValue(c) else { return -1 }
        inputs.append((name: box.fieldNames[i], value: value))
    }
    var written: UInt32 = 0
    for field in box.kind.exposedFields(inputs, now: now) where written < capacity {
        guard let index = box.index[field.name], let value = cValue(field.value) else { continue }
        out[Int(written)] = mmstats_exposed_field(name_index: index, reserved: 0, value: value)
        written += 1
    }
    return Int32(written)
}

private let evaluateTrampoline: mmstats_plugin_evaluate_fn = { context, inputs, count, elapsed, result in
    guard let context, let result else { return Int32(MMSTATS_EVALUATE_ERROR) }
    let box = Unmanaged<EvaluatorBox>.fromOpaque(context).takeUnretainedValue()
    var values: [Value] = []
    for i in 0..<Int(count) {
        guard let c = inputs?[i], let value = exportedValue(c) else { return Int32(MMSTATS_EVALUATE_ERROR) }
        values.append(value)
    }
    do {
        guard
            let value = try box.evaluator.evaluate(values, context: EvaluationContext(elapsedNanoseconds: elapsed))
        else { return Int32(MMSTATS_EVALUATE_NONE) }
        guard let c = cValue(value) else { return Int32(MMSTATS_EVALUATE_ERROR) }
        result.pointee = c
        return Int32(MMSTATS_EVALUATE_OK)
    } catch {
        return Int32(MMSTATS_EVALUATE_ERROR)
    }
}

private func exportedValue(_ value: mmstats_value) -> Value? {
    switch Int(value.type) {
    case Int(MMSTATS_VALUE_INT64): .int(value.v.i64)
    case Int(MMSTATS_VALUE_UINT64): .uint(value.v.u64)
    case Int(MMSTATS_VALUE_DOUBLE): .double(value.v.f64)
    default: nil
    }
}

private func cValue(_ value: Value) -> mmstats_value? {
    var c = mmstats_value()
    switch value {
    case .int(let v):
        c.type = UInt32(MMSTATS_VALUE_INT64)
        c.v.i64 = v
    case .uint(let v):
        c.type = UInt32(MMSTATS_VALUE_UINT64)
        c.v.u64 = v
    case .double(let v):
        c.type = UInt32(MMSTATS_VALUE_DOUBLE)
        c.v.f64 = v
    case .bool(let v):
        c.type = UInt32(MMSTATS_VALUE_INT64)
        c.v.i64 = v ? 1 : 0
    case .string:
        return nil
    }
    return c
}
