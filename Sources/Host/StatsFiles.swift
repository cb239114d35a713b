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

    /// Files as given, directories expanded recursively to their `*.mmstats` files sorted by
    /// path. A file reached under several paths (hard links, or given twice) is listed once,
    /// under the first of them.
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
                var found: [(path: String, id: FileID)] = []
                walk(path, into: &found, onError: onError)
                for file in found.sorted(by: { $0.path < $1.path }) where seen.insert(file.id).inserted {
                    files.append(file.path)
                }
            } else if seen.insert(FileID(info)).inserted {
                files.append(path)
            }
        }
        return files
    }

    private static func walk(
        _ directory: String, into files: inout [(path: String, id: FileID)], onError: (MmStatsError) -> Void
    ) {
        guard let handle = opendir(directory) else {
            onError(MmStatsError(.system, path: directory, "cannot list: \(String(cString: strerror(errno)))"))
            return
        }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }  // ., .., and files still being created
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }  // vanished meanwhile
            switch info.st_mode & S_IFMT {
            case S_IFDIR: walk(path, into: &files, onError: onError)
            case S_IFREG where name.hasSuffix(".mmstats"): files.append((path, FileID(info)))
            default: break  // symbolic links and others are not followed
            }
        }
    }
}
