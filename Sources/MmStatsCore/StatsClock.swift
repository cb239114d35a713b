import CMmStats
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The time base of windows and meters: nanoseconds of `CLOCK_MONOTONIC`, which every
/// process of a host shares, so a reader computes a writer's windows for its own "now".
///
/// Writers never read a clock on their record path (a clock read costs tens of nanoseconds):
/// they load a ``Tick``, a counter of elapsed intervals that the clock keeps current. The
/// ``system`` clock advances its ticks from a background thread every few milliseconds; a
/// ``manual(at:)`` clock only moves when a test tells it to, and then its ticks follow at once.
///
/// ```swift
/// let clock = StatsClock.manual(at: 0)
/// let seconds = clock.tick(every: 1_000_000_000)
/// clock.advance(by: 2_500_000_000)
/// seconds.current   // 2
/// ```
public final class StatsClock: @unchecked Sendable {
    // @unchecked: `manualTime` and the tick table are guarded by `lock`; tick words are atomics.
    private let manualTime: Atomic<UInt64>
    /// Whether this clock is driven by hand.
    public let isManual: Bool
    private let lock = Mutex<[UInt64: UnsafeMutablePointer<Atomic<UInt64>>]>([:])

    /// The host's monotonic clock.
    public static let system = StatsClock(manual: nil)

    /// A clock that stands still at `nanoseconds` until `advance(by:)` or `set(_:)` moves it.
    public static func manual(at nanoseconds: UInt64) -> StatsClock { StatsClock(manual: nanoseconds) }

    private init(manual: UInt64?) {
        manualTime = Atomic(manual ?? 0)
        isManual = manual != nil
    }

    /// The time now, in monotonic nanoseconds.
    public func now() -> UInt64 {
        if isManual { return manualTime.load(ordering: .acquiring) }
        return mmstats_monotonic_ns()
    }

    /// Moves a manual clock forward (ticks follow before this returns). Does nothing to `system`.
    public func advance(by nanoseconds: UInt64) {
        guard isManual else { return }
        set(manualTime.load(ordering: .relaxed) &+ nanoseconds)
    }

    /// Sets a manual clock (ticks follow before this returns). Does nothing to `system`.
    public func set(_ nanoseconds: UInt64) {
        guard isManual else { return }
        lock.withLock { ticks in
            manualTime.store(nanoseconds, ordering: .releasing)
            for (granularity, word) in ticks { word.pointee.store(nanoseconds / granularity, ordering: .releasing) }
        }
    }

    /// A counter of `granularity`-nanosecond intervals since the clock's zero: `now / granularity`,
    /// kept current by the clock (the system clock: within a few milliseconds). Ticks of the
    /// same granularity are shared; they live as long as the process.
    public func tick(every granularity: UInt64) -> Tick {
        precondition(granularity > 0, "a tick needs a granularity of at least 1 ns")
        let word = lock.withLock { ticks -> UnsafeMutablePointer<Atomic<UInt64>> in
            if let word = ticks[granularity] { return word }
            let word = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: 1)
            word.initialize(to: Atomic(now() / granularity))
            ticks[granularity] = word
            return word
        }
        if !isManual { Ticker.shared.start(self) }
        return Tick(word: word, granularity: granularity)
    }

    /// Brings every tick of this clock up to date (the system clock's ticker thread calls it).
    func refresh() {
        lock.withLock { ticks in
            // The time is read under the lock: a tick created meanwhile starts from a time that
            // is not later than this one, so a tick never goes back.
            let time = now()
            for (granularity, word) in ticks {
                let value = time / granularity
                if word.pointee.load(ordering: .relaxed) != value { word.pointee.store(value, ordering: .releasing) }
            }
        }
    }
}

/// A number of elapsed intervals that a ``StatsClock`` keeps current; one load to read.
///
/// ```swift
/// let tick = StatsClock.system.tick(every: 1_000_000_000)
/// let second = tick.current
/// ```
public struct Tick: @unchecked Sendable {
    // @unchecked: the word is an atomic that lives as long as the process.
    @usableFromInline let word: UnsafeMutablePointer<Atomic<UInt64>>
    /// Nanoseconds per interval.
    public let granularity: UInt64

    init(word: UnsafeMutablePointer<Atomic<UInt64>>, granularity: UInt64) {
        self.word = word
        self.granularity = granularity
    }

    /// The current interval number (`now / granularity`).
    @inlinable @inline(__always)
    public var current: UInt64 { word.pointee.load(ordering: .relaxed) }
}

/// The background thread that keeps the system clock's ticks current.
final class Ticker: @unchecked Sendable {
    static let shared = Ticker()
    /// How often ticks are refreshed.
    static let period: UInt64 = 2_000_000
    private let started = Atomic<Bool>(false)

    func start(_ clock: StatsClock) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(clock).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { context in
                guard let context else { return nil }
                let clock = Unmanaged<StatsClock>.fromOpaque(context).takeUnretainedValue()
                var pause = timespec(tv_sec: 0, tv_nsec: Int(Ticker.period))
                while true {
                    clock.refresh()
                    nanosleep(&pause, nil)
                }
            }, context)
        if status == 0 {
            pthread_detach(thread)
        } else {
            // No thread: let a later tick try again rather than leave every window frozen.
            Unmanaged<StatsClock>.fromOpaque(context).release()
            started.store(false, ordering: .releasing)
        }
    }
}
