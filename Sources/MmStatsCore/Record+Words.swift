import Synchronization

extension Record {
    /// The words a kind's record path stores into directly, for kinds that update a few words
    /// of a large record (windows, meters, histograms) instead of copying it whole through
    /// ``update(_:)``: the record in the mapping for layout `.word`, the writer's working page
    /// for layout `.pageFlip` (published by `publish()`), nil for `.doubleBuffer` (whose
    /// copies only the latch may write).
    ///
    /// Every word is an atomic: the single writer stores with relaxed (or stronger) ordering
    /// and follows docs/FORMAT.md §5 and its kind's protocol in §11. The pointer stays valid
    /// while the record (or any handle holding it) lives.
    ///
    /// ```swift
    /// @_spi(MetricKinds) import MmStatsCore
    /// let record = try stats.record("events", kind: MyKind(), layout: .word)
    /// let words = record.writableWords!
    /// words[0].store(words[0].load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    /// ```
    @_spi(MetricKinds)
    public var writableWords: UnsafeMutablePointer<Atomic<UInt64>>? {
        if let target { return isDoubleBuffer ? nil : target }
        return UnsafeMutableRawPointer(shadow).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}
