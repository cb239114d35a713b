import CMmStats

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reads the stats files under some directories again and again, cheaply: the readers of the
/// files it has seen are kept between scans, bounded by a count rather than by descriptors.
///
/// Each scan lists the directories (their `*.mmstats` files, recursively, sorted by path, by
/// the bytes of their UTF-8 as `mmstats slurp` and the Python reader do) and reads the files
/// through readers kept from earlier scans. A
/// kept reader holds a read-only mapping of its file but no descriptor, so thousands of files
/// do not use up `RLIMIT_NOFILE`. A reader is kept while its path names the same file (device
/// and inode, taken from the directory entry, so an unchanged file costs no `stat`), and
/// parses the metadata again only when the file's generation changes. A file replaced at
/// its path (a new inode) is opened afresh; a file gone from the listing is forgotten, its
/// mapping released. A reader whose snapshot fails is dropped and opened again next time.
/// A directory whose entries did not change since the last scan (same inode, size and
/// modification and change times) is not read again. While it opens new readers the scanner
/// holds one descriptor, of the directory they are in.
///
/// A scan that meets many files it has no reader for (a first scan, or many writers started
/// at once: at least 64 of the next files listed) opens them ahead on ``openingThreads``
/// threads (the CPUs it may use, at most 4): each thread opens and maps files, parses their
/// metadata and takes a first snapshot, holding one descriptor of a directory and one of the
/// file it is opening. The snapshots are still handed out on the calling thread, in order,
/// and a file that fails there is opened again on the calling thread, so errors are reported
/// where the file is. The threads block every signal but the faults a load raises, run only
/// during the scan call that started them, and hold at most 64 MiB of metadata and values
/// ahead; set ``openingThreads`` to 1 to open every file on the calling thread.
///
/// Everything `StatsReader` guarantees still holds: no symbolic link is followed, every
/// offset is validated, every load of the file is guarded, a writer that died or restarted
/// shows in the snapshot's `writer`. Every error names its file and the reason.
///
/// ```swift
/// let scanner = StatsScanner(paths: [StatsDirectory.defaultRoot()])
/// while true {
///     for snapshot in scanner.snapshots(onError: { print($0) }) {
///         print(snapshot.path, snapshot.count)
///     }
///     sleep(1)
/// }
/// ```
///
/// `files(onError:)` and `snapshot(of:)` split a scan for callers that pick files first;
/// `forEachSnapshot(onError:_:)` scans without collecting the snapshots.
///
/// A scanner is not thread-safe: use it from one thread at a time.
public final class StatsScanner {
    /// The directories and files scanned. A directory is searched for `*.mmstats` files at
    /// most ``maximumDepth`` levels deep; a file given here is read whatever its name.
    public let paths: [String]
    /// The layouts and kinds the readers use.
    public let registry: PluginRegistry
    /// What reading one file may cost (each reader's `limits`).
    public let limits: ReaderLimits
    /// The most readers kept between scans. Files beyond them are still read, by a reader
    /// opened for that one read.
    public let maximumReaders: Int

    /// How many levels of directories below a directory in ``paths`` are searched.
    public static let maximumDepth = 64

    /// The default cap on readers kept: 65,536, or half of `vm.max_map_count` if that is
    /// smaller (each kept reader holds one mapping).
    public static let defaultMaximumReaders: Int = {
        guard let bytes = Sys.readSmallFile("/proc/sys/vm/max_map_count"),
            let count = Int(String(decoding: bytes, as: UTF8.self).filter { $0.isNumber })
        else { return 32_768 }
        return max(64, min(65_536, count / 2))
    }()

    /// Threads that open new files together when a scan meets many files it has no reader
    /// for (a first scan, or many writers started at once): at least 64 such files in the
    /// next 4,096 listed are opened, and their metadata parsed, up to 1,024 at a time, on this
    /// many threads; their values are still read on the calling thread, in order, when each
    /// file is read. 1 opens every file on the calling thread, when it is read.
    public var openingThreads: Int = StatsScanner.defaultOpeningThreads

    /// The default ``openingThreads``: the CPUs this thread may run on, at most 4 (past that
    /// the kernel's per-process lock on mappings keeps more threads from going faster).
    public static let defaultOpeningThreads = max(1, min(4, Int(mmstats_available_cpus())))

    /// Read-ahead: files without a reader looked for past the one asked for, the most opened
    /// at once, and the fewest worth starting threads for.
    static let readAheadLook = 65_536
    static let readAheadWindow = 16_384
    static let readAheadMinimum = 64

    /// A path as a dictionary key that keeps its hash: looking a path up among thousands
    /// compares the hashes of the keys it probes, not their strings (which live elsewhere in
    /// memory). The hash is the standard library's, seeded per process.
    struct PathKey: Hashable {
        let hash: Int
        let path: String

        init(_ path: String) {
            self.path = path
            hash = path.hashValue
        }

        static func == (a: Self, b: Self) -> Bool { a.hash == b.hash && a.path == b.path }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }

    /// A listed file: the identity the listing saw at its path, and its kept reader.
    private final class Entry {
        let path: String
        var id: FileID
        var reader: StatsReader?
        /// A reader opened by a read-ahead, with the snapshot it took then: taken by the next
        /// read of the file.
        var pending: ReadAhead.Opened?
        /// The listing that last saw the path.
        var listing: UInt64
        /// The entry's index in `lastEntries`.
        var position: Int

        init(path: String, id: FileID, listing: UInt64, position: Int) {
            self.path = path
            self.id = id
            self.listing = listing
            self.position = position
        }
    }

    private var entries: [PathKey: Entry] = [:]
    private var listing: UInt64 = 0
    private var listingCache = ListingCache()
    /// What the last listing returned, and the entries of those files in the same order.
    private var lastFiles: [String]?
    private var lastEntries: [Entry] = []
    /// How many readers are kept now.
    public private(set) var cachedReaders = 0
    /// The entries of the last read-ahead (some may still hold a pending reader).
    private var readAheadEntries: [Entry] = []
    /// Positions in `lastEntries` below it were looked at by a read-ahead since the last listing.
    private var readAheadChecked = 0

    /// A scanner of `paths` (directories or files). `registry` and `limits` are given to every
    /// reader; at most `maximumReaders` readers are kept between scans.
    ///
    /// ```swift
    /// let scanner = StatsScanner(paths: ["/run/user/1000/mmstats/web"], maximumReaders: 1_000)
    /// ```
    public init(
        paths: [String], registry: PluginRegistry = .shared, limits: ReaderLimits = ReaderLimits(),
        maximumReaders: Int = StatsScanner.defaultMaximumReaders
    ) {
        self.paths = paths
        self.registry = registry
        self.limits = limits
        self.maximumReaders = max(0, maximumReaders)
    }

    /// Lists ``paths``: files as given, directories expanded recursively to their `*.mmstats`
    /// files sorted by path. A file reached under several paths (hard links, or given twice)
    /// is listed once, under the first. Names that start with `.`, symbolic links, and entries
    /// that are neither regular files nor directories are skipped. What cannot be searched (a
    /// directory that cannot be opened or was replaced during the walk, a name that is not
    /// UTF-8, a directory too deep) is reported to `onError`, and the rest is listed.
    ///
    /// Kept readers of files no longer listed, or listed with another inode, are dropped.
    ///
    /// ```swift
    /// let files = scanner.files { print($0) }
    /// ```
    public func files(onError: (MmStatsError) -> Void) -> [String] {
        closeDirectory()
        dropReadAhead()
        readAheadChecked = 0
        let found = Self.expand(paths, cache: &listingCache, onError: onError)
        // Every directory as it was: the same paths and identities as last time.
        if !listingCache.changed, let lastFiles { return lastFiles }
        listing &+= 1
        var files: [String] = []
        var listed: [Entry] = []
        files.reserveCapacity(found.count)
        listed.reserveCapacity(found.count)
        entries.reserveCapacity(found.count)
        for (path, id) in found {
            files.append(path)
            // One lookup: a path not seen before gets a new entry, with the identity listed.
            let entry = Self.entry(
                &entries[PathKey(path), default: Entry(path: path, id: id, listing: listing, position: 0)])
            if entry.id != id {
                if entry.reader != nil { cachedReaders -= 1 }
                entry.reader = nil
                entry.id = id
            }
            entry.listing = listing
            entry.position = listed.count
            listed.append(entry)
        }
        if entries.count > found.count {
            let current = listing
            entries = entries.filter { $0.value.listing == current }
            cachedReaders = entries.values.count { $0.reader != nil }
        }
        lastEntries = listed
        lastFiles = files
        return files
    }

    private static func entry(_ entry: inout Entry) -> Entry { entry }

    /// The reader of `path`, a file of the last ``files(onError:)``: the one kept from an
    /// earlier scan, else a new one, kept if there is room. A path that was not listed gets a
    /// reader that is not kept.
    ///
    /// ```swift
    /// for path in scanner.files(onError: { print($0) }) {
    ///     let descriptors = try scanner.reader(for: path).descriptors
    /// }
    /// ```
    public func reader(for path: String) throws(MmStatsError) -> StatsReader {
        guard let entry = entries[PathKey(path)] else { return try open(path) }
        return try reader(of: entry)
    }

    private func reader(of entry: Entry) throws(MmStatsError) -> StatsReader {
        if let reader = entry.reader { return reader }
        if entry.pending == nil { readAhead(from: entry) }
        let reader: StatsReader
        if let pending = entry.pending {
            entry.pending = nil
            reader = pending.reader
        } else {
            reader = try open(entry.path)
        }
        keep(reader, in: entry)
        return reader
    }

    /// Keeps `reader` as `entry`'s if there is room.
    private func keep(_ reader: StatsReader, in entry: Entry) {
        if cachedReaders < maximumReaders {
            entry.reader = reader
            cachedReaders += 1
        }
    }

    /// A snapshot of `path` (see ``reader(for:)``), or nil if the file was removed since it was
    /// listed (writers remove their files when they close: not an error). A reader that fails
    /// is dropped: the next scan opens the file afresh.
    ///
    /// ```swift
    /// if let snapshot = try scanner.snapshot(of: path) { print(snapshot.count) }
    /// ```
    public func snapshot(of path: String) throws(MmStatsError) -> Snapshot? {
        if let entry = entries[PathKey(path)] { return try snapshot(of: entry) }
        do throws(MmStatsError) {
            return try open(path).snapshot()
        } catch {
            if case .failure(let missing) = Sys.lstat(path), missing == .noEntry { return nil }
            throw error
        }
    }

    private func snapshot(of entry: Entry) throws(MmStatsError) -> Snapshot? {
        if entry.reader == nil && entry.pending == nil { readAhead(from: entry) }
        if let pending = entry.pending {
            // Opened and read by the read-ahead, a moment ago.
            entry.pending = nil
            keep(pending.reader, in: entry)
            return pending.snapshot
        }
        let reader: StatsReader
        do throws(MmStatsError) {
            reader = try self.reader(of: entry)
        } catch {
            if case .failure(let missing) = Sys.lstat(entry.path), missing == .noEntry { return nil }
            throw error
        }
        do throws(MmStatsError) {
            return try reader.snapshot()
        } catch {
            forget(entry)
            throw error
        }
    }

    /// One scan: a snapshot of every file ``files(onError:)`` lists, in its order. Each file
    /// that cannot be read is reported to `onError` (with its path and the reason) and left
    /// out, and so is one removed since it was listed; the others are read.
    ///
    /// ```swift
    /// let snapshots = scanner.snapshots { error in print(error) }
    /// ```
    public func snapshots(onError: (MmStatsError) -> Void) -> [Snapshot] {
        var snapshots: [Snapshot] = []
        forEachSnapshot(onError: onError) { snapshots.append($0) }
        return snapshots
    }

    /// One scan, like ``snapshots(onError:)``, handing each snapshot to `body` as it is read
    /// instead of collecting them: the cheapest way to go through every file when the
    /// snapshots need not outlive the scan.
    ///
    /// ```swift
    /// var requests: UInt64 = 0
    /// scanner.forEachSnapshot(onError: { print($0) }) { snapshot in
    ///     if case .uint(let n) = snapshot.value("http.requests") { requests += n }
    /// }
    /// ```
    public func forEachSnapshot(onError: (MmStatsError) -> Void, _ body: (Snapshot) -> Void) {
        _ = files(onError: onError)
        // The entries of the files just listed, in order: no lookup by path.
        defer { closeDirectory() }
        for entry in lastEntries {
            do throws(MmStatsError) {
                if let snapshot = try snapshot(of: entry) { body(snapshot) }
            } catch {
                onError(error)
            }
        }
    }

    /// Drops the kept reader of `path`, if any: the next read opens the file afresh.
    public func forget(_ path: String) {
        if let entry = entries[PathKey(path)] { forget(entry) }
    }

    private func forget(_ entry: Entry) {
        entry.pending = nil
        guard entry.reader != nil else { return }
        entry.reader = nil
        cachedReaders -= 1
    }

    /// Opens the files asked for that have no reader, in the directory of the last one.
    private var cursor = DirectoryCursor()

    deinit {
        cursor.close()
    }

    private func closeDirectory() {
        cursor.close()
    }

    /// A new reader of `path`.
    private func open(_ path: String) throws(MmStatsError) -> StatsReader {
        try cursor.open(path, registry: registry, limits: limits)
    }

    /// When `entry` (just asked for, with no reader) starts a run of listed files without
    /// readers, opens them ahead on ``openingThreads`` threads: of the next
    /// ``readAheadLook`` files listed, those without a reader, if there are at least
    /// ``readAheadMinimum``, at most ``readAheadWindow``. The readers wait in their entries
    /// (`pending`) until each file is read; those of an earlier read-ahead that were never
    /// read are dropped first, so one read-ahead's readers are held at a time.
    private func readAhead(from entry: Entry) {
        let start = entry.position
        guard openingThreads > 1, start >= readAheadChecked, start < lastEntries.count,
            lastEntries[start] === entry
        else { return }
        dropReadAhead()
        var window: [Entry] = []
        var position = start
        let end = min(lastEntries.count, start + Self.readAheadLook)
        while position < end && window.count < Self.readAheadWindow {
            if lastEntries[position].reader == nil { window.append(lastEntries[position]) }
            position += 1
        }
        readAheadChecked = position
        guard window.count >= Self.readAheadMinimum else { return }
        let threads = min(openingThreads, window.count / (Self.readAheadMinimum / 2))
        readAheads += 1
        let (readers, done) = ReadAhead.open(
            window.map(\.path), threads: threads, registry: registry, limits: limits)
        for (entry, opened) in zip(window, readers) { entry.pending = opened }
        // Stopped by its memory bound: the files it did not reach start the next read-ahead.
        if done < window.count { readAheadChecked = window[done].position }
        readAheadEntries = Array(window.prefix(done))
    }

    /// How many read-aheads ran (tests).
    private(set) var readAheads = 0

    /// How many read-ahead readers wait to be read (tests).
    var pendingReaders: Int { readAheadEntries.count { $0.pending != nil } }

    private func dropReadAhead() {
        for entry in readAheadEntries { entry.pending = nil }
        readAheadEntries = []
    }
}
