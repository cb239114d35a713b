// Reading many files (`--scan`): the whole-scan cost of reading N live stats files, in
// milliseconds per scan, and `mmstats slurp --json` of them as a whole process. See
// docs/BENCHMARKS.md, "Reading many files".
import Metrics
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What each benchmark file holds: 3 counters (requests by status code) and 1 gauge, plus 1
/// histogram (2,368 buckets) unless `scalars`, in the word layout: a small service's file.
func fillScanFile(_ writer: StatsWriter, index: Int, scalars: Bool) throws(MmStatsError) {
    for (n, code) in ["200", "404", "500"].enumerated() {
        try writer.counter("http.requests", dimensions: ["code": code]).increment(by: UInt64(index + n))
    }
    try writer.gauge("queue.depth").set(Int64(index % 17))
    if scalars { return }
    let latency = try writer.histogram("http.latency", unit: "us")
    for value in [120, 340, 90, 15_000, UInt64(index)] { latency.record(value) }
}

/// `mmstats-benchmarks --scan-writer FIRST END DIR`: writes live files FIRST..<END under DIR
/// (each writer keeps its file open and registered), prints `ready`, then for every
/// `change K` line on standard input registers one more counter in K of its files (their
/// generation changes) and prints `ok`; exits, removing its files, at the end of standard input.
func scanWriterMain(files: Range<Int>, directory: String, scalars: Bool) -> Never {
    var writers: [StatsWriter] = []
    for index in files {
        var options = WriterOptions(application: "bench", model: "Stats")
        options.root = directory
        options.fileNameTemplate = "w\(index)-{PID}.mmstats"
        options.maximumSize = 1 << 20
        let writer = must("creating file \(index)") { () throws(MmStatsError) in try StatsWriter(options) }
        must("filling file \(index)") { () throws(MmStatsError) in
            try fillScanFile(writer, index: index, scalars: scalars)
        }
        writers.append(writer)
    }
    print("ready")
    fflush(nil)
    var next = 0
    var added = 0
    while let line = readLine() {
        guard line.hasPrefix("change "), let changes = Int(line.dropFirst(7)) else { continue }
        added += 1
        for _ in 0..<changes {
            let writer = writers[next % writers.count]
            next += 1
            must("changing a file") { () throws(MmStatsError) in
                try writer.counter("added.\(added)").increment()
            }
        }
        print("ok")
        fflush(nil)
    }
    exit(0)
}

/// A child process with pipes to its standard input and output.
struct Child {
    let pid: pid_t
    let input: Int32
    let output: UnsafeMutablePointer<FILE>

    init(_ arguments: [String], standardOutput: String? = nil) {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { fail("pipe: \(String(cString: strerror(errno)))") }
        // Close-on-exec: a later child must not keep this one's standard input open (dup2 in
        // the child clears the flag on its 0 and 1).
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        if let standardOutput {
            posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY, 0)
        } else {
            posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        }
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, nil, &cArguments, environ)
        guard status == 0 else { fail("cannot start \(arguments[0]): \(String(cString: strerror(status)))") }
        close(toChild[0])
        close(fromChild[1])
        self.pid = pid
        input = toChild[1]
        guard let output = fdopen(fromChild[0], "r") else { fail("fdopen") }
        self.output = output
    }

    /// Sends one line and waits for the child's next line.
    @discardableResult
    func ask(_ line: String?) -> String {
        if let line { _ = (line + "\n").withCString { write(input, $0, strlen($0)) } }
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, 256, output) != nil else { fail("the child process stopped") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Closes its standard input and waits for it to exit; its exit status.
    @discardableResult
    func finish() -> Int32 {
        close(input)
        fclose(output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}

/// The directory of this program (where `swift build` also puts `mmstats`).
func programDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
    guard length > 0 else { fail("cannot read /proc/self/exe") }
    let path = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
}

/// The reading before `StatsScanner` (what `mmstats serve` did): list the directories
/// (`fstatat` of every entry), then per file `lstat` and a reader cached by path, device and
/// inode, each holding a descriptor.
final class LegacyScan {
    let root: String
    private var readers: [String: (device: UInt64, inode: UInt64, reader: StatsReader)] = [:]

    init(root: String) { self.root = root }

    func list(_ directory: String, into files: inout [String]) {
        guard let handle = opendir(directory) else { return }
        defer { closedir(handle) }
        var info = stat()
        while let entry = readdir(handle) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes.first == UInt8(ascii: ".") { continue }
            let name = String(decoding: bytes, as: UTF8.self)
            guard fstatat(dirfd(handle), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                list(directory + "/" + name, into: &files)
            } else if info.st_mode & S_IFMT == S_IFREG, name.hasSuffix(".mmstats") {
                files.append(directory + "/" + name)
            }
        }
    }

    /// Reads every file; the number of metrics read.
    func scan() -> Int {
        var files: [String] = []
        list(root, into: &files)
        files.sort()
        var metrics = 0
        var seen: Set<String> = []
        for path in files {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            seen.insert(path)
            let reader: StatsReader
            if let cached = readers[path], cached.device == UInt64(info.st_dev), cached.inode == UInt64(info.st_ino) {
                reader = cached.reader
            } else {
                guard let opened = try? StatsReader(path: path) else { continue }
                reader = opened
                readers[path] = (UInt64(info.st_dev), UInt64(info.st_ino), opened)
            }
            guard let snapshot = try? reader.snapshot() else { continue }
            metrics += snapshot.count
        }
        for path in readers.keys where !seen.contains(path) { readers[path] = nil }
        return metrics
    }
}

/// One way of reading all files: a fresh state, and one scan of it returning the metrics read.
struct ScanMethod {
    let name: String
    let make: (String) -> () -> Int
}

/// CPU time of this process so far (user and system), in ms.
func cpuMilliseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func ms(_ t: timeval) -> Double { Double(t.tv_sec) * 1e3 + Double(t.tv_usec) / 1e3 }
    return ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Wall and CPU milliseconds of `body`.
func milliseconds(_ body: () -> Int) -> (wall: Double, cpu: Double) {
    let cpu = cpuMilliseconds()
    let start = monotonicNanoseconds()
    sink(UInt64(body()))
    return (Double(monotonicNanoseconds() - start) / 1e6, cpuMilliseconds() - cpu)
}

/// Wall and CPU times of the runs of one measurement.
struct ScanTiming {
    var runs: [(wall: Double, cpu: Double)] = []

    mutating func append(_ run: (wall: Double, cpu: Double)) { runs.append(run) }

    var cell: String {
        let sorted = runs.sorted { $0.wall < $1.wall }
        guard let best = sorted.first else { return "-" }
        return "\(fixed(best.wall, 2)) (\(fixed(best.cpu, 1))) / \(fixed(sorted[sorted.count / 2].wall, 2))"
    }
}

/// `mmstats-benchmarks --scan [--runs R] [--counts N,...] [--mmstats PATH]`.
func scanBenchmarks(root: String, counts: [Int], runs: Int, mmstats: String, scalars: Bool, methods: [ScanMethod]) {
    let program = programDirectory() + "/mmstats-benchmarks"
    print("# Reading many files")
    print("")
    print("Started \(utcNow()); load average: \(loadAverage()); \(runs) runs of each, min / median ms.")
    print(
        "Each file: 3 counters, 1 gauge\(scalars ? "" : ", 1 histogram") (word layout), written by live child"
            + " processes (4,000 files each). Cells: wall ms (CPU ms of this process), the run with the least wall"
            + " time, then the median wall time.")
    print("")
    print("| files | reader | first scan | later scan | after 1% changed |")
    print("|---:|---|---:|---:|---:|")
    var slurpRows: [String] = []
    for count in counts {
        let directory = root + "/scan-\(count)"
        guard mkdir(directory, 0o700) == 0 else { fail("cannot create \(directory)") }
        // A writer holds two descriptors: at most 4,000 files per writer process.
        let perWriter = 4_000
        let writers = stride(from: 0, to: count, by: perWriter).map { start in
            Child([
                program, "--scan-writer", String(start), String(min(count, start + perWriter)), directory,
                scalars ? "scalars" : "histogram",
            ])
        }
        for writer in writers where !writer.ask(nil).hasPrefix("ready") { fail("the writer did not start") }
        for method in methods {
            var first = ScanTiming()
            var later = ScanTiming()
            var changed = ScanTiming()
            for _ in 0..<runs {
                let scan = method.make(directory)
                first.append(milliseconds(scan))
                _ = scan()
                later.append(milliseconds(scan))
                for writer in writers { writer.ask("change \(max(1, min(count, perWriter) / 100))") }
                changed.append(milliseconds(scan))
            }
            print("| \(count) | \(method.name) | \(first.cell) | \(later.cell) | \(changed.cell) |")
        }
        var slurp = Timing()
        for _ in 0..<runs {
            let start = monotonicNanoseconds()
            let child = Child([mmstats, "slurp", "--json", directory], standardOutput: "/dev/null")
            let status = child.finish()
            slurp.samples.append(Double(monotonicNanoseconds() - start) / 1e6)
            if status != 0 { print("(slurp exited with status \(status))") }
        }
        slurpRows.append("| \(count) | \(fixed(slurp.best, 1)) / \(fixed(slurp.median, 1)) |")
        for writer in writers { writer.finish() }
        removeTree(directory)
    }
    print("")
    print("`\(mmstats) slurp --json DIR > /dev/null`, whole process, ms (min / median):")
    print("")
    print("| files | slurp --json |")
    print("|---:|---:|")
    for row in slurpRows { print(row) }
    print("")
    print("checksum \(checksum)")
}

/// A scan through `forEachSnapshot`, counting the metrics seen.
private func eachSnapshot(_ scanner: StatsScanner) -> () -> Int {
    {
        var metrics = 0
        scanner.forEachSnapshot(onError: { _ in }) { metrics += $0.count }
        return metrics
    }
}

/// The readers compared.
func scanMethods() -> [ScanMethod] {
    [
        ScanMethod(name: "before: StatsReader per file, cached by path") { root in
            let legacy = LegacyScan(root: root)
            return { legacy.scan() }
        },
        ScanMethod(name: "StatsScanner.snapshots") { root in
            let scanner = StatsScanner(paths: [root])
            return { scanner.snapshots(onError: { _ in }).reduce(0) { $0 + $1.count } }
        },
        ScanMethod(name: "StatsScanner.forEachSnapshot") { root in
            eachSnapshot(StatsScanner(paths: [root]))
        },
        ScanMethod(name: "StatsScanner.forEachSnapshot, 1 opening thread") { root in
            // Without the read-ahead's threads: every file opened on the calling thread.
            let scanner = StatsScanner(paths: [root])
            scanner.openingThreads = 1
            return eachSnapshot(scanner)
        },
        ScanMethod(name: "snapshot() only, of readers in an array") { root in
            // The floor under a scan: no listing, no lookup; the readers are opened once.
            let scanner = StatsScanner(paths: [root])
            var readers: [StatsReader]? = nil
            return {
                if readers == nil {
                    readers = scanner.files { _ in }.compactMap { try? scanner.reader(for: $0) }
                }
                return (readers ?? []).reduce(0) { $0 + ((try? $1.snapshot())?.count ?? 0) }
            }
        },
        ScanMethod(name: "StatsScanner.files (list only)") { root in
            let scanner = StatsScanner(paths: [root])
            return { scanner.files(onError: { _ in }).count }
        },
    ]
}
