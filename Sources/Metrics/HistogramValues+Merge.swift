import MmStatsCore

extension HistogramValues {
    /// Adds `other` into this histogram (docs/FORMAT.md §11.2, merging): buckets added
    /// (modulo 2^64), sums added, the smaller `min`, the larger `max`. Returns false and
    /// changes nothing when the resolutions differ (their units are not the same).
    ///
    /// ```swift
    /// var total = perThread[0]
    /// for part in perThread.dropFirst() { _ = total.merge(part) }
    /// ```
    @discardableResult
    public mutating func merge(_ other: HistogramValues) -> Bool {
        guard resolution.bitPattern == other.resolution.bitPattern, buckets.count == other.buckets.count else {
            return false
        }
        for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        sum += other.sum
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
        return true
    }

    /// The histogram of the union of `parts` (shards of threads or processes): the first
    /// part merged with each of the others in order; nil when `parts` is empty or their
    /// resolutions differ.
    ///
    /// ```swift
    /// let all = HistogramValues.merged(threads.compactMap { HistogramValues($0.fields) })
    /// all?.quantile(0.99)
    /// ```
    public static func merged(_ parts: [HistogramValues]) -> HistogramValues? {
        guard var total = parts.first else { return nil }
        for part in parts.dropFirst() {
            guard total.merge(part) else { return nil }
        }
        return total
    }

    /// The histogram of the union of several histogram or timer samples (the same metric in
    /// several files); nil when there are none, one is not a histogram record, or their
    /// resolutions differ.
    ///
    /// ```swift
    /// let samples = snapshots.compactMap { $0.metric("db.query") }
    /// let all = HistogramValues.merged(samples)
    /// all?.exposedFields   // count, sum, …, p999 of every process together
    /// ```
    public static func merged(_ samples: [MetricSample]) -> HistogramValues? {
        var parts: [HistogramValues] = []
        parts.reserveCapacity(samples.count)
        for sample in samples {
            guard sample.error == nil, let values = HistogramValues(sample.fields) else { return nil }
            parts.append(values)
        }
        return merged(parts)
    }
}
