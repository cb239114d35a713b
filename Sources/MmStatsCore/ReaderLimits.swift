import CMmStats

/// What a `StatsReader` may spend on one file: memory, time and remappings.
///
/// A writer's file is untrusted input. These budgets do not depend on the file's apparent
/// size (a sparse file can claim a terabyte), so a small hostile file costs at most this
/// much, and a file over budget is an error that names the limit, never an exhausted process.
/// The defaults are far above what real files need (a file of 442 histograms fits: 2,372
/// components each), and are documented in docs/FORMAT.md §6.
///
/// ```swift
/// var limits = ReaderLimits()
/// limits.readTimeout = .milliseconds(20)   // a busy file is reported sooner
/// let reader = try StatsReader(path: path, limits: limits)
/// ```
public struct ReaderLimits: Sendable, Equatable {
    /// Bytes of metadata (descriptors) parsed in one file. Default 16 MiB.
    public var maximumMetadataBytes: Int = 16 << 20
    /// Components (record fields) of all descriptors of one file, unreadable ones counted as
    /// at least one each; for a v1 file, its fields. Default 1,048,576.
    public var maximumComponents: Int = 1 << 20
    /// Bytes of values one snapshot copies (one copy of every record). This also bounds the
    /// bytes one read attempt copies. Default 64 MiB.
    public var maximumValueBytes: Int = 64 << 20
    /// How long one snapshot may keep retrying records that the writer overtakes before the
    /// file is reported busy (`MmStatsError.Code.busy`). Default 200 ms.
    public var readTimeout: Duration = .milliseconds(200)
    /// Retries of one overtaken read before the file is reported busy, whatever the time.
    /// Default 100,000.
    public var maximumRetries: UInt32 = 100_000
    /// Fields of one legacy v1 file (each becomes a metric of its own). Default 65,536.
    public var maximumV1Fields: Int = 1 << 16
    /// Times the reader maps a growing file again while parsing one generation of its
    /// metadata. Default 16.
    public var maximumRemaps: Int = 16

    /// The defaults.
    public init() {}

    /// The deadline of a read starting now, as CLOCK_MONOTONIC nanoseconds (0: none).
    func deadline() -> UInt64 {
        let (seconds, attoseconds) = readTimeout.components
        guard seconds >= 0, attoseconds >= 0 else { return 1 }  // already past
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow else { return 0 }
        let total = nanoseconds.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !total.overflow else { return 0 }
        let deadline = mmstats_monotonic_ns().addingReportingOverflow(UInt64(total.partialValue))
        return deadline.overflow ? 0 : deadline.partialValue
    }
}
