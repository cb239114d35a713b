import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Writer options for a file named `name` (no placeholders) under `directory`.
private func options(_ directory: TemporaryDirectory, _ name: String) -> WriterOptions {
    var options = directory.options()
    options.fileNameTemplate = name
    return options
}

/// The bytes of a file.
private func contents(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes `bytes` to a new file at `path`, mode 0600.
private func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    chmod(path, 0o600)
}

@Suite("StatsScanner: many files, one bounded reader cache")
struct StatsScannerTests {
    @Test("sees a file appear, change its generation, be replaced at its path and disappear")
    func lifecycle() throws {
        let directory = TemporaryDirectory("scanner-life")
        let scanner = StatsScanner(paths: [directory.path])
        var errors: [MmStatsError] = []
        #expect(scanner.snapshots { errors.append($0) }.isEmpty)

        let first = try StatsWriter(options(directory, "first.mmstats"))
        try first.counter("requests").increment(by: 3)
        var snapshots = scanner.snapshots { errors.append($0) }
        #expect(snapshots.map(\.path) == [first.path])
        #expect(snapshots.first?.value("requests") == .uint(3))
        let firstReader = try scanner.reader(for: first.path)

        // Appears.
        let second = try StatsWriter(options(directory, "second.mmstats"))
        try second.gauge("depth").set(-4)
        snapshots = scanner.snapshots { errors.append($0) }
        #expect(snapshots.map(\.path) == [first.path, second.path])
        #expect(scanner.cachedReaders == 2)

        // A new metric: the generation changes; the same reader parses the metadata again.
        let generation = snapshots[0].generation
        try first.gauge("added").set(7)
        snapshots = scanner.snapshots { errors.append($0) }
        #expect(snapshots[0].generation != generation)
        #expect(snapshots[0].value("added") == .int(7))
        #expect(try scanner.reader(for: first.path) === firstReader)

        // Replaced at the same path by another file (a new inode): opened afresh.
        let elsewhere = TemporaryDirectory("scanner-other")
        let replacement = try StatsWriter(options(elsewhere, "replacement.mmstats"))
        try replacement.counter("replacement").increment(by: 11)
        let secondReader = try scanner.reader(for: second.path)
        #expect(rename(replacement.path, second.path) == 0)
        snapshots = scanner.snapshots { errors.append($0) }
        #expect(snapshots.map(\.path) == [first.path, second.path])
        #expect(snapshots[1].value("replacement") == .uint(11))
        #expect(snapshots[1].value("depth") == nil)
        #expect(try scanner.reader(for: second.path) !== secondReader)

        // Disappears: its reader is dropped.
        first.close()
        snapshots = scanner.snapshots { errors.append($0) }
        #expect(snapshots.map(\.path) == [second.path])
        #expect(scanner.cachedReaders == 1)
        #expect(errors.isEmpty, "\(errors)")
        _ = second
    }

    @Test("a directory's kept listing is used only while the directory is unchanged")
    func keptListing() throws {
        let directory = TemporaryDirectory("scanner-kept")
        let first = try StatsWriter(options(directory, "first.mmstats"))
        let model = directory.path + "/app/Model"
        // Older than the 100 ms "recent change" margin: the listing is kept from now on.
        usleep(250_000)
        let scanner = StatsScanner(paths: [directory.path])
        var errors: [MmStatsError] = []
        #expect(scanner.files { errors.append($0) } == [first.path])
        #expect(scanner.files { errors.append($0) } == [first.path])

        // Any change to the entries changes the directory's times: each is seen at once.
        let bytes = try contents(first.path)
        try write(bytes, to: model + "/second.mmstats")
        #expect(scanner.files { errors.append($0) } == [first.path, model + "/second.mmstats"])
        let secondReader = try scanner.reader(for: model + "/second.mmstats")
        try write(bytes, to: model + "/.replacement.tmp")
        #expect(rename(model + "/.replacement.tmp", model + "/second.mmstats") == 0)
        #expect(scanner.files { errors.append($0) } == [first.path, model + "/second.mmstats"])
        #expect(try scanner.reader(for: model + "/second.mmstats") !== secondReader)
        #expect(unlink(model + "/second.mmstats") == 0)
        #expect(scanner.files { errors.append($0) } == [first.path])
        usleep(250_000)
        #expect(scanner.files { errors.append($0) } == [first.path])
        try write(bytes, to: model + "/third.mmstats")
        #expect(scanner.files { errors.append($0) } == [first.path, model + "/third.mmstats"])
        #expect(errors.isEmpty, "\(errors)")
    }

    @Test("reads 1,000 files with RLIMIT_NOFILE lowered to 64: kept readers hold no descriptor")
    func fewDescriptors() throws {
        let directory = TemporaryDirectory("scanner-fds")
        let writer = try StatsWriter(options(directory, "source.mmstats"))
        try writer.counter("requests").increment(by: 5)
        try writer.gauge("depth").set(2)
        let bytes = try contents(writer.path)
        let root = directory.path + "/many"
        #expect(mkdir(root, 0o700) == 0)
        for index in 0..<1_000 { try write(bytes, to: root + "/f\(index).mmstats") }

        let result = try run(Binaries.testWriter, ["scan", root, "64"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == Array(repeating: "listed 1000 read 1000 errors 0 kept 1000", count: 2), "\(lines)")
    }

    @Test("does not follow a symbolic link in the root, to a file or to a directory")
    func symbolicLinks() throws {
        let directory = TemporaryDirectory("scanner-links")
        let outside = TemporaryDirectory("scanner-outside")
        let target = try StatsWriter(options(outside, "target.mmstats"))
        try target.counter("secret").increment()
        let inside = try StatsWriter(options(directory, "inside.mmstats"))
        let model = directory.path + "/app/Model"
        #expect(symlink(target.path, model + "/link.mmstats") == 0)
        #expect(symlink(outside.path, model + "/linked-directory") == 0)

        let scanner = StatsScanner(paths: [directory.path])
        var errors: [MmStatsError] = []
        #expect(scanner.snapshots { errors.append($0) }.map(\.path) == [inside.path])
        #expect(errors.isEmpty, "\(errors)")

        // A link named directly is listed as given, and refused when read.
        let direct = StatsScanner(paths: [model + "/link.mmstats"])
        #expect(direct.snapshots { errors.append($0) }.isEmpty)
        #expect(errors.map(\.path) == [model + "/link.mmstats"])
        #expect(errors.first?.code == .unsafePath)
    }

    @Test("a hostile file among good ones is reported with its path; the others are read")
    func hostileFile() throws {
        let directory = TemporaryDirectory("scanner-hostile")
        let writer = try StatsWriter(options(directory, "good.mmstats"))
        try writer.counter("requests").increment(by: 9)
        var bytes = try contents(writer.path)
        let model = directory.path + "/app/Model"
        try write(bytes, to: model + "/copy.mmstats")
        // Bad magic; then a file cut short inside its metadata.
        bytes[3] ^= 0xFF
        try write(bytes, to: model + "/bad-magic.mmstats")
        try write(Array(try contents(writer.path).prefix(300)), to: model + "/short.mmstats")

        let scanner = StatsScanner(paths: [directory.path])
        for _ in 0..<2 {
            var errors: [MmStatsError] = []
            let snapshots = scanner.snapshots { errors.append($0) }
            #expect(snapshots.map(\.path) == [model + "/copy.mmstats", writer.path])
            #expect(snapshots.allSatisfy { $0.value("requests") == .uint(9) })
            #expect(errors.map(\.path) == [model + "/bad-magic.mmstats", model + "/short.mmstats"])
            #expect(errors.first?.reason.contains("magic") == true, "\(errors)")
            #expect(scanner.cachedReaders <= 4)
        }
    }

    @Test("keeps at most maximumReaders readers and still reads every file")
    func cap() throws {
        let directory = TemporaryDirectory("scanner-cap")
        let writer = try StatsWriter(options(directory, "source.mmstats"))
        try writer.counter("requests").increment(by: 1)
        let bytes = try contents(writer.path)
        for index in 0..<20 { try write(bytes, to: directory.path + "/f\(index).mmstats") }
        let scanner = StatsScanner(paths: [directory.path], maximumReaders: 5)
        var errors: [MmStatsError] = []
        #expect(scanner.snapshots { errors.append($0) }.count == 21)
        #expect(scanner.cachedReaders == 5)
        #expect(scanner.snapshots { errors.append($0) }.count == 21)
        var visited: [String] = []
        scanner.forEachSnapshot(onError: { errors.append($0) }) { visited.append($0.path) }
        #expect(visited == scanner.files { errors.append($0) })
        #expect(visited.count == 21)
        #expect(errors.isEmpty, "\(errors)")
    }
}
