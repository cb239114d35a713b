import CMmStatsPlugin
import MmStatsCore

/// A metric kind from a plugin's shared object: its record, and exposed fields computed by the
/// plugin's callback.
///
/// Readers use it through the registry; writers can record it like any kind:
///
/// ```swift
/// let apdex = try ExternalPlugin.load(path: "./libApdex.so")
/// let record = try stats.record("checkout.apdex", kind: apdex.kinds[0])
/// record.update { w in w[0] += 1 }   // one satisfied request
/// ```
public struct ExternalKind: MetricKind {
    /// The plugin's callback and its context. The interface requires callbacks that any thread
    /// may call at any time (docs/PLUGINS.md), so sharing them is sound.
    struct Callback: @unchecked Sendable {
        let expose: mmstats_plugin_expose_fn?
        let context: UnsafeMutableRawPointer?
    }

    /// The kind's name, as stored in descriptors.
    public let name: String
    /// The record's components.
    public let signature: Signature
    /// One name per component.
    public let fieldNames: [String]
    /// The layout writers use unless told otherwise.
    public let defaultLayout: LayoutID
    /// The names the plugin's callback may expose, in the order it declared them.
    public let exposedNames: [String]
    let callback: Callback

    /// The fields the plugin computes from the components at `now`; the components themselves
    /// when it has no callback, fails, or answers outside the interface's bounds.
    public func exposedFields(_ components: [(name: String, value: Value)], now: UInt64) -> [(
        name: String, value: Value
    )] {
        guard let expose = callback.expose, components.count == fieldNames.count else { return components }
        var inputs: [mmstats_value] = []
        inputs.reserveCapacity(components.count)
        for component in components {
            guard let value = mmstats_value(component.value) else { return components }
            inputs.append(value)
        }
        let capacity = exposedNames.count
        let names = exposedNames
        return withUnsafeTemporaryAllocation(of: mmstats_exposed_field.self, capacity: capacity) { out in
            out.initialize(repeating: mmstats_exposed_field())
            let written = inputs.withUnsafeBufferPointer { input in
                expose(
                    callback.context, input.baseAddress, UInt32(input.count), now, out.baseAddress, UInt32(capacity))
            }
            guard written >= 0, Int(written) <= capacity else { return components }
            var result: [(name: String, value: Value)] = []
            var seen = Set<UInt32>()
            for field in out.prefix(Int(written)) {
                guard Int(field.name_index) < capacity, seen.insert(field.name_index).inserted,
                    let value = Value(field.value)
                else { return components }
                result.append((name: names[Int(field.name_index)], value: value))
            }
            return result
        }
    }
}

extension mmstats_value {
    /// The C form of a numeric value (booleans are 0 or 1); nil for a string.
    init?(_ value: Value) {
        self.init()
        switch value {
        case .int(let v):
            type = UInt32(MMSTATS_VALUE_INT64)
            self.v.i64 = v
        case .uint(let v):
            type = UInt32(MMSTATS_VALUE_UINT64)
            self.v.u64 = v
        case .double(let v):
            type = UInt32(MMSTATS_VALUE_DOUBLE)
            self.v.f64 = v
        case .bool(let v):
            type = UInt32(MMSTATS_VALUE_INT64)
            self.v.i64 = v ? 1 : 0
        case .string:
            return nil
        }
    }
}

extension Value {
    /// The value a plugin returned; nil for an unknown type tag.
    init?(_ value: mmstats_value) {
        switch Int(value.type) {
        case Int(MMSTATS_VALUE_INT64): self = .int(value.v.i64)
        case Int(MMSTATS_VALUE_UINT64): self = .uint(value.v.u64)
        case Int(MMSTATS_VALUE_DOUBLE): self = .double(value.v.f64)
        default: return nil
        }
    }
}
