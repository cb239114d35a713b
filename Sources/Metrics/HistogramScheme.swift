/// The log-linear bucket scheme of every histogram, timer and windowed percentile
/// (docs/FORMAT.md §11.2): values 0 to 127 have a bucket each, and every power of two above
/// is split into 64 equal buckets, so a bucket's width is at most 1/64 of its lower bound and
/// its midpoint is within 1/128 (0.79 %) of any value in it. Values from 2^42 up share the
/// last bucket (2^42 ns is 73 minutes).
///
/// The index is two shifts and a count of leading zeros: no `log()`, no branch.
///
/// ```swift
/// HistogramScheme.index(100)          // 100
/// HistogramScheme.index(1_000_000)    // 954: [999_424, 1_007_616) holds 1 ms in ns
/// HistogramScheme.representative(954)  // 1_003_519.5
/// ```
public enum HistogramScheme {
    /// Buckets per power of two above 127 (2^6).
    public static let subBuckets = 64
    /// Values from 2^42 on fall into the last bucket.
    public static let limitBits = 42
    /// The number of buckets: 128 + 64 × 35 = 2,368.
    public static let bucketCount = 2 * subBuckets + subBuckets * (limitBits - 7)

    /// The bucket of `value`.
    @inlinable @inline(__always)
    public static func index(_ value: UInt64) -> Int {
        let v = min(value, (1 << 42) - 1)
        let exponent = 63 - (v | 1).leadingZeroBitCount
        let shift = max(exponent - 6, 0)
        return shift &* 64 &+ Int(truncatingIfNeeded: v &>> UInt64(shift))
    }

    /// The smallest value of bucket `index` (an index past the last bucket is the last bucket).
    public static func lowerBound(_ index: Int) -> UInt64 {
        let index = min(index, bucketCount - 1)
        guard index >= 128 else { return UInt64(max(index, 0)) }
        let shift = index / 64 - 1
        return UInt64(index - shift * 64) << UInt64(shift)
    }

    /// How many values bucket `index` holds (an index past the last bucket is the last bucket).
    public static func width(_ index: Int) -> UInt64 {
        let index = min(index, bucketCount - 1)
        return index < 128 ? 1 : 1 << UInt64(index / 64 - 1)
    }

    /// The value a percentile in bucket `index` reports: the bucket's midpoint,
    /// `lower + (width - 1) / 2`.
    public static func representative(_ index: Int) -> Double {
        Double(lowerBound(index)) + Double(width(index) - 1) / 2
    }

    /// The value at quantile `q` (0 < q ≤ 1) of `buckets`, clamped to [`minimum`, `maximum`]:
    /// the representative of the first bucket whose cumulative count reaches
    /// `max(1, ceil(q × count))` (binary64 arithmetic). 0 when the buckets are empty.
    public static func quantile(
        _ q: Double, buckets: UnsafeBufferPointer<UInt64>, count: UInt64, minimum: UInt64, maximum: UInt64
    ) -> Double {
        guard count > 0 else { return 0 }
        let rank = max(1, (q * Double(count)).rounded(.up))
        var cumulative: UInt64 = 0
        for (index, n) in buckets.prefix(bucketCount).enumerated() {  // no bucket past the scheme's
            cumulative &+= n
            if Double(cumulative) >= rank {
                return min(max(representative(index), Double(minimum)), Double(maximum))
            }
        }
        return Double(maximum)
    }
}
