import MmStatsCore

/// The kind of the processor's results: a value and whether there is one, read together
/// (double buffer), so that "no value" is explicit in the file, never a zero.
///
/// `derived` holds an `integer` (`q?`) or `float` (`d?`) destination; `derived-counter` a
/// `counter` destination (`q?`). Components `value` and `present`; a reader exposes `present`
/// (0 or 1) and, only when it is 1, `value` (docs/FORMAT.md §11.7).
///
/// ```swift
/// let record = try writer.record("web.rps", kind: DerivedKind.float)
/// record.set([.double(12.5), .bool(true)])
/// ```
public struct DerivedKind: MetricKind {
    /// An `integer` destination: `derived`, `q?`.
    public static let integer = DerivedKind(name: "derived", signature: Signature([.int64, .bool]))
    /// A `float` destination: `derived`, `d?`.
    public static let float = DerivedKind(name: "derived", signature: Signature([.float64, .bool]))
    /// A `counter` destination: `derived-counter`, `q?`.
    public static let counter = DerivedKind(name: "derived-counter", signature: Signature([.int64, .bool]))

    /// `derived` or `derived-counter`.
    public let name: String
    /// `q?` or `d?`.
    public let signature: Signature
    /// `value`, `present`.
    public var fieldNames: [String] { ["value", "present"] }
    /// The value and its presence must be read together.
    public var defaultLayout: LayoutID { .doubleBuffer }

    /// The kind for a destination type.
    ///
    /// ```swift
    /// DerivedKind.for(.counter).name  // "derived-counter"
    /// ```
    public static func `for`(_ type: EngineValueType) -> DerivedKind {
        switch type {
        case .integer: .integer
        case .counter: .counter
        case .float: .float
        }
    }

    /// `present`, then `value` only when present.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        let present = components.first { $0.name == "present" }?.value
        let isPresent: Bool
        switch present {
        case .bool(let b)?: isPresent = b
        case let other?: isPresent = (other.doubleValue ?? 0) != 0
        case nil: isPresent = false
        }
        var fields: [(name: String, value: Value)] = [(name: "present", value: .bool(isPresent))]
        if isPresent, let value = components.first(where: { $0.name == "value" })?.value {
            fields.insert((name: "value", value: value), at: 0)
        }
        return fields
    }
}
