import Foundation
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

@Suite("Growth while reading", .serialized)
struct GrowthTests {
    /// Checks one snapshot of a growing file: every metric grow.N holds N and carries n=N.
    static func check(_ snapshot: Snapshot) -> String? {
        for (index, sample) in snapshot.metrics.enumerated() {
            guard sample.descriptor.name == "grow.\(index)" else {
                return "metric \(index) is named \(sample.descriptor.name)"
            }
            guard sample.value == .int(Int64(index)), sample.descriptor.dimensions == [Dimension("n", String(index))]
            else {
                return "metric \(index) holds \(String(describing: sample.value)) \(sample.descriptor.dimensions)"
            }
        }
        return nil
    }

    @Test("metrics added by a writer process appear to a reader that keeps its mapping")
    func growingWriterProcess() throws {
        let directory = TemporaryDirectory("grow")
        let writer = try WriterProcess(mode: "grow", root: directory.path, seconds: 120)
        defer { writer.kill() }
        let reader = try StatsReader(path: writer.path)
        var counts: [Int] = []
        var generations: [UInt64] = []
        var problem: String? = nil
        while counts.last ?? 0 < 20_000 {
            let snapshot = try reader.snapshot()
            counts.append(snapshot.count)
            generations.append(snapshot.generation)
            if let found = Self.check(snapshot) {
                problem = found
                break
            }
            if counts.count > 200_000 { break }
        }
        #expect(problem == nil)
        #expect(counts.last == 20_000)
        #expect(counts == counts.sorted(), "the metric count never goes down")
        #expect(generations == generations.sorted(), "the generation never goes down")
        #expect(Set(counts).count > 3, "the reader should have seen the file at several sizes")
        // 20,000 descriptors need many metadata segments and a file far larger than at first.
        var info = stat()
        #expect(stat(writer.path, &info) == 0)
        #expect(info.st_size >= 1 << 20)
    }

    @Test("a reader thread follows metrics added at run time, values untouched by growth")
    func growingInProcess() throws {
        let directory = TemporaryDirectory("grow-threads")
        let writer = try StatsWriter(directory.options())
        let first = try writer.counter("first")
        first.increment(by: 7)
        let reader = try StatsReader(path: writer.path)
        #expect(try reader.snapshot().count == 1)
        let initialGeneration = try reader.snapshot().generation
        var handles: [Gauge] = []
        for n in 0..<3000 {
            let gauge = try writer.gauge("added.\(n)")
            gauge.set(Int64(n) * 3)
            handles.append(gauge)
            if n % 500 == 0 {
                let snapshot = try reader.snapshot()
                #expect(snapshot.count == n + 2)
                #expect(snapshot.value("first") == .uint(7))
            }
        }
        first.increment()
        let snapshot = try reader.snapshot()
        #expect(snapshot.count == 3001)
        #expect(snapshot.generation > initialGeneration)
        #expect(snapshot.value("first") == .uint(8))
        #expect(snapshot.value("added.2999") == .int(8997))
        // Handles made before the file grew still write to the same place.
        handles[0].set(-1)
        #expect(try reader.snapshot().value("added.0") == .int(-1))
    }

    @Test("a file that cannot grow past its maximum size gives a clear error and keeps its metrics")
    func full() throws {
        let directory = TemporaryDirectory("full")
        var options = directory.options()
        options.maximumSize = 8 * 4096
        let writer = try StatsWriter(options)
        var made = 0
        var failure: MmStatsError? = nil
        do {
            for n in 0..<10_000 {
                _ = try writer.counter("c.\(n)")
                made += 1
            }
        } catch {
            failure = error
        }
        let error = try #require(failure)
        #expect(error.code == .full)
        #expect(error.path == writer.path)
        #expect(error.description.contains("maximum size"))
        #expect(made > 10)
        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(snapshot.count == made)
    }
}

/// A 64 KiB tmpfs mounted for one test (needs root; the test is skipped elsewhere).
final class TinyFilesystem {
    let path: String

    /// Whether this machine lets us mount one (checked once).
    static let available: Bool = {
        guard getuid() == 0, let probe = TinyFilesystem() else { return false }
        _ = probe
        return true
    }()

    init?() {
        path = "/tmp/mmstats-tinyfs-\(getpid())-\(UUID().uuidString.prefix(8))"
        guard mkdir(path, 0o700) == 0 else { return nil }
        guard let result = try? run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", path]),
            result.status == 0
        else {
            rmdir(path)
            return nil
        }
    }

    deinit {
        _ = try? run("/bin/umount", [path])
        rmdir(path)
    }
}

@Suite("Full disk")
struct FullDiskTests {
    @Test(
        "a full filesystem is a clear error when the file grows, and what was written stays readable",
        .enabled(if: TinyFilesystem.available, "needs root to mount a small tmpfs"))
    func fullFilesystem() throws {
        let filesystem = try #require(TinyFilesystem())
        var options = WriterOptions(application: "app", model: "Model")
        options.root = filesystem.path + "/stats"
        let writer = try StatsWriter(options)
        var made: [Counter] = []
        var failure: MmStatsError? = nil
        do {
            for n in 0..<100_000 {
                let counter = try writer.counter("filler.\(n)", help: String(repeating: "x", count: 200))
                counter.increment(by: UInt64(n))
                made.append(counter)
            }
        } catch {
            failure = error
        }
        let error = try #require(failure, "64 KiB cannot hold 100,000 metrics")
        #expect(error.code == .full)
        #expect(error.path == writer.path)
        #expect(error.description.contains("No space left on device"))
        // Everything registered before the failure is intact and readable; the writer still works.
        made.last?.increment()
        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(snapshot.count == made.count)
        #expect(snapshot.value("filler.\(made.count - 1)") == .uint(UInt64(made.count)))
        #expect(snapshot.value("filler.1") == .uint(1))
    }

    @Test(
        "on a nearly full filesystem the file still grows by what it needs when doubling would not fit",
        .enabled(if: TinyFilesystem.available, "needs root to mount a small tmpfs"))
    func nearlyFullFilesystem() throws {
        let filesystem = try #require(TinyFilesystem())
        var options = WriterOptions(application: "app", model: "Model")
        options.root = filesystem.path + "/stats"
        let writer = try StatsWriter(options)
        let page = 4096
        #expect(fileSize(writer.path) == 4 * page)
        // Fill the filesystem but for 3 pages: doubling the 4-page file needs 4 more.
        var info = statvfs()
        #expect(statvfs(filesystem.path, &info) == 0)
        let free = Int(info.f_bavail) * Int(info.f_frsize)
        let filler = open(filesystem.path + "/filler", O_CREAT | O_WRONLY, 0o600)
        #expect(filler >= 0)
        defer { close(filler) }
        #expect(posix_fallocate(filler, 0, off_t(free - 3 * page)) == 0)

        // Records of 4008 bytes from offset 8192: the third needs the file to reach 5 pages,
        // the fourth 6, the fifth 7; the sixth would need an 8th page and there is none.
        var records: [Record] = []
        var failure: MmStatsError? = nil
        do {
            for n in 0..<6 {
                records.append(try writer.record("block.\(n)", kind: BlockKind(), initial: [.string("b\(n)")]))
            }
        } catch {
            failure = error
        }
        #expect(records.count == 5, "\(String(describing: failure))")
        #expect(fileSize(writer.path) == 7 * page)
        #expect(failure?.code == .full)
        #expect(failure?.description.contains("No space left on device") == true, "\(String(describing: failure))")
        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(snapshot.count == records.count)
        #expect(snapshot.value("block.4") == .string("b4"))
    }

    private func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : -1
    }
}

/// A 2000-byte string in a double buffer: (1 + 2 × 250) words, 4008 bytes a record.
struct BlockKind: MetricKind {
    var name: String { "block" }
    var signature: Signature { Signature([.string(capacity: 2000)]) }
    var fieldNames: [String] { ["text"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}
