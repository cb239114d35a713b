import CMmStats

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where stats files live and how their directories are opened safely.
///
/// ```swift
/// let root = StatsDirectory.defaultRoot()   // $MMSTATS_PATH, else a per-user tmpfs directory
/// ```
public enum StatsDirectory {
    /// `$MMSTATS_PATH`; else `$XDG_RUNTIME_DIR/mmstats`; else `/dev/shm/mmstats-UID` (tmpfs).
    public static func defaultRoot() -> String {
        if let path = environment("MMSTATS_PATH"), !path.isEmpty { return path }
        if let runtime = environment("XDG_RUNTIME_DIR"), !runtime.isEmpty { return runtime + "/mmstats" }
        return "/dev/shm/mmstats-\(getuid())"
    }

    static func environment(_ name: String) -> String? {
        // secure_getenv: a setuid program using the library must not let its caller pick the root.
        guard let value = mmstats_secure_getenv(name) else { return nil }
        return String(cString: value)
    }

    /// Opens `root/components…` as a directory, creating missing parts with mode 0700 when
    /// `create` is set, refusing symbolic links, and checking that each directory is owned by
    /// this user and not writable by group or others. Returns the last directory's descriptor.
    static func openDirectory(root: String, components: [String], create: Bool) throws(MmStatsError) -> Int32 {
        var fd = try openRoot(root, create: create)
        var path = root
        do throws(MmStatsError) {
            try checkOwnership(fd, path: path)
            for component in components {
                try validateName(component, path: path)
                path += "/" + component
                if create {
                    if case .failure(let error) = Sys.mkdirAt(fd, component, 0o700), error != .exists {
                        throw MmStatsError.system(error, path: path, "cannot create the directory")
                    }
                }
                let next: Int32
                switch Sys.openAt(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
                case .success(let opened): next = opened
                case .failure(let error):
                    if error == .loop || error.code == ENOTDIR {
                        throw MmStatsError(
                            .unsafePath, path: path, "refusing a symbolic link or non-directory in the stats tree")
                    }
                    throw MmStatsError.system(error, path: path, "cannot open the directory")
                }
                Sys.close(fd)
                fd = next
                try checkOwnership(fd, path: path)
            }
        } catch {
            Sys.close(fd)
            throw error
        }
        return fd
    }

    /// The most symbolic links followed on the way to the root (the kernel's own limit).
    static let maximumLinks = 40

    /// Opens the stats root, one path component at a time from `/` (or the working directory),
    /// creating missing components with mode 0700 when `create` is set (docs/FORMAT.md §7).
    ///
    /// Nothing is created or opened through a link that someone else could have planted: each
    /// component is opened with `O_NOFOLLOW`, a missing one is made with `mkdirat` in its
    /// parent, and a component that is a symbolic link is followed only if the link belongs
    /// to root or to this user (`/var/run -> /run`, a link in the user's home), its target
    /// walked by the same rule. A link of another user (planted in `/tmp`, say) is refused,
    /// and so is a root that is itself a link. Ownership and modes of the root are checked by
    /// the caller; those of the directories above it are the user's choice.
    static func openRoot(_ root: String, create: Bool) throws(MmStatsError) -> Int32 {
        if root.isEmpty { throw MmStatsError(.invalidArgument, path: root, "the stats root is an empty path") }
        var absolute = root.hasPrefix("/")
        var fd = try openStart(absolute: absolute, path: root)
        // Where the walk is, for messages: the components opened so far, links replaced by their targets.
        var shown = ""
        var pending = pathComponents(root)[...]
        var linksFollowed = 0
        var madeMissing = false
        func here(_ name: Substring) -> String { shown.isEmpty ? (absolute ? "/" : "") + name : shown + "/" + name }
        do throws(MmStatsError) {
            while let name = pending.first {
                // The last pending component is always the root's own last one: a link there is
                // refused, never replaced by its target.
                let last = pending.count == 1
                let path = here(name)
                switch Sys.openAt(fd, String(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
                case .success(let next):
                    Sys.close(fd)
                    fd = next
                    shown = path
                    pending = pending.dropFirst()
                    madeMissing = false
                case .failure(let error) where error == .noEntry && create && !madeMissing:
                    // Made in the directory already open: never through a link. EEXIST: someone
                    // else made it meanwhile, and it is opened (and checked) like any other.
                    if case .failure(let error) = Sys.mkdirAt(fd, String(name), 0o700), error != .exists {
                        throw MmStatsError.system(error, path: path, "cannot create the stats root")
                    }
                    madeMissing = true
                case .failure(let error) where error == .loop || error.code == ENOTDIR:
                    guard case .success(let info) = Sys.lstatAt(fd, String(name)), info.st_mode & S_IFMT == S_IFLNK
                    else {
                        if last { throw notADirectory(root) }
                        throw MmStatsError(.system, path: path, "a parent of the stats root is not a directory")
                    }
                    if last { throw notADirectory(root) }
                    guard info.st_uid == 0 || info.st_uid == getuid() else {
                        throw MmStatsError(
                            .unsafePath, path: path,
                            "refusing to follow a symbolic link of uid \(info.st_uid) above the stats root"
                                + " (only links of root or of this user, uid \(getuid()), are followed)")
                    }
                    linksFollowed += 1
                    if linksFollowed > maximumLinks {
                        throw MmStatsError(
                            .unsafePath, path: path,
                            "more than \(maximumLinks) symbolic links on the way to the stats root (a loop?)")
                    }
                    let target: String
                    switch Sys.readLinkAt(fd, String(name)) {
                    case .success(let text): target = text
                    case .failure(let error):
                        throw MmStatsError.system(error, path: path, "cannot read the symbolic link")
                    }
                    if target.isEmpty { throw MmStatsError(.system, path: path, "the symbolic link is empty") }
                    if target.hasPrefix("/") {
                        Sys.close(fd)
                        fd = -1
                        absolute = true
                        shown = ""
                        fd = try openStart(absolute: true, path: path)
                    }
                    pending = (pathComponents(target) + pending.dropFirst())[...]
                    madeMissing = false
                case .failure(let error):
                    throw MmStatsError.system(
                        error, path: path,
                        last ? "cannot open the stats root" : "cannot open a parent of the stats root")
                }
            }
        } catch {
            if fd >= 0 { Sys.close(fd) }
            throw error
        }
        return fd
    }

    /// `/` or the working directory, where a walk to the root starts.
    private static func openStart(absolute: Bool, path: String) throws(MmStatsError) -> Int32 {
        switch Sys.open(absolute ? "/" : ".", O_RDONLY | O_DIRECTORY) {
        case .success(let fd): return fd
        case .failure(let error):
            throw MmStatsError.system(
                error, path: path, absolute ? "cannot open /" : "cannot open the working directory")
        }
    }

    /// The components of a path, without empty ones and `.`.
    private static func pathComponents(_ path: String) -> [Substring] {
        path.split(separator: "/").filter { $0 != "." }
    }

    private static func notADirectory(_ root: String) -> MmStatsError {
        MmStatsError(.unsafePath, path: root, "refusing the stats root: it is a symbolic link or not a directory")
    }

    static func checkOwnership(_ fd: Int32, path: String) throws(MmStatsError) {
        guard case .success(let info) = Sys.fstat(fd) else {
            throw MmStatsError(.system, path: path, "cannot stat the directory")
        }
        if info.st_uid != getuid() {
            throw MmStatsError(
                .unsafePath, path: path,
                "the directory belongs to uid \(info.st_uid), not to this user (uid \(getuid()))")
        }
        if info.st_mode & 0o022 != 0 {
            throw MmStatsError(
                .unsafePath, path: path,
                "the directory is writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8)))")
        }
    }

    static func validateName(_ name: String, path: String) throws(MmStatsError) {
        if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.utf8.contains(0) {
            throw MmStatsError(.invalidArgument, path: path, "'\(name)' is not a valid file or directory name")
        }
    }

    /// Expands `{CMD}`, `{PID}`, `{TID}`, `{APP}` and `{MODEL}` in a file name template.
    public static func expand(template: String, application: String, model: String, tid: Int64) -> String {
        template
            .replacing("{CMD}", with: ProcessIdentity.command)
            .replacing("{PID}", with: String(getpid()))
            .replacing("{TID}", with: String(tid))
            .replacing("{APP}", with: application)
            .replacing("{MODEL}", with: model)
    }
}

/// Facts about this process that go into file headers.
public enum ProcessIdentity {
    /// The program name (`/proc/self/comm`).
    public static let command: String = {
        guard let bytes = Sys.readSmallFile("/proc/self/comm") else { return "unknown" }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }()

    /// This process's start time in clock ticks since boot.
    public static let startTime: UInt64 = startTime(of: Int32(getpid())) ?? 0

    /// This process's id.
    public static var currentProcessID: Int32 { getpid() }

    /// When this process started, in nanoseconds since the UNIX epoch: the boot time
    /// (`btime` of `/proc/stat`) plus its start time in clock ticks (10 ms resolution).
    public static let startedNanoseconds: UInt64 = {
        let ticksPerSecond = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        guard let bytes = Sys.readSmallFile("/proc/stat", limit: 1 << 16),
            let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first(where: {
                $0.hasPrefix("btime ")
            }),
            let boot = UInt64(line.dropFirst(6).trimmingPrefix(" "))
        else { return now() }
        return boot * 1_000_000_000 + startTime * (1_000_000_000 / ticksPerSecond)
    }()

    /// The calling thread's kernel id.
    public static var currentThreadID: Int64 { mmstats_gettid() }

    /// This process's PID namespace: the inode number of `/proc/self/ns/pid` (0 when unknown).
    public static let pidNamespace: UInt64 = {
        var info = stat()
        guard stat("/proc/self/ns/pid", &info) == 0 else { return 0 }
        return UInt64(info.st_ino)
    }()

    /// Field 22 of `/proc/PID/stat`, or nil when the process does not exist or has exited
    /// (a zombie that its parent has not reaped yet: state `Z` or `X`).
    public static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let bytes = Sys.readSmallFile("/proc/\(pid)/stat") else { return nil }
        // Field 2 is the command in parentheses and may contain anything; fields resume after the last ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19, let state = fields[0].first else { return nil }
        if state == UInt8(ascii: "Z") || state == UInt8(ascii: "X") { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// Nanoseconds since the UNIX epoch.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
