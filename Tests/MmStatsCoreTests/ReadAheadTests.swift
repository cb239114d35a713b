import CMmStats
import Foundation
import MmStatsTestSupport
import Synchronization
import Testing

@testable import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// The scanner's read-ahead: when a scan meets many files it has no reader for, it opens them,
// parses their metadata and takes a first snapshot on several threads. What a caller sees must
// not change: the same snapshots, the same errors at the same places, files removed since the
// listing skipped, the reader cap kept, and no crash when a file is cut short under a thread.

/// Copies of one writer's file under `root` (and `root/sub`), the copy `f<i>` holding
/// `requests` = i + 1: `count` files in all, `inSub` of them in the subdirectory.
private func makeCopies(_ directory: TemporaryDirectory, root: String, count: Int, inSub: Int = 0) throws -> [String] {
    var options = directory.options()
    options.fileNameTemplate = "source.mmstats"
    let writer = try StatsWriter(options)
    let requests = try writer.counter("requests")
    try writer.gauge("depth").set(-3)
    #expect(mkdir(root, 0o700) == 0)
    #expect(mkdir(root + "/sub", 0o700) == 0)
    var paths: [String] = []
    for index in 0..<count {
        requests.increment()
        let name = String(format: "f%04d.mmstats", index)
        let path = index >= count - inSub ? root + "/sub/" + name : root + "/" + name
        try Data(contentsOf: URL(fileURLWithPath: writer.path)).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        paths.append(path)
    }
    return paths
}

/// Copies the file at `source` to a new file at `path` (mode 0600).
private func copyfile(_ source: String, _ path: String) -> Bool {
    guard let bytes = FileManager.default.contents(atPath: source) else { return false }
    return FileManager.default.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600])
}

/// The index a copy's name gives (`f0042.mmstats` → 42).
private func copyIndex(_ path: String) -> Int? {
    guard let name = path.split(separator: "/").last, name.hasPrefix("f") else { return nil }
    return Int(name.dropFirst().prefix(4))
}

/// One scan's results: each file's path and `requests`, and each error's path and reason.
private struct ScanResult: Equatable {
    var read: [String: UInt64] = [:]
    var order: [String] = []
    var errors: [String] = []
}

private func scan(_ scanner: StatsScanner) -> ScanResult {
    var result = ScanResult()
    scanner.forEachSnapshot(onError: { result.errors.append("\($0.path ?? "-"): \($0.reason)") }) { snapshot in
        result.order.append(snapshot.path)
        if case .uint(let value) = snapshot.value("requests") { result.read[snapshot.path] = value }
    }
    return result
}

@Suite("StatsScanner read-ahead: many new files opened on several threads")
struct ReadAheadTests {
    @Test("several threads read what one thread reads: the same values, the same errors in the same places")
    func sameAsOneThread() throws {
        let directory = TemporaryDirectory("readahead-same")
        let root = directory.path + "/many"
        let paths = try makeCopies(directory, root: root, count: 400, inSub: 90)
        // A bad magic and a file cut inside its metadata, among the good ones.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: paths[100])))
        bytes[3] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: paths[100]))
        resize(paths[250], 300)

        let threaded = StatsScanner(paths: [root])
        threaded.openingThreads = 4
        let single = StatsScanner(paths: [root])
        single.openingThreads = 1
        for pass in 0..<2 {
            let many = scan(threaded)
            let one = scan(single)
            #expect(many == one, "pass \(pass)")
            #expect(many.order.count == 398)
            #expect(many.errors.count == 2)
            #expect(many.errors.first?.hasPrefix(paths[100]) == true, "\(many.errors)")
            #expect(many.errors.last?.hasPrefix(paths[250]) == true, "\(many.errors)")
            for path in many.order {
                #expect(many.read[path].map(Int.init) == copyIndex(path).map { $0 + 1 }, "\(path)")
            }
            #expect(threaded.cachedReaders == 398)
        }
        #expect(threaded.readAheads == 1)
        #expect(single.readAheads == 0)
    }

    @Test("a file removed after the listing is skipped, not an error; one opened before it was removed is read")
    func removedAfterListing() throws {
        let directory = TemporaryDirectory("readahead-removed")
        let root = directory.path + "/many"
        let paths = try makeCopies(directory, root: root, count: 300)
        let scanner = StatsScanner(paths: [root])
        scanner.openingThreads = 3
        let files = scanner.files { Issue.record("\($0)") }
        #expect(files == paths)
        // Removed before the read-ahead opens it, and after.
        unlink(paths[7])
        var read: [Int] = []
        scanner.forEachSnapshot(of: files, onError: { Issue.record("\($0)") }) { snapshot in
            let index = copyIndex(snapshot.path) ?? -1
            if index == 200 { unlink(paths[260]) }
            #expect(snapshot.value("requests") == .uint(UInt64(index + 1)))
            read.append(index)
        }
        // 260 was opened by the read-ahead before it was removed: its mapping is still read.
        #expect(read == Array(0..<300).filter { $0 != 7 })
        #expect(scanner.readAheads == 1)
        #expect(scanner.snapshots { Issue.record("\($0)") }.count == 298)
        // Read one by one by a scanner that has no reader of it, a file removed since the
        // listing is nil.
        let another = StatsScanner(paths: [root])
        _ = another.files { Issue.record("\($0)") }
        unlink(paths[8])
        #expect(try another.snapshot(of: paths[8]) == nil)
    }

    @Test("forget(_:) during a scan drops what the read-ahead made of the file: it is opened afresh")
    func forgetDuringScan() throws {
        let directory = TemporaryDirectory("readahead-forget")
        let root = directory.path + "/many"
        let paths = try makeCopies(directory, root: root, count: 100)
        let scanner = StatsScanner(paths: [root])
        scanner.openingThreads = 2
        var seen: [Int: UInt64] = [:]
        scanner.forEachSnapshot(onError: { Issue.record("\($0)") }) { snapshot in
            let index = copyIndex(snapshot.path) ?? -1
            if case .uint(let value) = snapshot.value("requests") { seen[index] = value }
            guard index == 0 else { return }
            // The read-ahead has opened and read every file by now. File 5 is replaced by a new
            // file holding file 50's bytes (requests 51), and forgotten: it is opened afresh.
            let replacement = root + "/.replacement"
            try? Data(contentsOf: URL(fileURLWithPath: paths[50])).write(to: URL(fileURLWithPath: replacement))
            rename(replacement, paths[5])
            scanner.forget(paths[5])
        }
        #expect(scanner.readAheads == 1)
        #expect(seen[5] == 51)
        #expect(seen[6] == 7)
        #expect(seen.count == 100)
    }

    @Test("the reader cap holds: none kept with maximumReaders 0, 50 kept with 50; every file read")
    func readerCap() throws {
        let directory = TemporaryDirectory("readahead-cap")
        let root = directory.path + "/many"
        _ = try makeCopies(directory, root: root, count: 200)
        for cap in [0, 50] {
            let scanner = StatsScanner(paths: [root], maximumReaders: cap)
            scanner.openingThreads = 2
            for _ in 0..<2 {
                let result = scan(scanner)
                #expect(result.order.count == 200)
                #expect(result.errors.isEmpty, "\(result.errors)")
                #expect(scanner.cachedReaders == cap)
            }
        }
    }

    @Test("a caller that reads one file in ten opens those only, ahead on threads, and keeps those only")
    func someFiles() throws {
        let directory = TemporaryDirectory("readahead-some")
        let root = directory.path + "/many"
        _ = try makeCopies(directory, root: root, count: 2_500)
        for cap in [0, StatsScanner.defaultMaximumReaders] {
            let scanner = StatsScanner(paths: [root], maximumReaders: cap)
            scanner.openingThreads = 2
            let chosen = scanner.files { Issue.record("\($0)") }.enumerated().filter { $0.offset % 10 == 0 }
            var read: [String] = []
            scanner.forEachSnapshot(of: chosen.map(\.element), onError: { Issue.record("\($0)") }) { snapshot in
                #expect(snapshot.value("requests") == .uint(UInt64((copyIndex(snapshot.path) ?? -1) + 1)))
                read.append(snapshot.path)
            }
            #expect(read == chosen.map(\.element))
            #expect(scanner.readAheads == 1)
            #expect(scanner.cachedReaders == min(cap, 250))
        }
    }

    @Test("a path that was not listed, or given twice, is read like the others")
    func unlistedAndRepeated() throws {
        let directory = TemporaryDirectory("readahead-unlisted")
        let root = directory.path + "/many"
        let paths = try makeCopies(directory, root: root, count: 200)
        let scanner = StatsScanner(paths: [root + "/sub"])  // lists none of them
        scanner.openingThreads = 2
        #expect(scanner.files { Issue.record("\($0)") }.isEmpty)
        var read: [String] = []
        scanner.forEachSnapshot(of: paths + paths.prefix(3), onError: { Issue.record("\($0)") }) {
            read.append($0.path)
        }
        #expect(read == paths + paths.prefix(3))
    }

    @Test("a read-ahead stopped by its memory bound leaves the rest to the next one; every file is read")
    func memoryBound() async {
        defer { removeScratch("readahead-bound") }
        await #expect(processExitsWith: .success) {
            let root = scratch("readahead-bound") + "/many"
            _ = try makeCopies(TemporaryDirectory("readahead-bound-source"), root: root, count: 600)
            // Each file holds about 140 bytes of metadata and values: the threads stop after
            // their first chunk or two, a few dozen files.
            ReadAhead.maximumBytes = 2_000
            let scanner = StatsScanner(paths: [root])
            scanner.openingThreads = 2
            let result = scan(scanner)
            let readRight = result.order.allSatisfy { result.read[$0].map(Int.init) == copyIndex($0).map { $0 + 1 } }
            let status: Int32 =
                result.order.count != 600
                ? 2 : !result.errors.isEmpty ? 3 : !readRight ? 4 : scanner.readAheads < 10 ? 5 : 0
            exit(status)
        }
    }

    @Test("a corrupt file a read-ahead thread opened is reported once, not opened again")
    func corruptOpenedOnce() async {
        defer { removeScratch("readahead-once") }
        await #expect(processExitsWith: .success) {
            let root = scratch("readahead-once") + "/many"
            let paths = try makeCopies(TemporaryDirectory("readahead-once-source"), root: root, count: 200)
            let victims = Set(stride(from: 5, to: 200, by: 9).map { paths[$0] })
            for path in victims {
                var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
                bytes[3] ^= 0xFF  // bad magic: refused when the header is parsed
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
            let opens = Mutex<[String: Int]>([:])
            ReaderTestHooks.afterOpen = { path in opens.withLock { $0[path, default: 0] += 1 } }
            let scanner = StatsScanner(paths: [root])
            scanner.openingThreads = 2
            let result = scan(scanner)
            let reported = result.errors.compactMap { $0.split(separator: ":").first.map(String.init) }
            let openedOnce = opens.withLock { counts in victims.allSatisfy { counts[$0] == 1 } }
            let status: Int32 =
                Set(reported) != victims || reported.count != victims.count
                ? 2
                : !openedOnce ? 3 : result.order.count != 200 - victims.count ? 4 : scanner.readAheads != 1 ? 5 : 0
            exit(status)
        }
    }

    @Test("a file cut short while a read-ahead thread parses it is an error for that file, not a crash")
    func truncatedUnderThread() async {
        defer { removeScratch("readahead-bus") }
        await #expect(processExitsWith: .success) {
            let root = scratch("readahead-bus") + "/many"
            let paths = try makeCopies(TemporaryDirectory("readahead-bus-source"), root: root, count: 300)
            let victims = Set(stride(from: 3, to: 300, by: 7).map { paths[$0] })
            let cut = Mutex<Set<String>>([])
            let caller = mmstats_gettid()
            let cutElsewhere = Atomic<Int>(0)
            // On the thread that opened the file: cut it to nothing once, after it was mapped;
            // the parse that follows loads from a page that is gone (SIGBUS, caught).
            ReaderTestHooks.afterOpen = { path in
                guard victims.contains(path), cut.withLock({ $0.insert(path).inserted }) else { return }
                resize(path, 0)
                if mmstats_gettid() != caller { cutElsewhere.add(1, ordering: .relaxed) }
            }
            let scanner = StatsScanner(paths: [root])
            scanner.openingThreads = 4
            let result = scan(scanner)
            let reported = Set(result.errors.compactMap { $0.split(separator: ":").first.map(String.init) })
            let readRight = result.order.allSatisfy { result.read[$0].map(Int.init) == copyIndex($0).map { $0 + 1 } }
            let threaded = cutElsewhere.load(ordering: .relaxed) > 0
            exit(reported == victims && result.order.count == 300 - victims.count && readRight && threaded ? 0 : 1)
        }
    }

    @Test("read-ahead threads block every signal but the faults, so signals stay with the caller")
    func threadSignalMask() {
        // Per index: ran, SIGTERM blocked, SIGBUS blocked.
        var seen = [Int32](repeating: -1, count: 4 * 3)
        var callerMask = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &callerMask)
        let ran = seen.withUnsafeMutableBufferPointer { buffer in
            mmstats_run_parallel(
                4,
                { context, index in
                    guard let slots = context?.assumingMemoryBound(to: Int32.self) else { return }
                    var mask = sigset_t()
                    pthread_sigmask(SIG_SETMASK, nil, &mask)
                    slots[Int(index) * 3] = 1
                    slots[Int(index) * 3 + 1] = sigismember(&mask, SIGTERM)
                    slots[Int(index) * 3 + 2] = sigismember(&mask, SIGBUS)
                }, buffer.baseAddress)
        }
        #expect(ran == 4)
        #expect(seen[0] == 1 && seen[1] == sigismember(&callerMask, SIGTERM), "the calling thread keeps its mask")
        for index in 1..<4 {
            #expect(seen[index * 3] == 1, "thread \(index) ran")
            #expect(seen[index * 3 + 1] == 1, "thread \(index) blocks SIGTERM")
            #expect(seen[index * 3 + 2] == 0, "thread \(index) lets SIGBUS through")
        }
    }
}

@Suite("StatsScanner listing order")
struct ListingOrderTests {
    @Test("two names Unicode deems equivalent are two files, each read once")
    func equivalentNames() throws {
        let directory = TemporaryDirectory("listing-unicode")
        var options = directory.options()
        options.fileNameTemplate = "source.mmstats"
        let writer = try StatsWriter(options)
        let requests = try writer.counter("requests")
        let precomposed = directory.path + "/caf\u{E9}.mmstats"
        let decomposed = directory.path + "/cafe\u{301}.mmstats"
        #expect(precomposed == decomposed, "Swift compares them as equal")
        for (path, value) in [(precomposed, 1), (decomposed, 2)] {
            requests.increment()
            #expect(copyfile(writer.path, path), "\(value)")
        }
        let scanner = StatsScanner(paths: [directory.path])
        let snapshots = scanner.snapshots { Issue.record("\($0)") }
        let read = snapshots.filter { $0.path != writer.path }
        #expect(read.count == 2)
        #expect(Set(read.map { Array($0.path.utf8) }) == [Array(precomposed.utf8), Array(decomposed.utf8)])
        #expect(Set(read.compactMap { $0.value("requests") }) == [.uint(1), .uint(2)])
    }

    @Test("paths sort by their UTF-8 bytes, whatever they share and however long they are")
    func byteOrder() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "b", "é", "z", "/", "w1", "w10", "w2-", "\u{1F600}", "Z", "0", ".mmstats"]
        for round in 0..<200 {
            let prefix = round % 3 == 0 ? "" : "/dev/shm/mmstats-0/app/Model/"
            let count = Int.random(in: 0...40, using: &generator)
            var paths = (0..<count).map { _ in
                prefix
                    + (0..<Int.random(in: 0...6, using: &generator)).map { _ in pieces.randomElement(using: &generator)!
                    }.joined()
            }
            if round % 5 == 0, let first = paths.first { paths.append(first) }  // equal paths
            let found = paths.map { (path: $0, id: StatsScanner.FileID(device: 1, inode: 1)) }
            let sorted = StatsScanner.sortedOrder(found).map { paths[$0] }
            let expected = paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            #expect(sorted == expected, "\(paths)")
        }
    }
}
