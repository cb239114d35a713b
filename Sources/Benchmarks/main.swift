// mmstats-benchmarks: ns per operation of the writer's and reader's hot paths, each next to
// a baseline measured in the same run. See docs/BENCHMARKS.md.
//
//   swift run -c release mmstats-benchmarks [--quick] [--json] [--only GROUP[,GROUP...]] [--ats PATH]
//   swift run -c release mmstats-benchmarks --scan [--counts N,...] [--runs R] [--mmstats PATH] [--files scalars]
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

// `--scan-writer FIRST END DIR KIND` is a child process of `--scan`; `--scan` runs only "Reading many files".
if CommandLine.arguments.count == 6, CommandLine.arguments[1] == "--scan-writer",
    let first = Int(CommandLine.arguments[2]), let end = Int(CommandLine.arguments[3]), first <= end
{
    scanWriterMain(
        files: first..<end, directory: CommandLine.arguments[4], scalars: CommandLine.arguments[5] == "scalars")
}
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--scan" {
    var counts = [100, 1_000, 10_000]
    var runs = 5
    var scalars = false
    var mmstats = programDirectory() + "/mmstats"
    let scanUsage =
        "usage: mmstats-benchmarks --scan [--counts N,...] [--runs R] [--mmstats PATH] [--files histogram|scalars]"
    var index = 2
    let arguments = CommandLine.arguments
    while index < arguments.count {
        // Every option takes a value.
        guard ["--counts", "--runs", "--mmstats", "--files"].contains(arguments[index]) else {
            fail("unknown option '\(arguments[index])'\n\(scanUsage)")
        }
        guard index + 1 < arguments.count else { fail("\(arguments[index]) needs a value\n\(scanUsage)") }
        let value = arguments[index + 1]
        switch arguments[index] {
        case "--counts":
            counts = value.split(separator: ",").compactMap { Int($0) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { fail("--counts takes N,N,...\n\(scanUsage)") }
        case "--runs":
            guard let number = Int(value), number > 0 else { fail("--runs takes a whole number\n\(scanUsage)") }
            runs = number
        case "--mmstats": mmstats = value
        case "--files":
            guard value == "scalars" || value == "histogram" else {
                fail("--files takes histogram or scalars\n\(scanUsage)")
            }
            scalars = value == "scalars"
        default: fail(scanUsage)  // (not reached: checked above)
        }
        index += 2
    }
    let scanRoot = "/dev/shm/mmstats-bench-scan-\(getpid())"
    guard mkdir(scanRoot, 0o700) == 0 else { fail("cannot create \(scanRoot)") }
    scanBenchmarks(
        root: scanRoot, counts: counts, runs: runs, mmstats: mmstats, scalars: scalars, methods: scanMethods())
    removeTree(scanRoot)
    exit(0)
}

/// The groups of rows, in the order they run; `--only` picks some of them.
let groups = [
    "writer", "api", "kinds", "histogram", "window", "reader", "processor", "processor-many", "processor-files",
    "diagnostics", "interference",
]
let usage =
    "usage: mmstats-benchmarks [--quick] [--json] [--only GROUP[,GROUP...]] [--ats PATH]\n"
    + "  --quick: 10x fewer iterations, for smoke runs; --json: the results as JSON on standard output,"
    + " the report on standard error\n"
    + "  --only: run only these groups (\(groups.joined(separator: ", ")))\n"
    + "  --ats: Traffic Server's stats.config.xml for the processor rows (default: $MMSTATS_ATS_CONFIG,"
    + " else ../shared/fixtures/ats/stats.config.xml.default)\n"
    + "  --scan [--counts N,...] [--runs R] [--mmstats PATH] [--files histogram|scalars]: only \"Reading many"
    + " files\" (docs/BENCHMARKS.md)"
var selected = Set(groups)
var atsPath =
    getenv("MMSTATS_ATS_CONFIG").map { String(cString: $0) } ?? "../shared/fixtures/ats/stats.config.xml.default"
var quick = false
var json = false
var argumentIndex = 1
while argumentIndex < CommandLine.arguments.count {
    let argument = CommandLine.arguments[argumentIndex]
    argumentIndex += 1
    switch argument {
    case "--quick": quick = true
    case "--json": json = true
    case "--only", "--ats":
        guard argumentIndex < CommandLine.arguments.count else {
            print("\(argument) needs a value\n\(usage)")
            exit(2)
        }
        let value = CommandLine.arguments[argumentIndex]
        argumentIndex += 1
        if argument == "--ats" {
            atsPath = value
        } else {
            selected = Set(value.split(separator: ",").map(String.init))
            if let unknown = selected.first(where: { !groups.contains($0) }) {
                print("unknown group '\(unknown)'\n\(usage)")
                exit(2)
            }
        }
    default:
        print(usage)
        exit(argument == "--help" || argument == "-h" ? 0 : 2)
    }
}
if json { reportToStandardError() }
let plan = Plan(quick: quick)
let root = "/dev/shm/mmstats-bench-\(getpid())"
guard mkdir(root, 0o700) == 0 else {
    fail("cannot create \(root): \(String(cString: strerror(errno)))")
}

/// The rows of `group` if it was selected, else none.
@MainActor func run<T>(_ group: String, _ body: () -> [T]) -> [T] { selected.contains(group) ? body() : [] }

let started = utcNow()
let loadBefore = loadAverage()
let rows =
    run("writer") { writerRows(plan, root: root) } + run("api") { apiRows(plan, root: root) }
    + run("kinds") { kindRows(plan, root: root) } + run("histogram") { histogramRows(plan, root: root) }
    + run("window") { windowRows(plan, root: root) } + run("reader") { readerRows(plan, root: root) }
    + run("processor") { processorRows(plan, atsPath: atsPath) }
    + run("processor-many") { manySamplesRows(plan) }
    + run("processor-files") { endToEndRows(plan, root: root) }
let diagnostics = run("diagnostics") { diagnosticRows(plan, root: root) }
let interference = run("interference") { interferenceResults(plan, root: root) }
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
if json {
    printJSON(
        rows: rows, diagnostics: diagnostics, started: started, quick: plan.quick, loadBefore: loadBefore,
        loadAfter: loadAfter)
}
