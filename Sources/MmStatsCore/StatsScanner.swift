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
/// through readers kept from earlier scans. A kept reader holds a read-only mapping of its
/// file but no descriptor, so thousands of files do not use up `RLIMIT_NOFILE`. A reader is kept while its path names the same file (device
/// and inode, taken from the directory entry, so an unchanged file costs no `stat`), and
/// parses the metadata again only when the file's generation changes. A file replaced at
/// its path (a new inode) is opened afresh; a file gone from the listing is forgotten, its
/// mapping released. A reader whose snapshot fails is dropped and opened again next time.
/// A directory whose entries did not change since the last scan (same inode, size and
/// modification and change times) is not read again. While it opens new readers the scanner
/// holds one descriptor, of the directory they are in.
///
/// A scan (``forEachSnapshot(onError:_:)``, ``forEachSnapshot(of:onError:_:)``,
/// ``snapshots(onError:)``) that meets many files it has no reader for (a first scan, or many
/// writers started at once: at least 64 among the next 65,536 files to read) opens them ahead
/// on ``openingThreads`` threads, the calling thread among them (by default the CPUs the
/// process could use when the default was first read, at most 4): each thread opens and maps
/// files, parses their metadata and takes a snapshot of their values, holding one descriptor
/// of a directory and one of the file it is opening. The snapshots are handed out on the
/// calling thread, in order, and an error is reported at its file's place (a file that failed
/// for want of descriptors or memory, or that changed size, is opened again on the calling
/// thread first). The snapshots of one read-ahead are handed out once all its files are
/// opened. The threads it starts begin with every signal blocked and unblock the faults a
/// load raises (SIGBUS, SIGSEGV, SIGFPE, SIGILL) before they read, so signals sent to the
/// process go to its own threads; they run only during the scan call, and what they opened
/// and was not handed out is dropped when it returns. They hold at most 64 MiB of parsed
/// metadata and values (past it the calling thread reads the values) and open no more files
/// than the room left under ``maximumReaders``, or 1,024 when there is less room: a scan
/// holds at most 1,024 mappings beyond ``maximumReaders``. A file the read-ahead opened
/// before it was removed is still read, as a kept reader's would be. Set ``openingThreads``
/// to 1 to open every file on the calling thread. ``snapshot(of:)`` reads one file, on the
/// calling thread.
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
/// `files(onError:)` then `forEachSnapshot(of:onError:_:)` (or `snapshot(of:)` for one file)
/// split a scan for callers that pick files first; `forEachSnapshot(onError:_:)` scans without
/// collecting the snapshots.
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

    /// Threads that open new files together when a scan (``forEachSnapshot(onError:_:)``,
    /// ``forEachSnapshot(of:onError:_:)``, ``snapshots(onError:)``) meets many files it has no
    /// reader for, a first scan or many writers started at once: when at least 64 among the
    /// next 65,536 files to read have none, up to 16,384 of them (no more than the room left
    /// under ``maximumReaders``, but at least 1,024) are opened, parsed and read on this many
    /// threads, the calling thread among them (2 starts one more thread), and the snapshots
    /// handed out in order on the calling thread. 1 opens every file on the calling thread,
    /// when it is read.
    public var openingThreads: Int = StatsScanner.defaultOpeningThreads

    /// The default ``openingThreads``: the CPUs in the affinity mask of the thread that first
    /// reads this value (normally the process's), at most 4 (past that the kernel's
    /// per-process lock on mappings keeps more threads from going faster). Worked out once.
    public static let defaultOpeningThreads = max(1, min(4, Int(mmstats_available_cpus())))

    /// Read-ahead: files without a reader looked for past the one whose turn it is, the most
    /// opened at once (and at least, whatever ``maximumReaders`` leaves), and the fewest worth
    /// starting threads for.
    static let readAheadLook = 65_536
    static let readAheadWindow = 16_384
    static let readAheadFloor = 1_024
    static let readAheadMinimum = 64

    /// A path as a dictionary key, by its UTF-8 bytes (two names that Unicode deems
    /// equivalent, `é` precomposed and decomposed, are two files), keeping its hash: looking a
    /// path up among thousands compares the hashes of the keys it probes, not their bytes
    /// (which live elsewhere in memory). The hash is the standard library's, seeded per process.
    struct PathKey: Hashable {
        let hash: Int
        let path: String

        init(_ path: String) {
            var path = path
            hash = path.withUTF8 { bytes in
                var hasher = Hasher()
                hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
                return hasher.finalize()
            }
            self.path = path
        }

        static func == (a: Self, b: Self) -> Bool {
            a.hash == b.hash && a.path.utf8.count == b.path.utf8.count && a.path.utf8.elementsEqual(b.path.utf8)
        }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }

    /// A listed file: the identity the listing saw at its path, and its kept reader.
    private final class Entry {
        let path: String
        var id: FileID
        var reader: StatsReader?
        /// What a read-ahead of the scan going on made of the file (a reader with its
        /// metadata parsed and usually a snapshot, or why it could not), taken when the file's
        /// turn comes.
        var pending: ReadAhead.Outcome?
        /// The read-ahead that last looked at the file (so one read-ahead takes it once).
        var readAhead = 0
        /// The listing that last saw the path.
        var listing: UInt64

        init(path: String, id: FileID, listing: UInt64) {
            self.path = path
            self.id = id
            self.listing = listing
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
                &entries[PathKey(path), default: Entry(path: path, id: id, listing: listing)])
            if entry.id != id {
                if entry.reader != nil { cachedReaders -= 1 }
                entry.reader = nil
                entry.id = id
            }
            entry.listing = listing
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
        let pending = entry.pending
        entry.pending = nil
        let reader: StatsReader
        switch pending {
        case .opened(let opened, _)?:
            reader = opened
        case .failed(let error)? where !Self.worthAnotherTry(error):
            throw error
        default:
            reader = try open(entry.path)
        }
        keep(reader, in: entry)
        return reader
    }

    /// Whether a read-ahead's failure may be the read-ahead's own doing, worth opening the file
    /// again for on the calling thread: out of descriptors or memory while several threads
    /// opened files, or a file that grew or shrank under it (the calling thread maps it again).
    /// A corrupt or hostile file is not parsed twice.
    private static func worthAnotherTry(_ error: MmStatsError) -> Bool {
        [.system, .full, .truncated].contains(error.code)
    }

    /// Keeps `reader` as `entry`'s if there is room.
    private func keep(_ reader: StatsReader, in entry: Entry) {
        if cachedReaders < maximumReaders {
            entry.reader = reader
            cachedReaders += 1
        }
    }

    /// A snapshot of `path` (see ``reader(for:)``), or nil if the file was removed before the
    /// scanner opened it (writers remove their files when they close: not an error; a kept
    /// reader still reads its mapping until the next listing drops it). A reader that fails
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
        if case .opened(let opened, let snapshot?)? = entry.pending {
            // Opened and read by a read-ahead thread during this scan.
            entry.pending = nil
            keep(opened, in: entry)
            return snapshot
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
    /// out, and so is one removed before the scanner opened it; the others are read.
    ///
    /// ```swift
    /// let snapshots = scanner.snapshots { error in print(error) }
    /// ```
    public func snapshots(onError: (MmStatsError) -> Void) -> [Snapshot] {
        var snapshots: [Snapshot] = []
        forEachSnapshot(onError: onError) { snapshots.append($0) }
        return snapshots
    }

    /// One scan, like ``snapshots(onError:)``, handing each snapshot to `body` in turn instead
    /// of collecting them (after a read-ahead, once its files are opened): the cheapest way to
    /// go through every file when the snapshots need not outlive the scan.
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
        read(lastEntries.map { Optional($0) }, paths: nil, onError: onError, body)
    }

    /// A scan of some of the files: a snapshot of each of `paths` in that order, handed to
    /// `body`, like ``forEachSnapshot(onError:_:)`` (a file that cannot be read is reported to
    /// `onError` and left out, and so is one removed before the scanner opened it). For callers that
    /// pick files from ``files(onError:)``: only the files given are opened, on several threads
    /// when many are new (``openingThreads``), which reading them one by one with
    /// ``snapshot(of:)`` does not do.
    ///
    /// ```swift
    /// let web = scanner.files(onError: { print($0) }).filter { $0.contains("/web/") }
    /// scanner.forEachSnapshot(of: web, onError: { print($0) }) { snapshot in print(snapshot.path) }
    /// ```
    public func forEachSnapshot(of paths: [String], onError: (MmStatsError) -> Void, _ body: (Snapshot) -> Void) {
        read(paths.map { entries[PathKey($0)] }, paths: paths, onError: onError, body)
    }

    /// Reads `targets` in order (a nil one, a path that was not listed, by its path in
    /// `paths`), opening ahead on several threads each run of many files without a reader.
    /// Whatever a read-ahead opened and was not read is dropped when the scan ends.
    private func read(
        _ targets: [Entry?], paths: [String]?, onError: (MmStatsError) -> Void, _ body: (Snapshot) -> Void
    ) {
        var aheadOf = 0  // targets before it were looked at by a read-ahead
        var opened: [Entry] = []
        defer {
            for entry in opened { entry.pending = nil }
            closeDirectory()
        }
        for (index, target) in targets.enumerated() {
            do throws(MmStatsError) {
                guard let entry = target else {
                    if let paths, let snapshot = try snapshot(of: paths[index]) { body(snapshot) }
                    continue
                }
                if entry.reader == nil && entry.pending == nil && index >= aheadOf && openingThreads > 1 {
                    aheadOf = readAhead(targets, from: index, into: &opened)
                }
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

    /// Opens ahead, on ``openingThreads`` threads, the files of `targets` from `start` on that
    /// have no reader: of the next ``readAheadLook``, up to ``readAheadWindow`` (and no more
    /// than the room left under ``maximumReaders``, but at least ``readAheadFloor``), if there
    /// are at least ``readAheadMinimum``. What each became waits in its entry (`pending`, also
    /// listed in `opened`) until its turn. Returns the first target a later read-ahead may take.
    private func readAhead(_ targets: [Entry?], from start: Int, into opened: inout [Entry]) -> Int {
        readAheadMark += 1
        let size = min(Self.readAheadWindow, max(Self.readAheadFloor, maximumReaders - cachedReaders))
        var window: [(index: Int, entry: Entry)] = []
        var index = start
        let end = min(targets.count, start + Self.readAheadLook)
        while index < end && window.count < size {
            if let entry = targets[index], entry.reader == nil, entry.pending == nil, entry.readAhead != readAheadMark {
                entry.readAhead = readAheadMark
                window.append((index, entry))
            }
            index += 1
        }
        guard window.count >= Self.readAheadMinimum else { return index }
        let threads = min(openingThreads, window.count / (Self.readAheadMinimum / 2))
        readAheads += 1
        let results = ReadAhead.open(window.map(\.entry.path), threads: threads, registry: registry, limits: limits)
        var next = index
        for (slot, result) in zip(window, results) {
            guard let result else {
                // Not reached: the read-ahead's memory bound stopped it. The next one starts here.
                next = min(next, slot.index)
                continue
            }
            slot.entry.pending = result
            opened.append(slot.entry)
        }
        return next
    }

    /// How many read-aheads ran (tests).
    private(set) var readAheads = 0
    /// Counts the read-aheads looked for, to mark the entries each one takes.
    private var readAheadMark = 0
}
