// The collection side (docs/BENCHMARKS.md, "Against peers: collection"): reading N live stats
// files with StatsScanner (or, with --readers, a StatsReader per path), to compare with
// prometheus_client's multiprocess collection of the same content. Two subcommands, driven by
// Benchmarks/Peers/collection.sh:
//
//   peer-benchmarks collection-writer ROOT FIRST COUNT   writes COUNT files, stays alive
//   peer-benchmarks collection-read ROOT FILES SCANS     times a first scan and SCANS later ones
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What each file holds, the same as each prometheus_client process writes (collection.py):
/// 10 counters, 10 integer gauges and one histogram of prometheus_client's 15 default buckets
/// (the last one +Inf) and its sum.
enum CollectionContent {
    static let counters = 10
    static let gauges = 10
    static let buckets = 15
    /// Values read from each file: one per counter and gauge, the buckets and the sum.
    static let valuesPerFile = counters + gauges + buckets + 1
    /// Where the files go under the root (application and model directories).
    static let application = "collection"
    static let model = "Stats"
    /// prometheus_client's default buckets, upper bounds in seconds (+Inf last).
    static let bounds: [Double] = [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, .infinity,
    ]
    /// What the histogram of every file observes, in seconds (collection.py observes the same).
    static let observations: [Double] = [0.003, 0.02, 0.02, 0.3, 4]
}

/// A Prometheus-style fixed-bucket histogram as one mmstats record: the count of each bucket
/// (not cumulative, as prometheus_client stores them) and the sum, updated as a whole in the
/// double-buffer layout so that a reader never sees half an observation.
struct BucketHistogramKind: MetricKind {
    var name: String { "bucket_histogram" }
    var signature: Signature {
        Signature(Array(repeating: .uint64, count: CollectionContent.buckets) + [.float64])
    }
    var fieldNames: [String] { (0..<CollectionContent.buckets).map { "bucket\($0)" } + ["sum"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// Writes `count` stats files named `writer-<index>.mmstats` (index from `first`) under
/// `root`, prints `ready`, and keeps them open until standard input closes; then closes them
/// (which removes them). Each file gets its own values, derived from its index.
func collectionWriter(root: String, first: Int, count: Int) -> Never {
    // Two descriptors per writer: the file and its directory.
    let limit = raiseDescriptorLimit()
    guard limit >= UInt64(2 * count) + 64 else {
        fail("collection-writer: \(count) writers need \(2 * count + 64) descriptors; the limit is \(limit)")
    }
    var writers: [StatsWriter] = []
    writers.reserveCapacity(count)
    do throws(MmStatsError) {
        for index in first..<first + count {
            var options = WriterOptions(application: CollectionContent.application, model: CollectionContent.model)
            options.root = root
            options.fileNameTemplate = "writer-\(index).mmstats"
            options.maximumSize = 64 * Format.pageSize
            let writer = try StatsWriter(options)
            for c in 0..<CollectionContent.counters {
                try writer.counter("requests\(c)").increment(by: UInt64(index + c + 1))
            }
            for g in 0..<CollectionContent.gauges {
                try writer.gauge("inflight\(g)").set(Int64(index % 100 + g))
            }
            let histogram = try writer.record("latency", kind: BucketHistogramKind())
            histogram.update { words in
                for value in CollectionContent.observations {
                    let bucket = CollectionContent.bounds.firstIndex { value <= $0 } ?? CollectionContent.buckets - 1
                    words[bucket] += 1
                    words[double: CollectionContent.buckets] += value
                }
            }
            writers.append(writer)
        }
    } catch {
        fail("collection-writer: \(error)")
    }
    _ = write(1, "ready\n", 6)
    // Live until the script is done with the files.
    var byte: UInt8 = 0
    while read(0, &byte, 1) > 0 {}
    for writer in writers { writer.close() }
    exit(0)
}

/// The paths of the `*.mmstats` files in `root/*/*/` (application and model directories), as
/// a collector lists them: names starting with `.` (files still being created) are skipped.
func listStatsFiles(_ root: String) -> [String] {
    var paths: [String] = []
    func entries(_ directory: String, _ body: (String, UInt8) -> Void) {
        guard let handle = opendir(directory) else { return }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            var type = entry.pointee.d_type
            if type == UInt8(DT_UNKNOWN) {  // file systems that do not fill d_type in
                var info = stat()
                guard lstat(directory + "/" + name, &info) == 0 else { continue }
                let format = info.st_mode & S_IFMT
                type = UInt8(format == S_IFDIR ? DT_DIR : format == S_IFREG ? DT_REG : DT_UNKNOWN)
            }
            body(name, type)
        }
        closedir(handle)
    }
    entries(root) { application, type in
        guard type == UInt8(DT_DIR) else { return }
        entries(root + "/" + application) { model, type in
            guard type == UInt8(DT_DIR) else { return }
            let directory = root + "/" + application + "/" + model
            entries(directory) { name, type in
                if type == UInt8(DT_REG) && name.hasSuffix(".mmstats") { paths.append(directory + "/" + name) }
            }
        }
    }
    return paths
}

/// What one scan read.
struct ScanResult {
    var files = 0
    var values = 0
    var errors = 0
    var sum = 0.0

    /// Decodes every value of `snapshot` (adding them up, so that none is optimized away).
    mutating func add(_ snapshot: Snapshot) {
        for index in 0..<snapshot.count {
            var component = 0
            while let value = snapshot.value(at: index, component: component) {
                sum += value.doubleValue ?? 0
                values += 1
                component += 1
            }
        }
        files += 1
    }
}

/// The part of a scan that a faster reader can replace: for each path, the reader kept from
/// the last scan (or a new one: open, map, check the version), one snapshot (metadata parsed
/// and validated when new, then every record read), and every value of it decoded. Readers of
/// files no longer listed are dropped. Errors are counted, not fatal.
func snapshotAll(_ paths: [String], readers: inout [String: StatsReader]) -> ScanResult {
    var result = ScanResult()
    var kept: [String: StatsReader] = [:]
    kept.reserveCapacity(paths.count)
    for path in paths {
        do throws(MmStatsError) {
            let reader: StatsReader
            if let kept = readers[path] { reader = kept } else { reader = try StatsReader(path: path) }
            kept[path] = reader
            let snapshot = try reader.snapshot()
            result.add(snapshot)
        } catch {
            result.errors += 1
        }
    }
    readers = kept
    return result
}

/// One scan: list the files, then read them all.
func scan(_ root: String, readers: inout [String: StatsReader]) -> ScanResult {
    snapshotAll(listStatsFiles(root), readers: &readers)
}

/// One scan through `StatsScanner` (what slurp, serve, poll and the processor use): it lists
/// the root, keeps a reader per file between scans without holding its descriptor, and reads
/// every file; every value of each snapshot is decoded (`ScanResult.add`).
func scan(_ scanner: StatsScanner) -> ScanResult {
    var result = ScanResult()
    scanner.forEachSnapshot(onError: { _ in result.errors += 1 }) { snapshot in
        result.add(snapshot)
    }
    return result
}

/// Raises the soft limit on open descriptors to the hard limit: every reader kept between
/// scans holds one. Returns the soft limit now in force.
func raiseDescriptorLimit() -> UInt64 {
    var limit = rlimit()
    guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
        _ = getrlimit(RLIMIT_NOFILE_VALUE, &limit)
    }
    return UInt64(limit.rlim_cur)
}

/// `RLIMIT_NOFILE` as `getrlimit` and `setrlimit` take it.
let RLIMIT_NOFILE_VALUE = Int32(RLIMIT_NOFILE.rawValue)

/// Nanoseconds of CPU time this process has used (the scans are single-threaded): on a
/// shared machine it is steadier than the wall clock, which also counts time spent waiting
/// for a core.
func processCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Times a first scan of `root` (no reader yet) and `scans` later ones (the same readers,
/// files unchanged), checking that each scan read `files` files and all their values. Prints
/// one line: `mmstats files=… values=… first_ns=… later_ns=… first_cpu_ns=… later_cpu_ns=…`
/// (wall-clock and CPU time; later: the median of the later scans). `scanner`: read through a
/// `StatsScanner` (the default); else through a `StatsReader` per path kept in a dictionary
/// (`--readers`, which needs a descriptor per file).
func collectionRead(root: String, files: Int, scans: Int, scanner useScanner: Bool = true) -> Never {
    if !useScanner {
        let limit = raiseDescriptorLimit()
        guard limit >= UInt64(files) + 64 else {
            fail("collection-read: \(files) readers need \(files + 64) descriptors; the limit is \(limit)")
        }
    }
    var readers: [String: StatsReader] = [:]
    let scanner = StatsScanner(paths: [root])
    func timed() -> (wall: UInt64, cpu: UInt64, result: ScanResult) {
        let start = monotonicNanoseconds()
        let startCPU = processCPUNanoseconds()
        let result = useScanner ? scan(scanner) : scan(root, readers: &readers)
        let cpu = processCPUNanoseconds() - startCPU
        let wall = monotonicNanoseconds() - start
        sink(result.sum.bitPattern)
        let expected = files * CollectionContent.valuesPerFile
        guard result.files == files, result.errors == 0, result.values == expected else {
            fail(
                "collection-read: read \(result.files) files (\(result.errors) errors) and \(result.values) values;"
                    + " expected \(files) files and \(expected) values")
        }
        return (wall, cpu, result)
    }
    let first = timed()
    let later = (0..<max(1, scans)).map { _ in timed() }
    let wall = later.map(\.wall).sorted()[later.count / 2]
    let cpu = later.map(\.cpu).sorted()[later.count / 2]
    print(
        "mmstats files=\(first.result.files) values=\(first.result.values) first_ns=\(first.wall) later_ns=\(wall)"
            + " first_cpu_ns=\(first.cpu) later_cpu_ns=\(cpu)")
    exit(0)
}
