/// A kind of metric: the record it stores and the fields a reader exposes.
///
/// Kinds are named; the name is stored in every descriptor, so readers in any language can
/// tell kinds apart, and a reader that does not know a kind still shows its raw components.
///
/// ```swift
/// struct MinMaxKind: MetricKind {
///     var name: String { "minmax" }
///     var signature: Signature { Signature([.float64, .float64]) }
///     var fieldNames: [String] { ["min", "max"] }
///     var defaultLayout: LayoutID { .doubleBuffer }
/// }
/// ```
public protocol MetricKind: Sendable {
    /// The name stored in descriptors, for example `counter`.
    var name: String { get }
    /// The components of one record.
    var signature: Signature { get }
    /// One name per component.
    var fieldNames: [String] { get }
    /// The layout a writer uses unless told otherwise.
    var defaultLayout: LayoutID { get }
    /// The fields a reader shows, computed from the record's components (by default, the
    /// components themselves). A mean, say, can be derived from a count and a sum here.
    func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)]
    /// The fields a reader shows at `now` (monotonic nanoseconds, ``StatsClock``): windows and
    /// meters compute them for the reader's own time, so a dead writer's window empties on
    /// schedule. By default, `exposedFields(_:)`.
    func exposedFields(_ components: [(name: String, value: Value)], now: UInt64) -> [(name: String, value: Value)]
}

extension MetricKind {
    /// By default a kind exposes its components as they are.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        components
    }

    /// By default the time does not matter: `exposedFields(_:)`.
    public func exposedFields(_ components: [(name: String, value: Value)], now: UInt64) -> [(
        name: String, value: Value
    )] {
        exposedFields(components)
    }
}

/// A monotonically increasing unsigned count (`Q`, field `value`), one word.
public struct CounterKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `counter`.
    public var name: String { "counter" }
    /// `Q`.
    public var signature: Signature { Signature([.uint64]) }
    /// `value`.
    public var fieldNames: [String] { ["value"] }
    /// One word.
    public var defaultLayout: LayoutID { .word }
}

/// A value that goes up and down: a signed integer (`q`) or a double (`d`), field `value`.
public struct GaugeKind: MetricKind {
    /// The integer gauge.
    public static let integer = GaugeKind(signature: Signature([.int64]))
    /// The floating-point gauge.
    public static let double = GaugeKind(signature: Signature([.float64]))
    /// `gauge`.
    public var name: String { "gauge" }
    /// `q` or `d`.
    public let signature: Signature
    /// `value`.
    public var fieldNames: [String] { ["value"] }
    /// One word.
    public var defaultLayout: LayoutID { .word }
}
