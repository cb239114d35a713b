import Foundation
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

@Suite("Per-thread writers")
struct ThreadStatsTests {
    @Test("each thread gets its own file, reused within the thread and removed when the thread exits")
    func threadFiles() throws {
        let directory = TemporaryDirectory("thread-stats")
        let options = directory.options(application: "pool", model: "Worker")
        let paths = Mutex<[Int: String]>([:])
        let again = Mutex<[Int: Bool]>([:])
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        for index in 0..<3 {
            let thread = Thread {
                defer { finished.signal() }
                guard let stats = try? ThreadStats.writer(options), let done = try? stats.counter("jobs.done") else {
                    started.signal()
                    return
                }
                done.increment(by: UInt64(index + 1))
                let same = (try? ThreadStats.writer(options)) === stats
                paths.withLock { $0[index] = stats.path }
                again.withLock { $0[index] = same }
                started.signal()
                release.wait()  // keep the thread (and its file) alive until the reader has looked
            }
            thread.start()
        }
        for _ in 0..<3 { started.wait() }
        let files = paths.withLock { $0 }
        #expect(files.count == 3)
        #expect(Set(files.values).count == 3, "one file per thread")
        #expect(again.withLock { $0 }.values.allSatisfy { $0 }, "the same writer within a thread")
        for (index, path) in files {
            let snapshot = try StatsReader(path: path).snapshot()
            #expect(snapshot.value("jobs.done") == .uint(UInt64(index + 1)))
            #expect(snapshot.writer.tid != Int64(getpid()) || index < 0)  // a worker thread's id, not the main one's
        }
        for _ in 0..<3 { release.signal() }
        for _ in 0..<3 { finished.wait() }
        // The key's destructor runs as each thread exits, just after its block returns.
        var remaining = Array(files.values)
        for _ in 0..<500 where !remaining.isEmpty {
            remaining.removeAll { !FileManager.default.fileExists(atPath: $0) }
            if !remaining.isEmpty { usleep(10_000) }
        }
        #expect(remaining.isEmpty, "files of exited threads must be removed: \(remaining)")
    }

    @Test("closing a writer removes its file; its handles stay safe to use")
    func closeRemoves() throws {
        let directory = TemporaryDirectory("close")
        let writer = try StatsWriter(directory.options())
        let counter = try writer.counter("c")
        #expect(FileManager.default.fileExists(atPath: writer.path))
        writer.close()
        #expect(!FileManager.default.fileExists(atPath: writer.path))
        counter.increment()
        #expect(counter.value == 1)
        #expect(throws: MmStatsError.self) { _ = try StatsReader(path: writer.path) }
    }
}

@Suite("Stale files")
struct StaleFileTests {
    static func fixedOptions(_ directory: TemporaryDirectory) -> WriterOptions {
        var options = directory.options()
        options.fileNameTemplate = "fixed.mmstats"
        return options
    }

    @Test("a file left by a closed or dead writer is replaced; a live writer's file is refused")
    func replacement() throws {
        let directory = TemporaryDirectory("stale")
        var options = Self.fixedOptions(directory)
        options.removeOnClose = false
        let first = try StatsWriter(options)
        try first.counter("old").increment()
        first.close()
        let path = first.path
        #expect(FileManager.default.fileExists(atPath: path))

        // Closed writer's file: replaced.
        let second = try StatsWriter(options)
        try second.counter("new").increment(by: 2)
        var snapshot = try StatsReader(path: path).snapshot()
        #expect(snapshot.value("new") == .uint(2))
        #expect(snapshot.value("old") == nil)

        // A live writer holds the name: refused, and its file is untouched.
        #expect {
            _ = try StatsWriter(options)
        } throws: { error in
            (error as? MmStatsError)?.reason.contains("live writer") == true
        }
        #expect(try StatsReader(path: path).snapshot().value("new") == .uint(2))

        // A dead writer's file (the same bytes with a pid no process has): replaced.
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        second.close()
        withUnsafeBytes(of: UInt64(Int32.max - 7)) { bytes.replaceSubrange(64..<72, with: $0) }
        bytes[20] = 0  // not closed
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try StatsReader(path: path).snapshot().writer.state == .dead)
        let third = try StatsWriter(options)
        try third.counter("third").increment(by: 3)
        snapshot = try StatsReader(path: path).snapshot()
        #expect(snapshot.value("third") == .uint(3))
        #expect(snapshot.writer.pid == getpid())

        // Nothing but the real files is left in the directory (no temporary names).
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/app/Model")
        #expect(names == ["fixed.mmstats"])
    }
}
