import MmStatsCore

/// A kind of this application's own: a database connection pool's `open`, `idle` and
/// `waiting` counts, published together (double buffer), with a derived `utilisation`.
///
/// Readers that register ``PoolKind/plugin`` show `utilisation` as well; readers that do not
/// know the kind (the `mmstats` host, the Python reader) show the three raw components.
///
/// ```swift
/// try PluginRegistry.shared.register(PoolKind.plugin)
/// let pool = try stats.record("db_pool", kind: PoolKind())
/// pool.set([.uint(8), .uint(3), .uint(0)])
/// ```
struct PoolKind: MetricKind {
    /// The plugin that makes readers in this process know the kind.
    static let plugin = Plugin(name: "order-service", version: "1.0", kinds: [PoolKind()])

    /// Stored in every descriptor of this kind.
    var name: String { "order-service.pool" }
    /// `III`: three unsigned 32-bit counts, one word each.
    var signature: Signature { Signature([.uint32, .uint32, .uint32]) }
    /// The components' names, in signature order.
    var fieldNames: [String] { ["open", "idle", "waiting"] }
    /// Whole records: a reader never sees `idle` of one update with `open` of another.
    var defaultLayout: LayoutID { .doubleBuffer }

    /// The components, then `utilisation`: the share of open connections in use (0 when
    /// none is open).
    func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        func count(_ name: String) -> Double {
            components.first { $0.name == name }?.value.doubleValue ?? 0
        }
        let open = count("open")
        let busy = max(0, open - count("idle"))
        return components + [(name: "utilisation", value: .double(open > 0 ? busy / open : 0))]
    }
}
