import MmStatsCore

/// The mean of the last N values (docs/FORMAT.md §11.3): `count` (values added in all),
/// `sum` (of the last min(count, N) values) and `window` (N), updated together in a double
/// buffer. The last N values themselves stay in the writer's private memory.
public struct MovingAverageKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `moving-average`.
    public var name: String { "moving-average" }
    /// `QdQ`: count, sum, window.
    public var signature: Signature { Signature([.uint64, .float64, .uint64]) }
    /// `count`, `sum`, `window`.
    public var fieldNames: [String] { ["count", "sum", "window"] }
    /// The three words are read together.
    public var defaultLayout: LayoutID { .doubleBuffer }

    /// `count`, `sum`, `window` and `mean` = sum / min(count, window), 0 before the first value.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        func unsigned(_ name: String) -> UInt64 {
            guard case .uint(let value)? = components.first(where: { $0.name == name })?.value else { return 0 }
            return value
        }
        let count = unsigned("count")
        let sum = components.first { $0.name == "sum" }?.value.doubleValue ?? 0
        let window = unsigned("window")
        let n = min(count, window)
        return components + [(name: "mean", value: .double(n == 0 ? 0 : sum / Double(n)))]
    }
}

/// A moving-average handle: `add` keeps the last `window` values and publishes their count and
/// sum. Single writer, like every handle of a `StatsWriter`.
///
/// ```swift
/// let recent = try stats.movingAverage("queue.wait", window: 100)
/// recent.add(0.004)
/// ```
public final class MovingAverage {
    @usableFromInline let record: Record
    @usableFromInline let values: UnsafeMutablePointer<Double>
    /// How many of the last values the average covers.
    public let window: Int
    @usableFromInline var cursor = 0
    @usableFromInline var count: UInt64 = 0
    @usableFromInline var sum: Double = 0

    init(_ record: Record, window: Int) {
        self.record = record
        self.window = window
        values = .allocate(capacity: window)
        values.initialize(repeating: 0, count: window)
        record.update { words in words[2] = UInt64(window) }
    }

    deinit { values.deallocate() }

    /// Adds a value: replaces the oldest of the last `window` values.
    @inlinable
    public func add(_ value: Double) {
        let oldest = values[cursor]
        values[cursor] = value
        cursor &+= 1
        count &+= 1
        if cursor == window {
            // Once per window, the sum is added up again, so rounding errors cannot build up.
            cursor = 0
            var exact = 0.0
            for i in 0..<window { exact += values[i] }
            sum = exact
        } else {
            sum = sum - oldest + value
        }
        let (count, sum) = (self.count, self.sum)
        record.update { words in
            words[0] = count
            words[double: 1] = sum
        }
    }

    /// The mean of the last `window` values (0 before the first).
    public var mean: Double {
        let n = min(count, UInt64(window))
        return n == 0 ? 0 : sum / Double(n)
    }
}

extension StatsWriter {
    /// The moving average of the last `window` values (1 to 1,048,576) with this name,
    /// registered on first use.
    ///
    /// ```swift
    /// let recent = try stats.movingAverage("request.size", window: 50)
    /// recent.add(512)
    /// ```
    public func movingAverage(
        _ name: String, window: Int, dimensions: KeyValuePairs<String, String> = [:], unit: String = "",
        help: String = ""
    ) throws(MmStatsError) -> MovingAverage {
        guard window >= 1, window <= 1 << 20 else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name, "a moving average covers 1 to 1048576 values, not \(window)")
        }
        let record = try record(name, kind: MovingAverageKind(), dimensions: dimensions, unit: unit, help: help)
        return MovingAverage(record, window: window)
    }
}
