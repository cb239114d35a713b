import MmStatsCore

/// The mean of the last N values (docs/FORMAT.md §11.3): `count` (values added in all),
/// `window` (N) and the last N values themselves, `v0` … `v(N-1)`, in a ring the writer fills
/// in turn. The reader adds the values up, so the writer keeps no running sum: adding a value
/// is two stores, and the average never drifts.
public struct MovingAverageKind: MetricKind {
    /// N, the number of values averaged (1 to 65,535).
    public let window: Int

    /// A moving average of the last `window` values.
    public init(window: Int = 1) { self.window = max(1, min(window, 65_535)) }

    /// `moving-average`.
    public var name: String { "moving-average" }
    /// `QQ` then N × `d`: count, window, the values.
    public var signature: Signature {
        Signature([.uint64, .uint64] + [ComponentType](repeating: .float64, count: window))
    }
    /// `count`, `window`, `v0` … `v(N-1)`.
    public var fieldNames: [String] { ["count", "window"] + (0..<window).map { "v\($0)" } }
    /// Each word on its own: a reader sees every value whole, and the count within one update.
    public var defaultLayout: LayoutID { .word }

    /// `count`, `window`, `sum` (of the last min(count, window) values, in ring order) and
    /// `mean` = sum / min(count, window), 0 before the first value.
    public func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        guard components.count >= 3, components[0].name == "count", components[1].name == "window",
            case .uint(let count) = components[0].value, case .uint(let window) = components[1].value,
            window == UInt64(components.count - 2)
        else { return components }
        let n = min(count, window)
        var sum = 0.0
        for index in 0..<Int(n) { sum += components[2 + index].value.doubleValue ?? 0 }
        return [
            components[0], components[1], (name: "sum", value: .double(sum)),
            (name: "mean", value: .double(n == 0 ? 0 : sum / Double(n))),
        ]
    }
}

/// A moving-average handle: `add` stores a value in the ring and counts it. Single writer,
/// like every handle of a `StatsWriter`.
///
/// ```swift
/// let recent = try stats.movingAverage("queue.wait", window: 100)
/// recent.add(0.004)
/// ```
public final class MovingAverage {
    @usableFromInline let words: InPlaceWords
    /// How many of the last values the average covers.
    public let window: Int
    @usableFromInline var cursor = 0
    @usableFromInline var count: UInt64 = 0

    init(_ words: InPlaceWords, window: Int) {
        self.words = words
        self.window = window
        count = words.load(0)
        cursor = Int(count % UInt64(window))
    }

    /// Adds a value: it replaces the oldest of the last `window` values.
    @inlinable @inline(__always)
    public func add(_ value: Double) {
        words.store(value.bitPattern, at: 2 &+ cursor)
        cursor &+= 1
        if cursor == window { cursor = 0 }
        count &+= 1
        words.store(count, at: 0)
    }

    /// The mean of the last `window` values (0 before the first).
    public var mean: Double {
        let n = Int(min(count, UInt64(window)))
        var sum = 0.0
        for index in 0..<n { sum += Double(bitPattern: words.load(2 + index)) }
        return n == 0 ? 0 : sum / Double(n)
    }
}

extension StatsWriter {
    /// The moving average of the last `window` values (1 to 65,535) with this name,
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
        guard window >= 1, window <= 65_535 else {
            throw MmStatsError(
                .invalidArgument, path: path, entry: name, "a moving average covers 1 to 65535 values, not \(window)")
        }
        let kind = MovingAverageKind(window: window)
        var initial = [Value](repeating: .double(0), count: window + 2)
        initial[0] = .uint(0)
        initial[1] = .uint(UInt64(window))
        let record = try record(
            name, kind: kind, dimensions: dimensions, unit: unit, help: help, layout: nil, initial: initial)
        guard let words = record.inPlace else {
            throw MmStatsError(.invalidArgument, path: path, entry: name, "a moving average needs the word layout")
        }
        return MovingAverage(words, window: window)
    }
}
