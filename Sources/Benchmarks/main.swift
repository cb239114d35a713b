// mmstats-benchmarks: ns per operation of the writer's and reader's hot paths, each next to
// a baseline measured in the same run. See docs/BENCHMARKS.md.
//
//   swift run -c release mmstats-benchmarks [--quick] [--json]
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Removes a directory tree (only what this program created under its private root).
func removeTree(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
        }
        closedir(directory)
    }
    rmdir(path)
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains(where: { $0 != "--quick" && $0 != "--json" }) {
    print(
        "usage: mmstats-benchmarks [--quick] [--json]   (--quick: 10x fewer iterations, for smoke runs;"
            + " --json: the results as JSON on standard output, the report on standard error)")
    exit(arguments.contains("--help") || arguments.contains("-h") ? 0 : 2)
}
if arguments.contains("--json") { reportToStandardError() }
let plan = Plan(quick: arguments.contains("--quick"))
let root = "/dev/shm/mmstats-bench-\(getpid())"
guard mkdir(root, 0o700) == 0 else {
    fail("cannot create \(root): \(String(cString: strerror(errno)))")
}

let started = utcNow()
let loadBefore = loadAverage()
let rows =
    writerRows(plan, root: root) + apiRows(plan, root: root) + kindRows(plan, root: root)
    + histogramRows(plan, root: root) + windowRows(plan, root: root) + readerRows(plan, root: root)
let diagnostics = diagnosticRows(plan, root: root)
let interference = interferenceResults(plan, root: root)
let loadAfter = loadAverage()
removeTree(root)

print("# mmstats benchmarks\(plan.quick ? " (--quick)" : "")")
print("")
print("Started \(started); load average before: \(loadBefore); after: \(loadAfter).")
print(
    "Each benchmark: 1 warm-up run, then \(plan.runs) measured runs of mmstats and baseline interleaved; "
        + "the table shows the fastest run (min ns/op). Iterations: \(plan.nanoIterations) per run for ns-scale "
        + "operations, \(plan.microIterations) for publish/snapshot, \(plan.milliIterations) for decoding.")
print("")
printTable(rows)
print("")
print("Spread over the \(plan.runs) measured runs (ns/op):")
print("")
printSpread(rows)
print("")
print("Diagnostics (no targets; they locate costs inside the library, see docs/BENCHMARKS.md):")
print("")
printTable(diagnostics, numberedFrom: rows.count + 1)
print("")
print(
    "Reader interference: writer increments of one counter for \(fixed(plan.interferenceSeconds, 1)) s per run, "
        + "alone and with a reader thread, 3 alternating repetitions; best run of each.")
print("")
printInterference(interference)
print("")
print("checksum \(checksum)")
if arguments.contains("--json") {
    printJSON(
        rows: rows, diagnostics: diagnostics, started: started, quick: plan.quick, loadBefore: loadBefore,
        loadAfter: loadAfter)
}
