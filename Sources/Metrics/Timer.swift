import MmStatsCore

/// A timer handle: a histogram of durations in nanoseconds (kind `timer`, docs/FORMAT.md §11.2).
///
/// Time a closure, start and stop, or record a duration measured by the caller. Recording a
/// given duration is a histogram record; `time { … }` and `start()`/`stop()` also read the
/// timer's clock twice (`CLOCK_MONOTONIC`: the caller asked for a measurement).
///
/// ```swift
/// let query = try stats.timer("db.query")
/// let rows = try query.time { try database.query(sql) }
/// let watch = query.start()
/// defer { watch.stop() }
/// query.record(nanoseconds: 1_200)
/// query.record(.milliseconds(3))
/// ```
///
/// A handle belongs to its writer's thread, as every handle does.
public struct StatsTimer {
    /// The histogram of nanoseconds underneath.
    public let histogram: Histogram
    /// The clock `time { … }` and `start()` read.
    public let clock: StatsClock

    init(histogram: Histogram, clock: StatsClock) {
        self.histogram = histogram
        self.clock = clock
    }

    /// Records a duration of `nanoseconds`.
    ///
    /// ```swift
    /// query.record(nanoseconds: 1_200)
    /// ```
    @inlinable @inline(__always)
    public func record(nanoseconds: UInt64) {
        histogram.record(nanoseconds)
    }

    /// Records `duration`, truncated to whole nanoseconds (a negative one as 0, one longer
    /// than 2^64 − 1 ns as that).
    ///
    /// ```swift
    /// query.record(.microseconds(250))
    /// ```
    @inlinable @inline(__always)
    public func record(_ duration: Duration) {
        histogram.record(Self.nanoseconds(duration))
    }

    /// Runs `body`, records how long it took, and returns its result (also when it throws:
    /// the time until it threw is recorded).
    ///
    /// ```swift
    /// let page = try query.time { try render(request) }
    /// ```
    @inlinable
    public func time<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let started = clock.now()
        defer { record(nanoseconds: Self.elapsed(since: started, until: clock.now())) }
        return try body()
    }

    /// Starts a measurement; `stop()` on the result records it.
    ///
    /// ```swift
    /// let watch = query.start()
    /// handle(request)
    /// watch.stop()
    /// ```
    public func start() -> Stopwatch {
        Stopwatch(timer: self, started: clock.now())
    }

    /// A measurement in progress: the timer and when it started.
    ///
    /// ```swift
    /// let watch = query.start()
    /// let elapsed = watch.stop()   // nanoseconds, also recorded
    /// ```
    public struct Stopwatch {
        /// The timer that `stop()` records into.
        public let timer: StatsTimer
        /// The clock's time at `start()`, in nanoseconds.
        public let started: UInt64

        /// Records the nanoseconds since `start()` and returns them (0 if the clock went back).
        ///
        /// ```swift
        /// watch.stop()
        /// ```
        @discardableResult
        public func stop() -> UInt64 {
            let elapsed = StatsTimer.elapsed(since: started, until: timer.clock.now())
            timer.record(nanoseconds: elapsed)
            return elapsed
        }
    }

    /// `end − start`, or 0 when `end` is earlier.
    @inlinable
    static func elapsed(since start: UInt64, until end: UInt64) -> UInt64 {
        end >= start ? end &- start : 0
    }

    /// Whole nanoseconds of `duration`, clamped to 0…2^64 − 1. Durations under about 9.2 s
    /// take a 64-bit division by a constant; longer ones the general 128-bit path.
    @inlinable
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        if #available(macOS 26, iOS 26, watchOS 26, tvOS 26, visionOS 26, *) {
            if let attoseconds = Int64(exactly: duration.attoseconds) {
                return attoseconds <= 0 ? 0 : UInt64(attoseconds) / 1_000_000_000
            }
        }
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds) / 1_000_000_000)
        return overflow || carry ? .max : total
    }
}
