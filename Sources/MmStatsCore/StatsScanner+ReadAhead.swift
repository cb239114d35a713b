import CMmStats
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Opens stats files one after another, in the directory of the last one while files share
/// it: `openat` of a name costs one lookup, `open` of a path one per component. Holds one
/// descriptor, of that directory, until ``close()``.
struct DirectoryCursor {
    /// The directory open now: its path (without the final `/`) and descriptor.
    private var directory: (path: String, fd: Int32)?

    mutating func close() {
        if let directory { Sys.close(directory.fd) }
        directory = nil
    }

    /// A new reader of `path` that holds no descriptor, opened in its directory when the path
    /// has one.
    mutating func open(_ path: String, registry: PluginRegistry, limits: ReaderLimits) throws(MmStatsError)
        -> StatsReader
    {
        var path = path
        // The last `/`, and whether the directory before it is the one open now.
        let (slash, same) = path.withUTF8 { bytes -> (Int?, Bool) in
            var slash = bytes.count - 1
            while slash > 0 && bytes[slash] != UInt8(ascii: "/") { slash -= 1 }
            guard slash > 0 else { return (nil, false) }
            guard let directory else { return (slash, false) }
            return (slash, directory.path.utf8.count == slash && directory.path.utf8.elementsEqual(bytes[..<slash]))
        }
        guard let slash else {
            return try StatsReader(path: path, registry: registry, limits: limits, holdsDescriptor: false)
        }
        if !same {
            close()
            // A parent that cannot be opened this way (a symbolic link given on the command
            // line, say) leaves the file to be opened by its whole path, as `StatsReader` does.
            let parent = String(path.utf8.prefix(slash)) ?? ""
            if case .success(let fd) = Sys.open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
                directory = (parent, fd)
            }
        }
        return try StatsReader(
            path: path, registry: registry, limits: limits, holdsDescriptor: false,
            directory: directory.map { ($0.fd, slash + 1) })
    }
}

/// One read-ahead: many files opened, their metadata parsed and a first snapshot taken, on
/// several threads.
///
/// Opening a file costs the kernel far more than reading its values (open, fstat, mmap, the
/// first page fault, close: about 9 µs on a 2-core VM, against well under 1 µs for the values
/// of a small file), and the work for one file does not depend on any other. The threads take
/// the files in chunks from a shared counter; each uses its own `DirectoryCursor`. A file that
/// cannot be opened, parsed or read is left out (nil): the scanner opens it again on its own
/// thread when it is asked for, which reports the error at that file's place in the scan. What
/// the results hold is bounded (``maximumBytes`` of metadata and values): past it the threads
/// stop, and the files left are opened one by one as they are read.
final class ReadAhead {
    /// A file opened by a read-ahead: its reader, and the snapshot taken then.
    struct Opened {
        let reader: StatsReader
        let snapshot: Snapshot
    }

    /// The most metadata and values one read-ahead holds (lowered only by tests, in a child
    /// process, before any scanner runs).
    nonisolated(unsafe) static var maximumBytes = 64 << 20
    /// Files a thread takes at a time.
    static let chunk = 16

    let paths: [String]
    let registry: PluginRegistry
    let limits: ReaderLimits
    /// The first path no thread has taken yet.
    private let next = Atomic<Int>(0)
    private let bytes = Atomic<Int>(0)
    /// One slot per path, each written by the one thread that took its path.
    private let results: UnsafeMutableBufferPointer<Opened?>

    private init(paths: [String], registry: PluginRegistry, limits: ReaderLimits) {
        self.paths = paths
        self.registry = registry
        self.limits = limits
        results = .allocate(capacity: paths.count)
        results.initialize(repeating: nil)
    }

    deinit {
        results.deinitialize()
        results.deallocate()
    }

    /// `paths` opened and read on up to `threads` threads, in the same order, nil for each file
    /// that could not be; and how many of the paths were tried: all, unless the bound stopped
    /// the threads first (the threads take the paths in order, so those tried come first).
    static func open(_ paths: [String], threads: Int, registry: PluginRegistry, limits: ReaderLimits)
        -> (opened: [Opened?], tried: Int)
    {
        let job = ReadAhead(paths: paths, registry: registry, limits: limits)
        let context = Unmanaged.passRetained(job).toOpaque()
        mmstats_run_parallel(
            Int32(clamping: max(1, threads)),
            { context, _ in
                guard let context else { return }
                Unmanaged<ReadAhead>.fromOpaque(context).takeUnretainedValue().work()
            }, context)
        Unmanaged<ReadAhead>.fromOpaque(context).release()
        // Every thread has been joined: the slots are complete, and every chunk taken was done.
        return (Array(job.results), min(paths.count, job.next.load(ordering: .relaxed)))
    }

    /// One thread's share: chunks of paths until none is left or the bound is reached.
    private func work() {
        var cursor = DirectoryCursor()
        defer { cursor.close() }
        while bytes.load(ordering: .relaxed) < Self.maximumBytes {
            let start = next.add(Self.chunk, ordering: .relaxed).oldValue
            guard start < paths.count else { return }
            for index in start..<min(start + Self.chunk, paths.count) {
                do throws(MmStatsError) {
                    let reader = try cursor.open(paths[index], registry: registry, limits: limits)
                    let snapshot = try reader.snapshot()
                    bytes.add(reader.parsedMetadataBytes + snapshot.valueBytes, ordering: .relaxed)
                    results[index] = Opened(reader: reader, snapshot: snapshot)
                } catch {
                    continue  // opened again, and reported, when the file is read
                }
            }
        }
    }
}
