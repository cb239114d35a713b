import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Finding stats files under paths.
enum StatsFiles {
    /// A file's identity: hard links to one file share it.
    private struct FileID: Hashable {
        let device: UInt64
        let inode: UInt64

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// How many levels of directories below a directory given on the command line are searched.
    static let maximumDepth = 64

    /// A file found in a directory.
    private typealias Found = (path: String, id: FileID)

    /// Files as given, directories expanded recursively to their `*.mmstats` files sorted by
    /// path. A file reached under several paths (hard links, or given twice) is listed once,
    /// under the first of them. Whatever cannot be searched (a path longer than PATH_MAX, an
    /// entry that cannot be examined, a directory more than ``maximumDepth`` levels down) is
    /// reported to `onError`, and the rest is still listed.
    static func expand(_ paths: [String], onError: (MmStatsError) -> Void) -> [String] {
        var files: [String] = []
        var seen: Set<FileID> = []
        for path in paths {
            var info = stat()
            guard lstat(path, &info) == 0 else {
                onError(MmStatsError(.system, path: path, "cannot open: \(String(cString: strerror(errno)))"))
                continue
            }
            if info.st_mode & S_IFMT == S_IFDIR {
                var found: [Found] = []
                walk(path, id: FileID(info), depth: 0, into: &found, onError: onError)
                for file in found.sorted(by: { $0.path < $1.path }) where seen.insert(file.id).inserted {
                    files.append(file.path)
                }
            } else if seen.insert(FileID(info)).inserted {
                files.append(path)
            }
        }
        return files
    }

    /// Lists `directory`, then searches its subdirectories. A directory is closed before the
    /// walk goes below it, so the walk holds one descriptor whatever the depth.
    private static func walk(
        _ directory: String, id: FileID, depth: Int, into files: inout [Found], onError: (MmStatsError) -> Void
    ) {
        var subdirectories: [Found] = []
        list(directory, id: id, files: &files, subdirectories: &subdirectories, onError: onError)
        for subdirectory in subdirectories {
            guard depth < maximumDepth else {
                onError(
                    MmStatsError(
                        .invalidArgument, path: subdirectory.path,
                        "not searched: more than \(maximumDepth) levels below the directory given"))
                continue
            }
            walk(subdirectory.path, id: subdirectory.id, depth: depth + 1, into: &files, onError: onError)
        }
    }

    /// Adds the `*.mmstats` regular files and the subdirectories of `directory`, which must
    /// still be the directory `id` (not replaced, not a symbolic link). Names that start with
    /// `.` (`.`, `..` and files still being created) are skipped, and so are symbolic links
    /// and other kinds of files.
    private static func list(
        _ directory: String, id: FileID, files: inout [Found], subdirectories: inout [Found],
        onError: (MmStatsError) -> Void
    ) {
        func failed(_ path: String, _ action: String, _ code: Int32 = errno) {
            onError(MmStatsError(.system, path: path, "\(action): \(String(cString: strerror(code)))"))
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return failed(directory, "cannot list") }
        var info = stat()
        guard fstat(fd, &info) == 0, FileID(info) == id else {
            close(fd)
            return onError(
                MmStatsError(.unsafePath, path: directory, "not searched: it was replaced while being searched"))
        }
        guard let handle = fdopendir(fd) else {
            let code = errno
            close(fd)
            return failed(directory, "cannot list", code)
        }
        defer { closedir(handle) }
        let separator = directory.hasSuffix("/") ? "" : "/"
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { failed(directory, "cannot list") }
                return
            }
            // The name's bytes as they are: a name that is not UTF-8 is still examined.
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes.first == UInt8(ascii: ".") { continue }
            let name = String(decoding: bytes, as: UTF8.self)
            let path = directory + separator + name
            let rawName = bytes.map { CChar(bitPattern: $0) } + [0]
            let status = fstatat(dirfd(handle), rawName, &info, AT_SYMLINK_NOFOLLOW)
            guard status == 0 else {
                if errno != ENOENT { failed(path, "cannot examine") }  // ENOENT: removed meanwhile
                continue
            }
            let kind = info.st_mode & S_IFMT
            guard kind == S_IFDIR || (kind == S_IFREG && name.hasSuffix(".mmstats")) else { continue }
            guard String(validating: bytes, as: UTF8.self) != nil else {
                onError(
                    MmStatsError(
                        .invalidArgument, path: path,
                        "\(kind == S_IFDIR ? "not searched" : "not read"): the name is not valid UTF-8"))
                continue
            }
            if kind == S_IFDIR {
                subdirectories.append((path, FileID(info)))
            } else {
                files.append((path, FileID(info)))
            }
        }
    }
}
