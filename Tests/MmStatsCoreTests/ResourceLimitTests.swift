import Foundation
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

/// A record of one long string: 1,024 words.
struct BlobKind: MetricKind {
    var name: String { "blob" }
    var signature: Signature { Signature([.string(capacity: 8192)]) }
    var fieldNames: [String] { ["text"] }
    var defaultLayout: LayoutID { .word }
}

@Suite("Resource limits")
struct ResourceLimitTests {
    @Test("descriptors that all point at one record are rejected before the reader allocates for them")
    func overlappingRecords() throws {
        let directory = TemporaryDirectory("overlap")
        let writer = try StatsWriter(directory.options())
        for n in 0..<60 { _ = try writer.record("blob.\(n)", kind: BlobKind(), initial: [.string("x\(n)")]) }
        let first = try #require(try StatsReader(path: writer.path).snapshot().metric("blob.0")?.descriptor)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: writer.path)))
        // Point every descriptor of segment 0 at blob.0's record, then cut the file after it.
        var cursor = Format.headerSize + Format.segmentHeaderSize
        for _ in 0..<60 {
            withUnsafeBytes(of: UInt64(first.valueOffset)) { bytes.replaceSubrange(cursor + 8..<cursor + 16, with: $0) }
            cursor += Int(bytes[cursor]) | Int(bytes[cursor + 1]) << 8
        }
        let end = first.valueOffset + 8192
        let path = directory.path + "/overlap.mmstats"
        try Data(bytes.prefix(end)).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try StatsReader(path: path).snapshot()
        } throws: { error in
            let error = error as? MmStatsError
            return error?.code == .corrupt && error?.path == path && error?.reason.contains("overlap") == true
        }
    }

    @Test("a writer refuses options and kinds that would make its file unreadable")
    func writerValidation() throws {
        let directory = TemporaryDirectory("validate")
        var tiny = directory.options()
        tiny.maximumSize = 8192
        #expect(throws: MmStatsError.self) { _ = try StatsWriter(tiny) }
        var odd = directory.options()
        odd.maximumSize = 100_000
        #expect(throws: MmStatsError.self) { _ = try StatsWriter(odd) }
        let writer = try StatsWriter(directory.options())
        for kind in [
            RawKind(Signature([]), []), RawKind(Signature([.string(capacity: 0)]), ["s"]),
            RawKind(Signature([.string(capacity: 70_000)]), ["s"]),
            RawKind(Signature([.uint64, .uint64]), ["same", "same"]),
            RawKind(Signature([.uint64]), [String(repeating: "f", count: 70_000)]),
        ] {
            #expect(throws: MmStatsError.self, "\(kind.signature)") { _ = try writer.record("bad", kind: kind) }
        }
        #expect(try StatsReader(path: writer.path).snapshot().count == 0, "nothing was registered")
    }

    @Test("a scalar handle is refused for a metric registered in the double-buffer layout")
    func scalarOnDoubleBuffer() throws {
        let directory = TemporaryDirectory("scalar-db")
        let writer = try StatsWriter(directory.options())
        _ = try writer.record("x", kind: CounterKind(), layout: .doubleBuffer)
        #expect(throws: MmStatsError.self) { _ = try writer.counter("x") }
    }

    @Test("registering on a closed writer is refused")
    func closedWriter() throws {
        let directory = TemporaryDirectory("closed")
        let writer = try StatsWriter(directory.options())
        writer.close()
        #expect(throws: MmStatsError.self) { _ = try writer.counter("late") }
    }
}

/// A kind with any signature and field names, for validation tests.
struct RawKind: MetricKind {
    let signature: Signature
    let fieldNames: [String]
    init(_ signature: Signature, _ fieldNames: [String]) {
        self.signature = signature
        self.fieldNames = fieldNames
    }
    var name: String { "raw" }
    var defaultLayout: LayoutID { .word }
}

@Suite("Fault guard")
struct FaultGuardTests {
    @Test("a thread that blocks SIGBUS still gets an error, not a crash, for a file truncated under it")
    func blockedSignal() throws {
        let directory = TemporaryDirectory("sigbus-blocked")
        let writer = try StatsWriter(directory.options())
        for n in 0..<200 { try writer.counter("c.\(n)").increment(by: UInt64(n)) }
        // Truncate a copy: the live writer's own mapping would fault on its next store.
        let path = directory.path + "/copy.mmstats"
        try FileManager.default.copyItem(atPath: writer.path, toPath: path)
        let outcome = Mutex<String>("not run")
        onThreads(1) { _ in
            var block = sigset_t()
            sigemptyset(&block)
            sigaddset(&block, SIGBUS)
            pthread_sigmask(SIG_BLOCK, &block, nil)
            do {
                let reader = try StatsReader(path: path)
                guard try reader.snapshot().value("c.199") == .uint(199) else {
                    outcome.withLock { $0 = "wrong value before truncation" }
                    return
                }
                truncate(path, 0)
                _ = try reader.snapshot()
                outcome.withLock { $0 = "read a truncated file without an error" }
            } catch let error as MmStatsError {
                outcome.withLock { $0 = "\(error.code)" }
            } catch {
                outcome.withLock { $0 = "unexpected \(error)" }
            }
            var current = sigset_t()
            pthread_sigmask(SIG_SETMASK, nil, &current)
            if sigismember(&current, SIGBUS) != 1 { outcome.withLock { $0 += " (mask not restored)" } }
        }
        let result = outcome.withLock { $0 }
        #expect(result == "truncated" || result == "corrupt", "\(result)")
    }
}

@Suite("Closing page-flip files")
struct ClosePublishTests {
    @Test("closing a page-flip writer publishes its last values before marking the file closed")
    func closePublishes() throws {
        let directory = TemporaryDirectory("close-publish")
        var options = directory.options()
        options.layout = .pageFlip
        options.removeOnClose = false
        let writer = try StatsWriter(options)
        let counter = try writer.counter("done")
        counter.increment(by: 4)
        writer.publish()
        counter.increment(by: 3)  // not published yet
        #expect(try StatsReader(path: writer.path).snapshot().value("done") == .uint(4))
        writer.close()
        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(snapshot.writer.state == .closed)
        #expect(snapshot.value("done") == .uint(7))
    }
}
