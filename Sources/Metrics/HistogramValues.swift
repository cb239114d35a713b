import MmStatsCore

/// The decoded record of a histogram or timer: what a reader computes its fields from, and
/// what several records (threads, processes) merge into.
///
/// ```swift
/// let sample = try #require(snapshot.metric("db.query"))
/// let values = try #require(HistogramValues(sample.fields))
/// values.count            // 1_000
/// values.quantile(0.99)   // 0.0123 (real units: count × resolution)
/// ```
public struct HistogramValues: Sendable, Equatable {
    /// The sum of the recorded values, in real units.
    public var sum: Double
    /// The smallest recorded value in units; 2^64 − 1 when none was recorded.
    public var minimum: UInt64
    /// The largest recorded value in units; 0 when none was recorded.
    public var maximum: UInt64
    /// The value of one unit (1 for integer histograms and timers).
    public var resolution: Double
    /// The ``HistogramScheme/bucketCount`` bucket counts (by ``HistogramScheme/index(_:)``).
    public var buckets: [UInt64]

    /// An empty histogram.
    ///
    /// ```swift
    /// var values = HistogramValues(resolution: 0.001)
    /// values.record(units: 1_500)   // 1.5
    /// ```
    public init(resolution: Double = 1) {
        self.sum = 0
        self.minimum = .max
        self.maximum = 0
        self.resolution = resolution
        self.buckets = [UInt64](repeating: 0, count: HistogramScheme.bucketCount)
    }

    /// The values of a histogram or timer record, from its components; nil unless the field
    /// names are exactly `sum`, `min`, `max`, `resolution`, `b0` … `b2367` and `sum` and
    /// `resolution` are floating-point and the others non-negative integers (booleans are not).
    ///
    /// ```swift
    /// let values = HistogramValues(snapshot.metric("db.query")?.fields ?? [])
    /// ```
    public init?(_ components: [(name: String, value: Value)]) {
        guard components.count == HistogramLayout.words else { return nil }
        let names = HistogramLayout.fieldNames
        for (i, component) in components.enumerated() where component.name != names[i] { return nil }
        func real(_ value: Value) -> Double? {
            if case .double(let v) = value { return v }
            return nil
        }
        func natural(_ value: Value) -> UInt64? {
            switch value {
            case .uint(let v): return v
            case .int(let v) where v >= 0: return UInt64(v)
            default: return nil
            }
        }
        guard let sum = real(components[HistogramLayout.sum].value),
            let minimum = natural(components[HistogramLayout.minimum].value),
            let maximum = natural(components[HistogramLayout.maximum].value),
            let resolution = real(components[HistogramLayout.resolution].value)
        else { return nil }
        var buckets = [UInt64]()
        buckets.reserveCapacity(HistogramScheme.bucketCount)
        for component in components[HistogramLayout.firstBucket...] {
            guard let n = natural(component.value) else { return nil }
            buckets.append(n)
        }
        self.sum = sum
        self.minimum = minimum
        self.maximum = maximum
        self.resolution = resolution
        self.buckets = buckets
    }

    /// The record's components, in signature order (as a reader returns them).
    ///
    /// ```swift
    /// HistogramKind().exposedFields(values.components)
    /// ```
    public var components: [(name: String, value: Value)] {
        let names = HistogramLayout.fieldNames
        var result: [(name: String, value: Value)] = [
            (names[0], .double(sum)), (names[1], .uint(minimum)), (names[2], .uint(maximum)),
            (names[3], .double(resolution)),
        ]
        result.reserveCapacity(HistogramLayout.words)
        for (name, n) in zip(names[HistogramLayout.firstBucket...], buckets) { result.append((name, .uint(n))) }
        return result
    }

    /// The number of recorded values: the sum of the buckets (modulo 2^64).
    ///
    /// ```swift
    /// values.count   // 3
    /// ```
    public var count: UInt64 { buckets.reduce(0, &+) }

    /// Records `units` as the writer's handle does (for tests and processors that build
    /// histograms in private memory): its bucket, `sum` += units × resolution, `min`, `max`.
    ///
    /// ```swift
    /// var values = HistogramValues()
    /// values.record(units: 42)
    /// ```
    public mutating func record(units: UInt64) {
        buckets[HistogramScheme.index(units)] &+= 1
        sum += Double(units) * resolution
        minimum = Swift.min(minimum, units)
        maximum = Swift.max(maximum, units)
    }

    /// The value at quantile `q` (0 < q ≤ 1) in real units: ``HistogramScheme/quantile(_:buckets:count:minimum:maximum:)``
    /// × `resolution`; 0 when the histogram is empty.
    ///
    /// ```swift
    /// values.quantile(0.5)   // the median, within 0.79 %
    /// ```
    public func quantile(_ q: Double) -> Double {
        quantile(q, count: count)
    }

    private func quantile(_ q: Double, count: UInt64) -> Double {
        guard count > 0 else { return 0 }
        let units = buckets.withUnsafeBufferPointer { buffer in
            HistogramScheme.quantile(q, buckets: buffer, count: count, minimum: minimum, maximum: maximum)
        }
        return units * resolution
    }

    /// The quantiles readers expose, by field name: p50, p75, p90, p99, p999.
    ///
    /// ```swift
    /// for (name, q) in HistogramValues.exposedQuantiles { print(name, values.quantile(q)) }
    /// ```
    public static let exposedQuantiles: [(name: String, q: Double)] = [
        ("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999),
    ]

    /// The fields readers show (docs/FORMAT.md §11.2): `count` (an integer), then `sum`, `min`,
    /// `max`, `mean`, `p50`, `p75`, `p90`, `p99`, `p999` (doubles in real units; all 0 when
    /// `count` is 0, except `sum`, which is the component as it is).
    ///
    /// ```swift
    /// values.exposedFields.first { $0.name == "p99" }?.value   // .double(0.0123)
    /// ```
    public var exposedFields: [(name: String, value: Value)] {
        let count = self.count
        let empty = count == 0
        var fields: [(name: String, value: Value)] = [
            ("count", .uint(count)),
            ("sum", .double(sum)),
            ("min", .double(empty ? 0 : Double(minimum) * resolution)),
            ("max", .double(empty ? 0 : Double(maximum) * resolution)),
            ("mean", .double(empty ? 0 : sum / Double(count))),
        ]
        for (name, q) in Self.exposedQuantiles { fields.append((name, .double(quantile(q, count: count)))) }
        return fields
    }

    /// Two histograms are equal when every component is, bit for bit (so NaN sums compare
    /// equal to themselves).
    ///
    /// ```swift
    /// HistogramValues.merged([a, b]) == union   // true for integer values
    /// ```
    public static func == (a: HistogramValues, b: HistogramValues) -> Bool {
        a.sum.bitPattern == b.sum.bitPattern && a.minimum == b.minimum && a.maximum == b.maximum
            && a.resolution.bitPattern == b.resolution.bitPattern && a.buckets == b.buckets
    }
}
