import CMmStats
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats clean [--dry-run] [PATH ...]`: removes the stats files of writers that are gone.
enum Clean {
    static let usage = """
        usage: mmstats clean [--dry-run] [PATH ...]
          Removes the stats files of writers that are gone (docs/FORMAT.md §8): the writer's pid
          names no process (dead), names another process than the writer (restarted: a
          different start time), or the writer closed the file. Every other file is kept: a live
          writer's, one of a writer in another PID namespace (unknown), one that cannot be read.
          PATHs are files, or directories searched for *.mmstats files as slurp does (default:
          the stats root, \(StatsDirectory.defaultRoot())). Symbolic links are never followed.
          Prints one line per file and a summary. Exit status 1 if a file could not be judged or
          removed, or a directory could not be searched.
          --dry-run  say what would be removed, remove nothing
        """

    /// What clean decided for one file.
    enum Outcome {
        /// Removed (or, with `--dry-run`, would be).
        case removed(String)
        /// Judged and kept: a live writer, or one whose state cannot be known.
        case kept(String)
        /// Not judged, or judged stale but not removed.
        case failed(String)
        /// Judged stale, but the name was gone before it could be removed.
        case vanished
    }

    static func run(_ arguments: [String]) -> Int32 {
        var dryRun = false
        var paths: [String] = []
        for argument in arguments {
            switch argument {
            case "--dry-run", "-n": dryRun = true
            case "-h", "--help":
                print(usage)
                return 0
            default:
                if argument.hasPrefix("-") {
                    printError("mmstats clean: unknown option '\(argument.terminalSafe)'\n\(usage)")
                    return 2
                }
                paths.append(argument)
            }
        }
        if paths.isEmpty { paths = [StatsDirectory.defaultRoot()] }
        var failed = false
        let files = StatsFiles.expand(paths) {
            printError($0.description)
            failed = true
        }
        var removed = 0
        var kept = 0
        var notDone = 0
        for file in files {
            let shown = file.terminalSafe
            switch clean(file, dryRun: dryRun) {
            case .removed(let reason):
                print("\(dryRun ? "would remove" : "removed") \(shown) (\(reason))")
                removed += 1
            case .kept(let reason):
                print("kept \(shown) (\(reason))")
                kept += 1
            case .failed(let reason):
                print("kept \(shown) (\(reason))")
                kept += 1
                notDone += 1
            case .vanished:
                print("vanished \(shown) (removed by another process meanwhile)")
            }
        }
        var summary = "\(removed) \(dryRun ? "would be removed" : "removed"), \(kept) kept"
        if notDone > 0 { summary += " (\(notDone) of them could not be judged or removed)" }
        print(summary)
        return failed || notDone > 0 ? 1 : 0
    }

    /// Judges one file and removes it if its writer is gone. The file is examined and removed
    /// through its directory's descriptor, never through a symbolic link, and only while its
    /// name still holds the file (same device and inode) that was read and judged.
    static func clean(_ path: String, dryRun: Bool) -> Outcome {
        let directory: String
        let name: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            name = path
        }
        func systemError(_ action: String) -> Outcome { .failed("\(action): \(String(cString: strerror(errno)))") }

        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directoryFD >= 0 else { return systemError("cannot open its directory") }
        defer { close(directoryFD) }
        guard let judged = identity(in: directoryFD, name) else { return systemError("cannot examine") }
        guard judged.kind == S_IFREG else { return .failed("not a regular file: not examined") }

        let writer: WriterIdentity
        do throws(MmStatsError) {
            let reader = try StatsReader(path: path)
            let snapshot = try reader.snapshot()
            guard let id = reader.fileID, id.device == judged.device, id.inode == judged.inode else {
                return .failed("the file was replaced while it was being read")
            }
            writer = snapshot.writer
        } catch {
            return .failed("cannot read: \(error.reason.terminalSafe)")
        }

        let reason: String
        switch writer.state {
        case .live: return .kept("live writer \(writer.pid)")
        case .unknown:
            return .kept("writer \(writer.pid) runs in another PID namespace: whether it is gone is unknown")
        case .dead: reason = "writer \(writer.pid) is gone"
        case .restarted: reason = "writer \(writer.pid) is gone: its pid now belongs to another process"
        case .closed: reason = "writer \(writer.pid) closed the file"
        }
        if dryRun { return .removed(reason) }

        // The name must still hold the file that was judged. POSIX has no "unlink if it is
        // still this file", so the name is first moved aside to a hidden name of this process
        // (atomically: what is there now is what is moved), checked there, and unlinked there
        // only if it is the judged file; anything else is put back with linkat, which never
        // replaces a name that was taken meanwhile.
        guard let now = identity(in: directoryFD, name) else {
            return errno == ENOENT ? .vanished : systemError("cannot examine again")
        }
        guard now.device == judged.device, now.inode == judged.inode, now.kind == judged.kind else {
            return .failed("the file was replaced after it was judged: not removed")
        }
        // The hidden name is never one that exists: the move refuses to replace a name
        // (RENAME_NOREPLACE), so another file that happens to carry it is not destroyed.
        var aside = ""
        var attempt = 0
        while true {
            aside = ".mmstats-clean-\(getpid())-\(attempt).tmp"
            if mmstats_rename_noreplace(directoryFD, name, directoryFD, aside) == 0 { break }
            if errno == EEXIST && attempt < 100 {
                attempt += 1
                continue
            }
            return errno == ENOENT ? .vanished : systemError("\(reason), but it cannot be removed")
        }
        guard let moved = identity(in: directoryFD, aside) else {
            return systemError("cannot examine it again after moving it to \(aside)")
        }
        guard moved.device == judged.device, moved.inode == judged.inode, moved.kind == judged.kind else {
            guard linkat(directoryFD, aside, directoryFD, name, 0) == 0 else {
                return systemError(
                    "the file was replaced after it was judged, and cannot be put back from \(aside)")
            }
            unlinkat(directoryFD, aside, 0)
            return .failed("the file was replaced after it was judged: not removed")
        }
        guard unlinkat(directoryFD, aside, 0) == 0 else {
            return systemError("\(reason), but it cannot be removed (it is now \(aside))")
        }
        return .removed(reason)
    }

    /// The device, inode and file type `name` holds in the directory `directoryFD`, without
    /// following a symbolic link; nil (and `errno` set) if it cannot be examined.
    private static func identity(in directoryFD: Int32, _ name: String) -> (
        device: UInt64, inode: UInt64, kind: mode_t
    )? {
        var info = stat()
        guard fstatat(directoryFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino), info.st_mode & S_IFMT)
    }
}
