import Synchronization

extension Record {
    /// One-word-at-a-time access to this record, for kinds whose records are too large to copy
    /// on every update (a histogram has 2,372 words); nil for a double-buffer record, whose
    /// words only ``update(_:)`` may change.
    ///
    /// In the word layout each store lands in the file at once (docs/FORMAT.md §5.1: readers
    /// see every word on its own); in a page-flip file it lands in the working page and is
    /// published by the writer's next `publish()`. Use either this or ``update(_:)`` on a
    /// record, not both: `update` would store its own copy of every word over these stores.
    ///
    /// ```swift
    /// let record = try stats.record("sizes", kind: MySizesKind())
    /// if let words = record.inPlace { words.store(words.load(3) &+ 1, at: 3) }
    /// ```
    public var inPlace: InPlaceWords? {
        if isDoubleBuffer { return nil }
        return InPlaceWords(base: target ?? shadowAtomics, count: words)
    }

    private var shadowAtomics: UnsafeMutablePointer<Atomic<UInt64>> {
        UnsafeMutableRawPointer(shadow).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}

/// The words of a word-layout or page-flip record, each loaded and stored on its own with a
/// relaxed atomic access (see ``Record/inPlace``).
///
/// Like every handle it belongs to its writer's thread and holds no reference: its memory is
/// never unmapped while the process runs (docs/FORMAT.md §11.6), so a copy costs nothing.
///
/// ```swift
/// let words = try #require(record.inPlace)
/// words.store(words.load(0) &+ 1, at: 0)
/// ```
public struct InPlaceWords: BitwiseCopyable {
    @usableFromInline let base: UnsafeMutablePointer<Atomic<UInt64>>
    /// Words in the record.
    public let count: Int

    init(base: UnsafeMutablePointer<Atomic<UInt64>>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Word `index` (relaxed load); traps if `index` is not in `0..<count`.
    ///
    /// ```swift
    /// let first = words.load(0)
    /// ```
    @inlinable @inline(__always)
    public func load(_ index: Int) -> UInt64 {
        precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "record word index out of range")
        return base[index].load(ordering: .relaxed)
    }

    /// Stores `value` into word `index` (relaxed store); traps if `index` is not in `0..<count`.
    ///
    /// ```swift
    /// words.store(42, at: 1)
    /// ```
    @inlinable @inline(__always)
    public func store(_ value: UInt64, at index: Int) {
        precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "record word index out of range")
        base[index].store(value, ordering: .relaxed)
    }
}

extension InPlaceWords {
    /// Word `index` as a handle of its own, checked once here instead of at every store.
    ///
    /// ```swift
    /// let flag = words.word(0)
    /// flag.store(1)
    /// ```
    public func word(_ index: Int) -> InPlaceWord {
        precondition(UInt(bitPattern: index) < UInt(bitPattern: count), "record word index out of range")
        return InPlaceWord(word: base + index)
    }
}

/// One word of a word-layout or page-flip record (see ``InPlaceWords/word(_:)``): a relaxed
/// load or store, nothing else.
///
/// ```swift
/// let word = try #require(record.inPlace).word(0)
/// word.store(word.load() &+ 1)
/// ```
public struct InPlaceWord: BitwiseCopyable {
    @usableFromInline let word: UnsafeMutablePointer<Atomic<UInt64>>

    init(word: UnsafeMutablePointer<Atomic<UInt64>>) { self.word = word }

    /// The word (relaxed load).
    @inlinable @inline(__always)
    public func load() -> UInt64 { word.pointee.load(ordering: .relaxed) }

    /// Stores `value` (relaxed store).
    @inlinable @inline(__always)
    public func store(_ value: UInt64) { word.pointee.store(value, ordering: .relaxed) }
}
