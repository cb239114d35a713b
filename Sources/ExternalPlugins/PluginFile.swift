import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The checks on a plugin's file before it is loaded (docs/PLUGINS.md, "Which files load").
struct PluginFile {
    /// The canonical path (`realpath`).
    let resolved: String
    /// The file's identity (device and inode): the same file under any path or hard link.
    let id: ID

    struct ID: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// The file at `path` once it is known to be a regular ELF file that only this user or
    /// root can change, in directories only this user or root can change.
    static func check(_ path: String) throws(MmStatsError) -> PluginFile {
        guard let real = realpath(path, nil) else {
            let error = Errno(errno)
            let what = error.code == ENOENT ? "no such file" : "cannot resolve the path"
            throw MmStatsError(.system, path: path, "\(what): \(error)")
        }
        let resolved = String(cString: real)
        free(real)
        let fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw MmStatsError(.system, path: path, "cannot open: \(Errno(errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MmStatsError(.system, path: path, "cannot stat: \(Errno(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw MmStatsError(.invalidArgument, path: path, "not a shared object: not a regular file")
        }
        try checkOwner(info, path: path, what: "the file")
        var magic: [UInt8] = [0, 0, 0, 0]
        let count = magic.withUnsafeMutableBytes { buffer in
            var got = -1
            repeat { got = pread(fd, buffer.baseAddress, 4, 0) } while got < 0 && errno == EINTR
            return got
        }
        guard count == 4, magic == [0x7F, 0x45, 0x4C, 0x46] else {
            throw MmStatsError(
                .invalidArgument, path: path, "not a shared object: the file does not start with an ELF header")
        }
        // Every directory above it: nobody else may rename or replace what is checked here.
        var directory = resolved
        while let slash = directory.lastIndex(of: "/") {
            directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            var dirInfo = stat()
            guard stat(directory, &dirInfo) == 0 else {
                throw MmStatsError(.system, path: path, "cannot stat the directory \(directory): \(Errno(errno))")
            }
            try checkOwner(dirInfo, path: path, what: "the directory \(directory)", stickyAllowed: true)
            if directory == "/" { break }
        }
        return PluginFile(resolved: resolved, id: ID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    }

    /// Refuses what someone other than this user or root could have written.
    private static func checkOwner(
        _ info: stat, path: String, what: String, stickyAllowed: Bool = false
    ) throws(MmStatsError) {
        let user = geteuid()
        if info.st_uid != user && info.st_uid != 0 {
            throw MmStatsError(
                .unsafePath, path: path,
                "refusing to load: \(what) belongs to uid \(info.st_uid), not to this user (uid \(user)) or root")
        }
        let worldWritable = info.st_mode & 0o002 != 0
        let sticky = info.st_mode & S_ISVTX != 0
        if worldWritable && !(stickyAllowed && sticky) {
            throw MmStatsError(
                .unsafePath, path: path,
                "refusing to load: \(what) is writable by everyone (mode \(String(info.st_mode & 0o7777, radix: 8)))")
        }
    }
}
