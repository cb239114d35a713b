#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Reads the stats files under some directories again and again, cheaply: the readers of the
/// files it has seen are kept between scans, bounded by a count rather than by descriptors.
///
/// Each scan lists the directories (their `*.mmstats` files, recursively, sorted by path, as
/// `mmstats slurp` does) and reads the files through readers kept from earlier scans. A
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

    /// A listed file: the identity the listing saw at its path, and its kept reader.
    private final class Entry {
        let path: String
        var id: FileID
        var reader: StatsReader?
        /// The listing that last saw the path.
        var listing: UInt64

        init(path: String, id: FileID, listing: UInt64) {
            self.path = path
            self.id = id
            self.listing = listing
        }
    }

    private var entries: [String: Entry] = [:]
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
        for (path, id) in found {
            files.append(path)
            if let entry = entries[path] {
                if entry.id != id {
                    if entry.reader != nil { cachedReaders -= 1 }
                    entry.reader = nil
                    entry.id = id
                }
                entry.listing = listing
                listed.append(entry)
            } else {
                let entry = Entry(path: path, id: id, listing: listing)
                entries[path] = entry
                listed.append(entry)
            }
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
        guard let entry = entries[path] else { return try open(path) }
        return try reader(of: entry)
    }

    private func reader(of entry: Entry) throws(MmStatsError) -> StatsReader {
        if let reader = entry.reader { return reader }
        let reader = try open(entry.path)
        if cachedReaders < maximumReaders {
            entry.reader = reader
            cachedReaders += 1
        }
        return reader
    }

    /// A snapshot of `path` (see ``reader(for:)``), or nil if the file was removed since it was
    /// listed (writers remove their files when they close: not an error). A reader that fails
    /// is dropped: the next scan opens the file afresh.
    ///
    /// ```swift
    /// if let snapshot = try scanner.snapshot(of: path) { print(snapshot.count) }
    /// ```
    public func snapshot(of path: String) throws(MmStatsError) -> Snapshot? {
        if let entry = entries[path] { return try snapshot(of: entry) }
        do throws(MmStatsError) {
            return try open(path).snapshot()
        } catch {
            if case .failure(let missing) = Sys.lstat(path), missing == .noEntry { return nil }
            throw error
        }
    }

    private func snapshot(of entry: Entry) throws(MmStatsError) -> Snapshot? {
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
        if let entry = entries[path] { forget(entry) }
    }

    private func forget(_ entry: Entry) {
        guard entry.reader != nil else { return }
        entry.reader = nil
        cachedReaders -= 1
    }

    /// The directory files are being opened in, kept open between files of one directory:
    /// `openat` of a name costs one lookup, `open` of a path one per component.
    private var directory: (path: Substring, fd: Int32)?

    deinit {
        closeDirectory()
    }

    private func closeDirectory() {
        if let directory { Sys.close(directory.fd) }
        directory = nil
    }

    /// A new reader of `path`, opened in its directory (kept open for the next file) when the
    /// path has one.
    private func open(_ path: String) throws(MmStatsError) -> StatsReader {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")), slash != path.utf8.startIndex else {
            return try StatsReader(path: path, registry: registry, limits: limits, holdsDescriptor: false)
        }
        let parent = path[..<slash]
        let name = String(path[path.index(after: slash)...])
        if directory?.path != parent {
            closeDirectory()
            // A parent that cannot be opened this way (a symbolic link given on the command
            // line, say) leaves the file to be opened by its whole path, as `StatsReader` does.
            if case .success(let fd) = Sys.open(String(parent), O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
                directory = (parent, fd)
            }
        }
        return try StatsReader(
            path: path, registry: registry, limits: limits, holdsDescriptor: false,
            directory: directory.map { ($0.fd, name) })
    }
}
