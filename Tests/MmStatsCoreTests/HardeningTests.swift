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

// The findings of the "core hardening" review, one test each: files that change size while a
// reader maps them again, small files built to make a reader allocate gigabytes, writers that
// keep a read busy forever, writers in other PID namespaces, a stale-file check that could not
// read the file, zombies, and the order of the closed flag. Races are made deterministic with
// the reader's test hooks; anything that crashed or exhausted memory before the fix runs in a
// child process (an exit test), with an address-space limit where memory is the point.

/// Sets the size of the file at `path`.
func resize(_ path: String, _ size: Int) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = ftruncate(fd, off_t(size))
    close(fd)
}

/// Caps this process's address space at its current size plus `extra` bytes (exit tests only).
func limitAddressSpace(extra: Int) {
    var used = 0
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmSize:") }),
        let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    {
        used = kilobytes * 1024
    }
    var limit = rlimit(rlim_cur: rlim_t(used + extra), rlim_max: rlim_t(used + extra))
    _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
}

/// A directory for the child process of an exit test (which cannot capture values), named
/// after the test and the parent, which removes it with `removeScratch` when the child is done.
func scratch(_ name: String) -> String {
    let path = "/dev/shm/mmstats-hardening-\(name)-\(getppid())"
    mkdir(path, 0o700)
    return path
}

/// Removes the directory `scratch(name)` made in this process's exit-test child.
func removeScratch(_ name: String) {
    try? FileManager.default.removeItem(atPath: "/dev/shm/mmstats-hardening-\(name)-\(getpid())")
}

// MARK: - Tests

@Suite("Core hardening")
struct HardeningTests {
    /// `early` is validated against the 64 KiB mapping; `wide` (a word record, but bounded
    /// with the double-buffer size first) makes the reader look past the mapping and map the
    /// file again, and the file is 56 KiB by then.
    static func writeRemapFile(_ path: String) throws {
        let fields = (0..<5000).map { "f\($0)" }.joined(separator: ",")
        try CraftedFile(
            entries: [
                .init(name: "early", signature: "Q", fields: "value", valueOffset: 60_000, words: 1),
                .init(name: "wide", signature: "5000Q", fields: fields, valueOffset: 8192, words: 5000),
            ], size: 65_536
        ).write(to: path)
    }

    @Test("a file that shrinks between the reader's two looks at its size is an error, not a crash")
    func shrinkBetweenFstats() async {
        defer { removeScratch("remap") }
        await #expect(processExitsWith: .success) {
            let path = scratch("remap") + "/f.mmstats"
            try HardeningTests.writeRemapFile(path)
            let reader = try StatsReader(path: path)
            resize(path, 4 * 65_536)  // grown when the reader looks, ...
            ReaderTestHooks.beforeRemap = { resize($0, 57_344) }  // ... shrunk when it maps again
            do {
                _ = try reader.snapshot()
                exit(3)  // 'early' lies past the end of the 56 KiB file: it cannot read
            } catch let error as MmStatsError {
                exit(error.path == path && [.corrupt, .truncated].contains(error.code) ? 0 : 4)
            }
        }
    }

    @Test("a metadata segment validated before a shrinking remap does not trap on a negative size")
    func segmentAfterShrinkingRemap() async {
        defer { removeScratch("segment") }
        await #expect(processExitsWith: .success) {
            let directory = scratch("segment")
            let path = directory + "/f.mmstats"
            // A segment at 16 KiB whose capacity runs past the 64 KiB file: the reader maps the
            // file again to reach it, and the file is 8 KiB by then.
            var file = CraftedFile(entries: [], size: 65_536)
            file.entries = [.init(name: "a", signature: "Q", fields: "value", valueOffset: 8192, words: 1)]
            try file.write(to: path)
            let fd = open(path, O_RDWR | O_CLOEXEC)
            var chain = [UInt8](repeating: 0, count: 8)
            CraftedFile.put(&chain, 0, 16_384, 8)
            _ = chain.withUnsafeBytes { pwrite(fd, $0.baseAddress, 8, 256 + 24) }  // next = 16 KiB
            var segment = [UInt8](repeating: 0, count: 32)
            segment.replaceSubrange(0..<4, with: Array("MSEG".utf8))
            CraftedFile.put(&segment, 8, 100_000, 8)  // capacity past the end
            _ = segment.withUnsafeBytes { pwrite(fd, $0.baseAddress, 32, 16_384) }
            close(fd)
            let reader = try StatsReader(path: path)
            resize(path, 4 * 65_536)
            ReaderTestHooks.beforeRemap = { resize($0, 8192) }
            do {
                _ = try reader.snapshot()
                exit(3)
            } catch let error as MmStatsError {
                exit(error.path == path && [.corrupt, .truncated].contains(error.code) ? 0 : 4)
            }
        }
    }

    @Test("a file shrunk and grown back while many readers open it never crashes them")
    func flappingFile() throws {
        let directory = TemporaryDirectory("flap")
        let path = directory.path + "/f.mmstats"
        try Self.writeRemapFile(path)
        let stop = Atomic<Bool>(false)
        let stopped = DispatchSemaphore(value: 0)
        let flapper = Thread {
            while !stop.load(ordering: .relaxed) {
                for size in [65_536, 4 * 65_536, 57_344] { resize(path, size) }
            }
            stopped.signal()
        }
        flapper.start()
        defer {
            stop.store(true, ordering: .relaxed)
            stopped.wait()
        }
        var outcomes = 0
        for _ in 0..<3000 {
            do {
                _ = try StatsReader(path: path).snapshot()
            } catch {
                outcomes += error.path == path ? 1 : 0
            }
        }
        #expect(outcomes > 0, "every read failed with an error naming the file, or succeeded")
    }

    // MARK: Memory

    @Test("a sparse file whose records claim a gigabyte is refused within the value budget")
    func sparseFile() async {
        defer { removeScratch("sparse") }
        await #expect(processExitsWith: .success) {
            let path = scratch("sparse") + "/f.mmstats"
            // 16,384 strings of 64 KiB side by side: no overlap, the whole (sparse) GiB claimed.
            let entries = (0..<16_384).map { i in
                CraftedFile.Entry(
                    kind: "label", name: "s\(i)", signature: "65535s", fields: "t", valueOffset: (4 << 20) + (i << 16),
                    words: 8192)
            }
            try CraftedFile(entries: entries, size: (1 << 30) + (4 << 20)).write(to: path)
            // Room for the mapping (address space, not memory) and 512 MiB more.
            limitAddressSpace(extra: (1 << 30) + (4 << 20) + (512 << 20))
            do {
                _ = try StatsReader(path: path).snapshot()
                exit(3)
            } catch let error as MmStatsError {
                exit(error.code == .overLimit && error.reason.contains("maximumValueBytes") ? 0 : 4)
            }
        }
    }

    @Test("descriptors of 65,535 components each are refused within the component budget")
    func wideDescriptors() async {
        defer { removeScratch("wide") }
        await #expect(processExitsWith: .success) {
            let path = scratch("wide") + "/f.mmstats"
            // Repeated (empty) field names make each metric unreadable, so none of them is bounded
            // by the file size; all point at one record.
            let fields = String(repeating: ",", count: 65_534)
            let entries = (0..<200).map { i in
                CraftedFile.Entry(
                    kind: "wide", name: "w\(i)", signature: "65535Q", fields: fields, valueOffset: 1 << 24,
                    words: 65_535)
            }
            try CraftedFile(entries: entries, size: (1 << 24) + (1 << 20)).write(to: path)
            limitAddressSpace(extra: 512 << 20)
            do {
                _ = try StatsReader(path: path).snapshot()
                exit(3)
            } catch let error as MmStatsError {
                exit(error.code == .overLimit && error.reason.contains("maximumComponents") ? 0 : 4)
            }
        }
    }

    @Test("a v1 file of millions of tiny fields is refused within the field budget")
    func manyV1Fields() async {
        defer { removeScratch("v1") }
        await #expect(processExitsWith: .success) {
            let path = scratch("v1") + "/f.mmstats"
            // Each field: label length 1, label, type length 1, 'B', buffer byte 0xFF, one byte.
            var bytes: [UInt8] = [1]
            let field: [UInt8] = [1, 0, UInt8(ascii: "x"), 1, 0, UInt8(ascii: "B"), 0xFF, 7]
            for _ in 0..<1_000_000 { bytes += field }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            limitAddressSpace(extra: 512 << 20)
            do {
                _ = try StatsReader(path: path).snapshot()
                exit(3)
            } catch let error as MmStatsError {
                exit(error.code == .overLimit && error.reason.contains("maximumV1Fields") ? 0 : 4)
            }
        }
    }

    @Test("limits are the caller's: a lower budget refuses what the default reads")
    func customLimits() throws {
        let directory = TemporaryDirectory("limits")
        let writer = try StatsWriter(directory.options())
        for i in 0..<10 { try writer.counter("c\(i)").increment(by: UInt64(i)) }
        #expect(try StatsReader(path: writer.path).snapshot().count == 10)
        var few = ReaderLimits()
        few.maximumComponents = 5
        #expect {
            _ = try StatsReader(path: writer.path, limits: few).snapshot()
        } throws: { ($0 as? MmStatsError)?.code == .overLimit }
        var small = ReaderLimits()
        small.maximumValueBytes = 40
        #expect {
            _ = try StatsReader(path: writer.path, limits: small).snapshot()
        } throws: { ($0 as? MmStatsError)?.code == .overLimit }
        var metadata = ReaderLimits()
        metadata.maximumMetadataBytes = 64
        #expect {
            _ = try StatsReader(path: writer.path, limits: metadata).snapshot()
        } throws: { ($0 as? MmStatsError)?.code == .overLimit }
    }

    // MARK: Time

    @Test(
        "a file whose writer overtakes every read is reported busy within the time bound",
        .timeLimit(.minutes(1)))
    func overtakenForever() async {
        defer { removeScratch("stall") }
        await #expect(processExitsWith: .success) {
            var options = WriterOptions(application: "app", model: "Stall")
            options.root = scratch("stall")
            options.layout = .pageFlip
            let writer = try StatsWriter(options)
            // 8 MiB of page-flip records: one read attempt copies all of them.
            for i in 0..<128 {
                _ = try writer.record("big\(i)", kind: BigStringKind(), initial: [.string("v\(i)")])
            }
            writer.publish()
            // The writer publishes again during every attempt: no attempt can succeed. Before
            // the time bound, a snapshot retried 100,000 copies of 8 MiB (minutes).
            overtakingWriter = writer
            mmstats_set_attempt_hook { overtakingWriter?.publish() }
            var limits = ReaderLimits()
            limits.readTimeout = .milliseconds(50)
            do {
                _ = try StatsReader(path: writer.path, limits: limits).snapshot()
                exit(3)
            } catch let error as MmStatsError {
                exit(error.code == .busy && error.path == writer.path ? 0 : 4)
            }
        }
    }

    // MARK: Writers

    @Test("a live writer of another PID namespace reads as unknown, and its file is not replaced")
    func otherNamespace() throws {
        let directory = TemporaryDirectory("pidns")
        var options = directory.options()
        options.fileNameTemplate = "fixed.mmstats"
        let first = try StatsWriter(options)
        try first.counter("first").increment()
        // As if the file came from a container: same pid, another namespace.
        let fd = open(first.path, O_RDWR | O_CLOEXEC)
        var other = [UInt8](repeating: 0, count: 8)
        CraftedFile.put(&other, 0, ProcessIdentity.pidNamespace &+ 1, 8)
        _ = other.withUnsafeBytes { pwrite(fd, $0.baseAddress, 8, off_t(Format.Header.pidNamespace)) }
        close(fd)
        #expect(try StatsReader(path: first.path).snapshot().writer.state == .unknown)
        var inode = stat()
        stat(first.path, &inode)
        #expect {
            _ = try StatsWriter(options)
        } throws: { error in
            (error as? MmStatsError)?.reason.contains("another PID namespace") == true
        }
        var after = stat()
        stat(first.path, &after)
        #expect(after.st_ino == inode.st_ino, "the other namespace's file is still at the name")
    }

    @Test("the header records this writer's PID namespace; its own reader sees it live")
    func ownNamespace() throws {
        let directory = TemporaryDirectory("ownns")
        let writer = try StatsWriter(directory.options())
        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(ProcessIdentity.pidNamespace != 0)
        #expect(snapshot.writer.pidNamespace == ProcessIdentity.pidNamespace)
        #expect(snapshot.writer.state == .live)
    }

    @Test("close() removes only its own file, not one that took its name")
    func closeKeepsAnotherFile() throws {
        let directory = TemporaryDirectory("own-inode")
        let writer = try StatsWriter(directory.options())
        let other = (writer.path as NSString).deletingLastPathComponent + "/other"
        _ = FileManager.default.createFile(atPath: other, contents: Data("someone else".utf8))
        #expect(rename(other, writer.path) == 0)
        writer.close()
        #expect(FileManager.default.contents(atPath: writer.path) == Data("someone else".utf8))
    }

    @Test("a file at the name that cannot be checked (no descriptor left) is not replaced")
    func noDescriptorLeft() async {
        defer { removeScratch("emfile") }
        await #expect(processExitsWith: .success) {
            let root = scratch("emfile")
            var options = WriterOptions(application: "app", model: "Same")
            options.root = root
            options.fileNameTemplate = "fixed.mmstats"
            let first = try StatsWriter(options)
            try first.counter("first").increment()
            var inode = stat()
            stat(first.path, &inode)
            for free in [2, 3, 4] {
                var hogs: [Int32] = []
                while true {
                    let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
                    if fd < 0 { break }
                    hogs.append(fd)
                }
                for _ in 0..<free { close(hogs.removeLast()) }
                let second = try? StatsWriter(options)
                for fd in hogs { close(fd) }
                guard second == nil else { exit(3) }
                var after = stat()
                stat(first.path, &after)
                guard after.st_ino == inode.st_ino else { exit(4) }
            }
            exit(0)
        }
    }

    @Test("a writer killed but not yet reaped (a zombie) reads as dead")
    func zombieWriter() throws {
        let directory = TemporaryDirectory("zombie")
        var output: [Int32] = [0, 0]
        #expect(pipe(&output) == 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_addclose(&actions, output[0])
        let arguments = [Binaries.testWriter, "word", directory.path, "30"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, Binaries.testWriter, &actions, nil, &argv, environ) == 0)
        close(output[1])
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(output[0], &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        close(output[0])
        let path = String(decoding: line, as: UTF8.self)
        #expect(try StatsReader(path: path).snapshot().writer.state == .live)
        kill(pid, SIGKILL)
        // Not reaped yet: wait until /proc says it is a zombie.
        for _ in 0..<1000 {
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") == true
            {
                break
            }
            usleep(1000)
        }
        #expect(try StatsReader(path: path).snapshot().writer.state == .dead)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(try StatsReader(path: path).snapshot().writer.state == .dead)
    }

    @Test("a snapshot that says closed holds the values published before the close")
    func closedFlagBeforeValues() async {
        defer { removeScratch("closed-order") }
        await #expect(processExitsWith: .success) {
            var options = WriterOptions(application: "app", model: "Closing")
            options.root = scratch("closed-order")
            options.removeOnClose = false
            let writer = try StatsWriter(options)
            let counter = try writer.counter("final")
            counter.increment(by: 1)
            let reader = try StatsReader(path: writer.path)
            // The writer finishes and closes right after the reader copied the values.
            ReaderTestHooks.afterValues = { _ in
                ReaderTestHooks.afterValues = nil
                counter.increment(by: 41)
                writer.close()
            }
            let racing = try reader.snapshot()
            guard !racing.writer.closed || racing.value("final") == .uint(42) else { exit(3) }
            let after = try reader.snapshot()
            exit(after.writer.closed && after.value("final") == .uint(42) ? 0 : 4)
        }
    }
}

/// The writer whose publishes overtake the reader in `overtakenForever` (its exit-test child only).
nonisolated(unsafe) var overtakingWriter: StatsWriter?

/// A record of one 64 KiB string.
struct BigStringKind: MetricKind {
    var name: String { "blob" }
    var signature: Signature { Signature([.string(capacity: 65_535)]) }
    var fieldNames: [String] { ["text"] }
    var defaultLayout: LayoutID { .word }
}
