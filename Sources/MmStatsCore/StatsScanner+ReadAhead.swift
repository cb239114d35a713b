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

/// One read-ahead: many files opened, their metadata parsed and a snapshot taken, on several
/// threads, during one scan.
///
/// Opening a file costs the kernel far more than reading its values (open, fstat, mmap, the
/// first page fault, close: about 9 µs on a 2-core VM, against under 1 µs for the values of a
/// small file), and the work for one file does not depend on any other. The threads take the
/// files in chunks from a shared counter; each uses its own `DirectoryCursor`. Each file
/// becomes a reader with its metadata parsed and a snapshot of its values, or the error that
/// stopped it. What the results hold is bounded (``maximumBytes`` of parsed metadata and
/// values): a thread reserves a file's values before it reads them, and past the bound keeps
/// the reader without a snapshot (the calling thread reads it) and stops; the files not
/// reached are left for the next read-ahead.
final class ReadAhead {
    /// What a read-ahead made of one file.
    enum Outcome {
        /// Opened and parsed, with the snapshot the thread took (nil past the memory bound).
        case opened(StatsReader, Snapshot?)
        /// Why it could not be opened, parsed or read.
        case failed(MmStatsError)
    }

    /// The most parsed metadata and values one read-ahead holds, give or take the metadata of
    /// the file each thread has in hand (lowered only by tests, in a child process, before
    /// any scanner runs).
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
    private let results: UnsafeMutableBufferPointer<Outcome?>

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

    /// `paths` opened, parsed and read on up to `threads` threads, in the same order; nil for
    /// a file not reached (the bound stopped the threads first).
    static func open(_ paths: [String], threads: Int, registry: PluginRegistry, limits: ReaderLimits)
        -> [Outcome?]
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
        // Every thread has been joined: the slots are complete.
        return Array(job.results)
    }

    /// One thread's share: chunks of paths until none is left or the bound is reached.
    private func work() {
        var cursor = DirectoryCursor()
        defer { cursor.close() }
        while true {
            let start = next.add(Self.chunk, ordering: .relaxed).oldValue
            guard start < paths.count else { return }
            for index in start..<min(start + Self.chunk, paths.count) {
                guard bytes.load(ordering: .relaxed) < Self.maximumBytes else { return }
                do throws(MmStatsError) {
                    let reader = try cursor.open(paths[index], registry: registry, limits: limits)
                    try reader.prepare()
                    let held = reader.parsedMetadataBytes + reader.parsedValueBytes
                    guard bytes.add(held, ordering: .relaxed).newValue <= Self.maximumBytes else {
                        results[index] = .opened(reader, nil)
                        return
                    }
                    results[index] = .opened(reader, try reader.snapshot())
                } catch {
                    results[index] = .failed(error)
                }
            }
        }
    }
}
