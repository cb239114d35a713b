#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension StatsScanner {
    /// A file's identity: hard links to one file share it.
    struct FileID: Hashable {
        let device: UInt64
        let inode: UInt64

        init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// A file found, with the identity its directory entry gave.
    typealias Found = (path: String, id: FileID)

    /// How the files found under one directory were sorted last time: the files in the order
    /// the walk found them, and the permutation that sorts them. A directory whose entries did
    /// not change is walked in the same order, and the permutation is reused instead of
    /// sorting again (comparing the paths costs far less than sorting them).
    struct SortedListing {
        var walked: [Found] = []
        var order: [Int] = []
        /// When the directory is the only path: the files in order with hard links dropped.
        var result: [Found]? = nil
    }

    /// The device, inode, size and change times of a directory: any entry added, removed or
    /// renamed in it changes its modification and change times.
    struct DirectoryFingerprint: Equatable {
        let id: FileID
        let size: Int64
        let modified: timespec
        let changed: timespec

        init(_ info: stat) {
            id = FileID(info)
            size = Int64(info.st_size)
            modified = info.st_mtim
            changed = info.st_ctim
        }

        static func == (a: Self, b: Self) -> Bool {
            a.id == b.id && a.size == b.size && a.modified.tv_sec == b.modified.tv_sec
                && a.modified.tv_nsec == b.modified.tv_nsec && a.changed.tv_sec == b.changed.tv_sec
                && a.changed.tv_nsec == b.changed.tv_nsec
        }

        /// Whether the directory changed less than `margin` before `now`: a change in the same
        /// tick of the file system's clock could then leave the times as they are, so such a
        /// listing is not reused (the "racy" case that git's index also has). Linux's local file
        /// systems (tmpfs, ext4, xfs, btrfs) stamp times at least every 10 ms.
        func isRecent(now: timespec, margin: Int64 = 100_000_000) -> Bool {
            func nanoseconds(_ t: timespec) -> Int64 { Int64(t.tv_sec) &* 1_000_000_000 &+ Int64(t.tv_nsec) }
            return max(nanoseconds(modified), nanoseconds(changed)) > nanoseconds(now) &- margin
        }
    }

    /// A directory's entries as last listed, kept while its fingerprint does not change.
    struct DirectoryListing {
        let fingerprint: DirectoryFingerprint
        let files: [Found]
        let subdirectories: [Found]
        var visit: UInt64
    }

    /// What the listing remembers between scans: each directory's entries, and each given
    /// directory's sort order. Entries of directories no longer visited are dropped.
    struct ListingCache {
        var directories: [String: DirectoryListing] = [:]
        var sorted: [String: SortedListing] = [:]
        var visit: UInt64 = 0
        /// Whether the last `expand` read anything afresh (false: every directory was kept, and
        /// its result is the one before).
        var changed = true
    }

    /// Files as given, directories expanded recursively to their `*.mmstats` files sorted by
    /// path. A file reached under several paths (hard links, or given twice) is listed once,
    /// under the first of them. What cannot be searched is reported to `onError`. `cache`
    /// keeps directory listings and sort orders between calls.
    static func expand(
        _ paths: [String], cache: inout ListingCache, onError: (MmStatsError) -> Void
    ) -> [Found] {
        cache.visit &+= 1
        cache.changed = false
        defer {
            let visit = cache.visit
            if cache.directories.values.contains(where: { $0.visit != visit }) {
                cache.directories = cache.directories.filter { $0.value.visit == visit }
            }
        }
        var files: [Found] = []
        var seen: Set<FileID> = []
        for path in paths {
            let info: stat
            switch Sys.lstat(path) {
            case .success(let found): info = found
            case .failure(let error):
                onError(.system(error, path: path, "cannot open"))
                continue
            }
            if info.st_mode & S_IFMT == S_IFDIR {
                var found: [Found] = []
                walk(path, id: FileID(info), depth: 0, into: &found, cache: &cache, onError: onError)
                seen.reserveCapacity(seen.count + found.count)
                if let last = cache.sorted[path], last.walked.count == found.count,
                    zip(last.walked, found).allSatisfy({ $0.path == $1.path && $0.id == $1.id })
                {
                    // The same walk as last time: the same order, and for a single directory the same result.
                    if paths.count == 1, let result = last.result { return result }
                    for index in last.order where seen.insert(found[index].id).inserted { files.append(found[index]) }
                } else {
                    cache.changed = true
                    let order = sortedOrder(found)
                    for index in order where seen.insert(found[index].id).inserted { files.append(found[index]) }
                    cache.sorted[path] = SortedListing(
                        walked: found, order: order, result: paths.count == 1 ? files : nil)
                }
            } else if seen.insert(FileID(info)).inserted {
                cache.changed = true  // a file given by name: its identity is looked up each time
                files.append((path, FileID(info)))
            }
        }
        return files
    }

    /// The permutation that sorts `found` by path: by the paths' UTF-8 bytes, which is the
    /// order of their code points (Python's order for `str`, so both readers agree). Paths
    /// are compared first by the 8 bytes that follow what they all share (the directory, as a
    /// rule), as one integer, and by their other bytes only when those are equal.
    static func sortedOrder(_ found: [Found]) -> [Int] {
        var bytes: [UInt8] = []
        var spans: [(start: Int, count: Int)] = []
        spans.reserveCapacity(found.count)
        for file in found {
            let start = bytes.count
            bytes.append(contentsOf: file.path.utf8)
            spans.append((start, bytes.count - start))
        }
        return bytes.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress, let first = spans.first else { return Array(found.indices) }
            // The bytes every path starts with.
            var common = first.count
            for span in spans.dropFirst() {
                common = min(common, span.count)
                var index = 0
                while index < common && all[first.start + index] == all[span.start + index] { index += 1 }
                common = index
            }
            // Paths hold no NUL byte, so padding a short path with zeros sorts it before longer ones.
            let keys = spans.map { span -> UInt64 in
                var key: UInt64 = 0
                for index in common..<common + 8 {
                    key = key << 8 | UInt64(index < span.count ? all[span.start + index] : 0)
                }
                return key
            }
            return spans.withUnsafeBufferPointer { spans in
                keys.withUnsafeBufferPointer { keys in
                    found.indices.sorted { a, b in
                        if keys[a] != keys[b] { return keys[a] < keys[b] }
                        let x = spans[a]
                        let y = spans[b]
                        let from = min(common + 8, x.count, y.count)
                        let order = memcmp(base + x.start + from, base + y.start + from, min(x.count, y.count) - from)
                        return order != 0 ? order < 0 : x.count < y.count
                    }
                }
            }
        }
    }

    /// Lists `directory`, then searches its subdirectories. A directory is closed before the
    /// walk goes below it, so the walk holds one descriptor whatever the depth.
    private static func walk(
        _ directory: String, id: FileID, depth: Int, into files: inout [Found], cache: inout ListingCache,
        onError: (MmStatsError) -> Void
    ) {
        var subdirectories: [Found] = []
        list(directory, id: id, files: &files, subdirectories: &subdirectories, cache: &cache, onError: onError)
        for subdirectory in subdirectories {
            guard depth < maximumDepth else {
                onError(
                    MmStatsError(
                        .invalidArgument, path: subdirectory.path,
                        "not searched: more than \(maximumDepth) levels below the directory given"))
                continue
            }
            walk(
                subdirectory.path, id: subdirectory.id, depth: depth + 1, into: &files, cache: &cache, onError: onError)
        }
    }

    /// Adds the `*.mmstats` regular files and the subdirectories of `directory`, which must
    /// still be the directory `id` (not replaced, not a symbolic link). Names that start with
    /// `.` (`.`, `..` and files still being created) are skipped, and so are symbolic links
    /// and other kinds of files.
    ///
    /// A regular file's kind and identity come from its directory entry (`d_type`, `d_ino`,
    /// and the directory's device), so a file costs no `stat`; an entry whose type the file
    /// system does not report, and every subdirectory, is examined with `fstatat`.
    ///
    /// A directory whose fingerprint (``DirectoryFingerprint``) is what it was at its last
    /// listing is not read again: its entries are taken from `cache`. A listing that reported
    /// an error, or of a directory that had just changed, is not kept.
    private static func list(
        _ directory: String, id: FileID, files allFiles: inout [Found], subdirectories allSubdirectories: inout [Found],
        cache: inout ListingCache, onError reportError: (MmStatsError) -> Void
    ) {
        let fd: Int32
        switch Sys.open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
        case .success(let opened): fd = opened
        case .failure(let error):
            cache.changed = true
            return reportError(.system(error, path: directory, "cannot list"))
        }
        guard case .success(let info) = Sys.fstat(fd), FileID(info) == id else {
            Sys.close(fd)
            cache.changed = true
            return reportError(
                MmStatsError(.unsafePath, path: directory, "not searched: it was replaced while being searched"))
        }
        let fingerprint = DirectoryFingerprint(info)
        if var kept = cache.directories[directory], kept.fingerprint == fingerprint {
            Sys.close(fd)
            allFiles += kept.files
            allSubdirectories += kept.subdirectories
            kept.visit = cache.visit
            cache.directories[directory] = kept
            return
        }
        cache.directories[directory] = nil
        cache.changed = true
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var files: [Found] = []
        var subdirectories: [Found] = []
        var failed = false
        func onError(_ error: MmStatsError) {
            failed = true
            reportError(error)
        }
        defer {
            allFiles += files
            allSubdirectories += subdirectories
            if !failed && !fingerprint.isRecent(now: now) {
                cache.directories[directory] = DirectoryListing(
                    fingerprint: fingerprint, files: files, subdirectories: subdirectories, visit: cache.visit)
            }
        }
        guard let handle = fdopendir(fd) else {
            let error = Errno.current
            Sys.close(fd)
            return onError(.system(error, path: directory, "cannot list"))
        }
        defer { closedir(handle) }
        // Each path is built in one buffer (the directory's path, then the name) and made a
        // String once.
        var pathBytes = Array(directory.utf8)
        if pathBytes.last != UInt8(ascii: "/") { pathBytes.append(UInt8(ascii: "/")) }
        let prefix = pathBytes.count
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { onError(.system(.current, path: directory, "cannot list")) }
                return
            }
            let inode = UInt64(entry.pointee.d_ino)
            var type = entry.pointee.d_type
            if type == UInt8(DT_LNK) { continue }
            var info = stat()
            var examineError: Int32 = 0
            // The name through a pointer: `withUnsafeBytes(of: &entry.pointee.d_name)` goes
            // through the metadata of a 256-element tuple on every call.
            let found = { () -> (path: String, valid: Bool, statsName: Bool)? in
                let name = UnsafeRawPointer(entry).advanced(by: direntNameOffset)
                let bytes = UnsafeRawBufferPointer(
                    start: name, count: strnlen(name.assumingMemoryBound(to: CChar.self), direntNameCapacity))
                if bytes.first == UInt8(ascii: ".") { return nil }
                let statsName = hasStatsSuffix(bytes)
                if type == UInt8(DT_REG), !statsName { return nil }
                if type != UInt8(DT_REG) {
                    // A directory, or a type the file system does not report (DT_UNKNOWN): look.
                    let name = name.assumingMemoryBound(to: CChar.self)
                    if fstatat(dirfd(handle), name, &info, AT_SYMLINK_NOFOLLOW) != 0 { examineError = errno }
                }
                pathBytes.removeLast(pathBytes.count - prefix)
                pathBytes.append(contentsOf: bytes)
                // Decoding repairs invalid UTF-8; the name was valid if nothing was repaired.
                var path = String(decoding: pathBytes, as: UTF8.self)
                let valid =
                    path.utf8.count == pathBytes.count
                    && path.withUTF8 { decoded in
                        pathBytes.withUnsafeBufferPointer { given in
                            guard let decoded = decoded.baseAddress, let given = given.baseAddress else { return true }
                            return memcmp(decoded, given, pathBytes.count) == 0
                        }
                    }
                return (path, valid, statsName)
            }()
            guard let (path, valid, statsName) = found else { continue }
            var fileID = FileID(device: id.device, inode: inode)
            if type != UInt8(DT_REG) {
                guard examineError == 0 else {
                    // ENOENT: removed meanwhile
                    if examineError != ENOENT { onError(.system(Errno(examineError), path: path, "cannot examine")) }
                    continue
                }
                let kind = info.st_mode & S_IFMT
                type = kind == S_IFDIR ? UInt8(DT_DIR) : kind == S_IFREG ? UInt8(DT_REG) : UInt8(DT_UNKNOWN)
                fileID = FileID(info)
            }
            guard type == UInt8(DT_DIR) || (type == UInt8(DT_REG) && statsName)
            else { continue }
            guard valid else {
                onError(
                    MmStatsError(
                        .invalidArgument, path: path,
                        "\(type == UInt8(DT_DIR) ? "not searched" : "not read"): the name is not valid UTF-8"))
                continue
            }
            if type == UInt8(DT_DIR) {
                subdirectories.append((path, fileID))
            } else {
                files.append((path, fileID))
            }
        }
    }

    /// Where a directory entry's name is, and its room (the name is NUL-terminated within it).
    private static let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
    private static let direntNameCapacity = MemoryLayout<dirent>.size - direntNameOffset

    /// Whether a name ends in `.mmstats`.
    private static func hasStatsSuffix(_ name: UnsafeRawBufferPointer) -> Bool {
        let suffix: StaticString = ".mmstats"
        let count = suffix.utf8CodeUnitCount
        guard name.count >= count, let start = name.baseAddress else { return false }
        return memcmp(start + (name.count - count), suffix.utf8Start, count) == 0
    }
}
