/// A way of storing value records in a file, with its write and read protocols.
///
/// The core ships three (`WordLayout`, `DoubleBufferLayout`, `PageFlipLayout`); a reader uses a
/// layout to read records whose descriptors carry its id. Snapshots read the built-in layouts
/// in one batched, fault-guarded pass; other layouts are read record by record through
/// `read(_:from:)`.
public protocol StorageLayout: Sendable {
    /// The number stored in descriptors.
    var id: LayoutID { get }
    /// A short name (`word`, `double-buffer`, `page-flip`).
    var name: String { get }
    /// Bytes of file space one copy-set of a record of `recordWords` words takes at `valueOffset`
    /// (for page flip, per page).
    func storageBytes(recordWords: Int) -> Int
    /// Reads one record's current words by the layout's read protocol.
    func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64]
}

/// Layout 1: each slot is one aligned word, written with one store and read with one load.
public struct WordLayout: StorageLayout {
    /// Creates the layout.
    public init() {}
    /// 1.
    public var id: LayoutID { .word }
    /// `word`.
    public var name: String { "word" }
    /// The record itself.
    public func storageBytes(recordWords: Int) -> Int { recordWords * 8 }
    /// Relaxed loads of each word.
    public func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        try region.readRecord(descriptor)
    }
}

/// Layout 2: a sequence-count latch over two copies; readers never wait and never see a torn record.
public struct DoubleBufferLayout: StorageLayout {
    /// Creates the layout.
    public init() {}
    /// 2.
    public var id: LayoutID { .doubleBuffer }
    /// `double-buffer`.
    public var name: String { "double-buffer" }
    /// The seq word and two copies.
    public func storageBytes(recordWords: Int) -> Int { (1 + 2 * recordWords) * 8 }
    /// The latch's read protocol (docs/FORMAT.md §5.2).
    public func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        try region.readRecord(descriptor)
    }
}

/// Layout 3: two pages, published together by one flip; a reader sees one instant of the file.
public struct PageFlipLayout: StorageLayout {
    /// Creates the layout.
    public init() {}
    /// 3.
    public var id: LayoutID { .pageFlip }
    /// `page-flip`.
    public var name: String { "page-flip" }
    /// One copy per page.
    public func storageBytes(recordWords: Int) -> Int { recordWords * 8 }
    /// The flip's read protocol (docs/FORMAT.md §5.3).
    public func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        try region.readRecord(descriptor)
    }
}
