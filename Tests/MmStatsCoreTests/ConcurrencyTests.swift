import Foundation
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

/// What readers saw.
struct ReadTally: Sendable {
    var reads = 0
    var torn = 0
    var distinct = 0
    var firstProblem: String?

    mutating func add(_ other: ReadTally) {
        reads += other.reads
        torn += other.torn
        distinct += other.distinct
        firstProblem = firstProblem ?? other.firstProblem
    }
}

/// The invariants the writers keep, per layout. Returns nil when the read is consistent,
/// else what is wrong; `progress` is a value that grows with the writer's updates.
enum Invariant {
    static func check(_ mode: String, _ snapshot: Snapshot) -> (problem: String?, progress: UInt64) {
        func word(_ value: Value?) -> UInt64 {
            if case .uint(let v) = value { return v }
            return 0
        }
        switch mode {
        case "word":
            guard let record = snapshot.metric("torture.word") else { return ("metric missing", 0) }
            let words = record.fields.map { word($0.value) }
            for w in words where w >> 32 != w & 0xFFFF_FFFF {
                return ("torn word 0x\(String(w, radix: 16))", 0)
            }
            return (nil, words.first ?? 0)
        case "double-buffer":
            guard let record = snapshot.metric("torture.quad") else { return ("metric missing", 0) }
            let v = record.fields.map { word($0.value) }
            guard v.count == 4, v[1] == 2 &* v[0], v[2] == 3 &* v[0], v[3] == v[0] ^ 0x5555_5555_5555_5555 else {
                return ("torn record \(v)", 0)
            }
            return (nil, v[0])
        default:  // page-flip
            guard snapshot.count == 3 else { return ("\(snapshot.count) metrics instead of 3", 0) }
            let x = word(snapshot.value("torture.x"))
            let y = word(snapshot.value("torture.y"))
            let z = word(snapshot.value("torture.z"))
            guard y == 2 &* x, z == 3 &* x else { return ("inconsistent page x=\(x) y=\(y) z=\(z)", 0) }
            return (nil, x)
        }
    }

    /// Reads `path` `count` times, checking every read; values must also never go backwards.
    static func hammer(_ mode: String, path: String, count: Int) -> ReadTally {
        var tally = ReadTally()
        guard let reader = try? StatsReader(path: path) else {
            tally.firstProblem = "cannot open \(path)"
            return tally
        }
        var last: UInt64 = 0
        for _ in 0..<count {
            do {
                let (problem, progress) = check(mode, try reader.snapshot())
                tally.reads += 1
                if let problem {
                    tally.torn += 1
                    tally.firstProblem = tally.firstProblem ?? problem
                } else if progress < last {
                    tally.torn += 1
                    tally.firstProblem = tally.firstProblem ?? "went backwards: \(progress) after \(last)"
                } else if progress != last {
                    tally.distinct += 1
                    last = progress
                }
            } catch {
                tally.firstProblem = tally.firstProblem ?? "\(error)"
                return tally
            }
        }
        return tally
    }
}

@Suite("Concurrent readers and writers", .serialized)
struct ConcurrencyTests {
    static let modes = Torture.modes

    @Test("readers in other threads never see a torn record", arguments: modes)
    func inProcess(mode: String) throws {
        let directory = TemporaryDirectory("threads")
        let path = Mutex<String?>(nil)
        let stop = Atomic<Bool>(false)
        let written = Atomic<UInt64>(0)
        let root = directory.path
        let writerDone = DispatchSemaphore(value: 0)
        let writer = Thread {
            defer { writerDone.signal() }
            let options = Torture.options(mode: mode, root: root, application: "threads")
            guard let stats = try? StatsWriter(options), let update = try? Torture.writer(for: mode, on: stats) else {
                return
            }
            path.withLock { $0 = stats.path }
            var n: UInt64 = 0
            while !stop.load(ordering: .relaxed) {
                n &+= 1
                update(n)
            }
            written.store(n, ordering: .relaxed)
            withExtendedLifetime(stats) {}
        }
        writer.start()
        var file: String? = nil
        for _ in 0..<2000 where file == nil {
            file = path.withLock { $0 }
            if file == nil { usleep(1000) }
        }
        let target = try #require(file, "the writer thread did not start")
        let tallies = Mutex(ReadTally())
        onThreads(2) { _ in
            let tally = Invariant.hammer(mode, path: target, count: 150_000)
            tallies.withLock { $0.add(tally) }
        }
        stop.store(true, ordering: .relaxed)
        writerDone.wait()
        let tally = tallies.withLock { $0 }
        #expect(tally.firstProblem == nil)
        #expect(tally.torn == 0)
        #expect(tally.reads == 300_000)
        // The check means something only if the writer really changed the values under the readers.
        #expect(tally.distinct > 100, "readers saw only \(tally.distinct) distinct values")
        #expect(written.load(ordering: .relaxed) > 1000)
    }

    @Test("readers in another process never see a torn record", arguments: modes)
    func crossProcess(mode: String) throws {
        let directory = TemporaryDirectory("procs")
        let writer = try WriterProcess(mode: mode, root: directory.path, seconds: 120)
        defer { writer.kill() }
        let tallies = Mutex(ReadTally())
        onThreads(2) { _ in
            let tally = Invariant.hammer(mode, path: writer.path, count: 500_000)
            tallies.withLock { $0.add(tally) }
        }
        let tally = tallies.withLock { $0 }
        #expect(tally.firstProblem == nil)
        #expect(tally.torn == 0)
        #expect(tally.reads == 1_000_000)
        #expect(tally.distinct > 100, "readers saw only \(tally.distinct) distinct values")
        #expect(writer.process.isRunning, "the writer must still be writing while we read")
    }

    @Test("a writer killed mid-update leaves a readable file and reads as dead")
    func killedWriter() throws {
        let directory = TemporaryDirectory("killed")
        let writer = try WriterProcess(mode: "double-buffer", root: directory.path, seconds: 120)
        let reader = try StatsReader(path: writer.path)
        #expect(try reader.snapshot().writer.state == .live)
        usleep(50_000)
        writer.kill()
        let snapshot = try reader.snapshot()
        #expect(Invariant.check("double-buffer", snapshot).problem == nil)
        #expect(snapshot.writer.state == .dead)
        #expect(FileManager.default.fileExists(atPath: writer.path))
    }
}
