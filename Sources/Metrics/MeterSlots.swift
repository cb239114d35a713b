@_spi(MetricKinds) import MmStatsCore
import Synchronization

/// A ring of stamped sub-interval slots inside a record: the time machinery of meters and
/// windows (docs/FORMAT.md §11.4, "Stamped slots").
///
/// Slot `k mod slots` holds interval `k` (`k` = monotonic ns / granularity): a first stamp,
/// the data words, and a check stamp. The record path loads the clock's ``Tick`` once and
/// compares it with the interval it last wrote; only when the interval changed does it find
/// the slot and, if the slot holds an older interval, reset it with the protocol readers
/// rely on (check stamp marked, release fence, data reset, check stamp then first stamp
/// stored with release). Readers keep a slot only if both stamps equal the interval they
/// want, so they never mix a slot's old and new data, and a slot the writer stopped
/// writing drops out of the window on schedule.
///
/// ```swift
/// let ring = StampedSlots(base: words + 2, slots: 181, dataWords: 1, tick: clock.tick(every: 5_000_000_000))
/// let data = ring.currentData()   // the current interval's data words
/// data.pointee.store(data.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
/// ```
public struct StampedSlots {
    /// A stamp no interval has: the check stamp of a slot being reset, and both stamps of a
    /// slot never written.
    public static let mark = UInt64.max

    @usableFromInline let base: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let slotWords: Int
    @usableFromInline let slots: UInt64
    @usableFromInline let tick: Tick
    @usableFromInline let cursor: UnsafeMutablePointer<SlotCursor>
    @usableFromInline let cursorOwner: CursorOwner
    @usableFromInline let saturatedWord: Int

    /// A ring of `slots` slots of `dataWords` data words each, starting at `base` (the first
    /// stamp of slot 0). Data word `saturatedWord` (if any) resets to 2^64 − 1 (a minimum),
    /// every other data word to 0.
    ///
    /// ```swift
    /// let ring = StampedSlots(base: words + 3, slots: 61, dataWords: 2, tick: tick)
    /// ```
    public init(
        base: UnsafeMutablePointer<Atomic<UInt64>>, slots: Int, dataWords: Int, tick: Tick, saturatedWord: Int = -1
    ) {
        precondition(slots > 0 && dataWords > 0, "a ring needs slots and data")
        self.base = base
        self.slotWords = dataWords + 2
        self.slots = UInt64(slots)
        self.tick = tick
        self.cursorOwner = CursorOwner(base + 1)
        self.cursor = cursorOwner.cursor
        self.saturatedWord = saturatedWord
    }

    /// The data words of the current interval's slot (the clock's tick, one relaxed load),
    /// reset first if the slot held an older interval.
    ///
    /// ```swift
    /// let data = ring.currentData()
    /// ```
    @inlinable @inline(__always)
    public func currentData() -> UnsafeMutablePointer<Atomic<UInt64>> {
        let now = tick.current
        if _fastPath(cursor.pointee.tick == now) { return cursor.pointee.data }
        return enter(now)
    }

    /// Finds the slot of interval `interval` and resets it unless it already holds it.
    @usableFromInline @inline(never)
    func enter(_ interval: UInt64) -> UnsafeMutablePointer<Atomic<UInt64>> {
        let slot = base + Int(truncatingIfNeeded: interval % slots) &* slotWords
        let check = slot + (slotWords - 1)
        if slot.pointee.load(ordering: .relaxed) != interval || check.pointee.load(ordering: .relaxed) != interval {
            // docs/FORMAT.md §11.4: mark, fence, data, check stamp, first stamp.
            check.pointee.store(Self.mark, ordering: .relaxed)
            atomicMemoryFence(ordering: .releasing)
            for i in 1..<(slotWords - 1) {
                slot[i].store(i - 1 == saturatedWord ? .max : 0, ordering: .relaxed)
            }
            check.pointee.store(interval, ordering: .releasing)
            slot.pointee.store(interval, ordering: .releasing)
        }
        cursor.pointee = SlotCursor(tick: interval, data: slot + 1)
        return slot + 1
    }
}

/// The interval a ring last wrote and where its data is (private memory of the writer).
public struct SlotCursor {
    @usableFromInline var tick: UInt64
    @usableFromInline var data: UnsafeMutablePointer<Atomic<UInt64>>

    @usableFromInline init(tick: UInt64, data: UnsafeMutablePointer<Atomic<UInt64>>) {
        self.tick = tick
        self.data = data
    }
}

/// Owns a ring's cursor; copies of a handle share it.
public final class CursorOwner {
    @usableFromInline let cursor: UnsafeMutablePointer<SlotCursor>

    init(_ data: UnsafeMutablePointer<Atomic<UInt64>>) {
        cursor = .allocate(capacity: 1)
        // No interval has the mark, so the first record finds its slot.
        cursor.initialize(to: SlotCursor(tick: StampedSlots.mark, data: data))
    }

    deinit { cursor.deallocate() }
}

/// Reading the components of meters and windows (docs/FORMAT.md §11.4).
///
/// ```swift
/// let count = SlotReading.uint(components, 0)
/// ```
public enum SlotReading {
    /// Component `index` as an unsigned integer (0 when it is not one).
    public static func uint(_ components: [(name: String, value: Value)], _ index: Int) -> UInt64 {
        if case .uint(let v) = components[index].value { return v }
        return 0
    }

    /// Component `index` as a double (0 when it is not one).
    public static func double(_ components: [(name: String, value: Value)], _ index: Int) -> Double {
        if case .double(let v) = components[index].value { return v }
        return 0
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to [0, 2^64 − 1].
    ///
    /// ```swift
    /// Duration.seconds(5).clampedNanoseconds   // 5_000_000_000
    /// ```
    @_spi(MetricKinds)
    public var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let (product, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, overflow2) = product.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflow2 ? .max : sum
    }
}
