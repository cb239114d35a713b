// peer-benchmarks: what one update costs in mmstats and in the libraries users would pick
// instead, timed by one harness in one process, next to a plain store measured in the same run.
// See docs/BENCHMARKS.md ("Against the libraries users would pick instead").
//
//   swift run -c release --package-path Benchmarks/Peers peer-benchmarks [--quick]
//
// The collection benchmark (reading N live files against prometheus_client's multiprocess
// collection) is Benchmarks/Peers/collection.sh, which uses the subcommands in CollectionRows.swift.
import MmStatsCore
import MmStatsMetricsBackend

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

let usage = """
    usage: peer-benchmarks [--quick]
      --quick: shorter and fewer runs, for smoke runs
    collection (Benchmarks/Peers/collection.sh runs these):
      peer-benchmarks collection-writer ROOT FIRST COUNT
      peer-benchmarks collection-read ROOT FILES SCANS [--readers]
        --readers: a StatsReader per path in a dictionary (a descriptor each), not StatsScanner
    """

/// The collection subcommands (CollectionRows.swift), which take whole numbers after the root.
let arguments = Array(CommandLine.arguments.dropFirst())
if let command = arguments.first, command.hasPrefix("collection-") {
    let readers = command == "collection-read" && arguments.last == "--readers"
    let numbers = arguments.dropFirst(2).prefix(2).compactMap { Int($0) }
    guard arguments.count == (readers ? 5 : 4), numbers.count == 2, numbers.allSatisfy({ $0 >= 0 }) else {
        print(usage)
        exit(2)
    }
    switch command {
    case "collection-writer": collectionWriter(root: arguments[1], first: numbers[0], count: numbers[1])
    case "collection-read":
        collectionRead(root: arguments[1], files: numbers[0], scans: numbers[1], scanner: !readers)
    default:
        print(usage)
        exit(2)
    }
}

var quick = false
for argument in CommandLine.arguments.dropFirst() {
    switch argument {
    case "--quick": quick = true
    default:
        print(usage)
        exit(argument == "--help" || argument == "-h" ? 0 : 2)
    }
}

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

let root = "/dev/shm/mmstats-peers-\(getpid())"
guard mkdir(root, 0o700) == 0 else { fail("cannot create \(root): \(String(cString: strerror(errno)))") }

let bench = Bench(quick: quick)
baselineRows(bench)
let writers = mmstatsRows(bench, root: root)
let factory = swiftMetricsRows(bench, root: root)
prometheusRows(bench)
hdrRows(bench)
factory.close()
for writer in writers { writer.close() }
removeTree(root)

let plainStore = bench.rows.first { $0.kind == .baseline && $0.threads == 1 }?.nanoseconds ?? .nan
print("# mmstats against its peers: one update\(quick ? " (--quick)" : "")")
print("")
print(
    "Each row: iterations calibrated to about \(fixed(bench.targetNanoseconds / 1e6, 0)) ms per run, 1 warm-up run, "
        + "best of \(bench.runs) runs. ns/op = wall-clock time / operations per thread (2 threads: both update "
        + "the same metric at once, except the per-thread rows). × plain = ns/op / the 1-thread plain store of "
        + "this run. × mmstats = ns/op / mmstats' row of the same kind and thread count (marked *).")
print("")
print("| update | threads | ns/op | × plain | × mmstats |")
print("| --- | ---: | ---: | ---: | ---: |")
for row in bench.rows {
    let name = row.reference ? "\(row.name) *" : row.name
    guard let nanoseconds = row.nanoseconds else {
        print("| \(name) | \(row.threads) | not run: \(row.note) | | |")
        continue
    }
    let versus = bench.reference(for: row).map { fixed(nanoseconds / $0, 2) } ?? ""
    print("| \(name) | \(row.threads) | \(fixed(nanoseconds, 2)) | \(fixed(nanoseconds / plainStore, 1)) | \(versus) |")
}
print("")
print("checksum \(checksum)")
