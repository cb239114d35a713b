import MmStatsCore
import MmStatsTestSupport
import Processor
import Testing

@Suite("Results file")
struct ResultsWriterTests {
    /// Every metric of the file at `path`: name and dimensions → exposed fields.
    func read(_ path: String) throws -> [String: [String: Value]] {
        let registry = PluginRegistry()
        try registry.register(ProcessorPlugin.plugin)
        var result: [String: [String: Value]] = [:]
        for sample in try StatsReader(path: path).snapshot().metrics {
            let dims = sample.descriptor.dimensions.map(\.description).sorted().joined(separator: ",")
            let key = dims.isEmpty ? sample.descriptor.name : "\(sample.descriptor.name){\(dims)}"
            var fields: [String: Value] = [:]
            for (name, value) in sample.exposedFields(in: registry) { fields[name] = value }
            fields["kind"] = .string(sample.descriptor.kind)
            result[key] = fields
        }
        return result
    }

    @Test("each destination and instance is a record: value and present, the type decides the kind")
    func writesResults() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(dir.options(application: "mmstats", model: "processor"))
        defer { results.close() }
        let entries = [
            try entry("rps", "x"), try entry("total", "x", type: .counter),
            try entry("count", "x", type: .integer, scope: .process),
        ]
        let a = file(10, start: 7)
        let pass = EnginePass(
            elapsed: nil,
            results: [
                EngineResult(destination: "rps", instance: .host, value: .double(2.5)),
                EngineResult(destination: "total", instance: .host, value: nil),
                EngineResult(destination: "count", instance: .process(pid: 10, startTime: 7), value: .int(-3)),
                EngineResult(destination: "count", instance: .thread(a), value: .int(4)),
            ])
        try results.publish(pass, entries: entries)
        let read = try read(results.path)
        #expect(read["rps"]?["value"] == .double(2.5))
        #expect(read["rps"]?["present"] == .bool(true))
        #expect(read["rps"]?["kind"] == .string("derived"))
        #expect(read["total"]?["value"] == nil)  // no value is explicit, not zero
        #expect(read["total"]?["present"] == .bool(false))
        #expect(read["total"]?["kind"] == .string("derived-counter"))
        #expect(read["count{pid=10,start_time=7}"]?["value"] == .int(-3))
        #expect(read["count{file=\(a.path),pid=10,tid=1}"]?["value"] == .int(4))
        #expect(results.recordCount == 4)
    }

    @Test("a destination that loses its value, and an instance that went away, read as not present")
    func absentLater() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(dir.options(application: "mmstats", model: "processor"))
        defer { results.close() }
        let entries = [try entry("n", "x", type: .integer, scope: .process)]
        try results.publish(
            EnginePass(
                elapsed: nil,
                results: [
                    EngineResult(destination: "n", instance: .process(pid: 1, startTime: 0), value: .int(5)),
                    EngineResult(destination: "n", instance: .process(pid: 2, startTime: 0), value: .int(6)),
                ]), entries: entries)
        try results.publish(
            EnginePass(
                elapsed: 1,
                results: [EngineResult(destination: "n", instance: .process(pid: 1, startTime: 0), value: nil)]),
            entries: entries)
        let read = try read(results.path)
        #expect(read["n{pid=1,start_time=0}"]?["present"] == .bool(false))
        #expect(read["n{pid=2,start_time=0}"]?["present"] == .bool(false))
        #expect(read["n{pid=2,start_time=0}"]?["value"] == nil)
    }

    @Test("past the record limit the file starts afresh with only the current instances")
    func boundedUnderChurn() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(
            dir.options(application: "mmstats", model: "processor"), maximumRecords: 10)
        defer { results.close() }
        let entries = [try entry("n", "x", type: .integer, scope: .process)]
        for pid in Int64(1)...50 {
            // Each pass: three processes, one of them new (churning pids).
            let live = [pid, pid + 1, pid + 2]
            try results.publish(
                EnginePass(
                    elapsed: 1,
                    results: live.map {
                        EngineResult(destination: "n", instance: .process(pid: $0, startTime: 0), value: .int($0))
                    }), entries: entries)
            #expect(results.recordCount <= 10)
        }
        let read = try read(results.path)
        for pid in Int64(50)...52 { #expect(read["n{pid=\(pid),start_time=0}"]?["value"] == .int(pid)) }
        #expect(read.count <= 10)
    }

    /// A pass with one result per process in `pids`.
    func processes(_ pids: ClosedRange<Int64>) -> EnginePass {
        EnginePass(
            elapsed: 1,
            results: pids.map {
                EngineResult(destination: "n", instance: .process(pid: $0, startTime: 0), value: .int($0))
            })
    }

    @Test("one pass with more results than the limit keeps the first ones, says so once and never restarts")
    func onePassOverTheLimit() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(
            dir.options(application: "mmstats", model: "processor"), maximumRecords: 10)
        defer { results.close() }
        let entries = [try entry("n", "x", type: .integer, scope: .process)]
        let first = try results.publish(processes(1...15), entries: entries)
        #expect(first.count == 1)
        #expect(first.first?.contains("more than 10 results in one pass") == true)
        for pass in 0..<5 {
            // Other pids each pass, still too many: the file keeps its records, nothing more is said.
            let later = try results.publish(
                processes(Int64(100 * pass + 100)...Int64(100 * pass + 120)), entries: entries)
            #expect(later.isEmpty)
        }
        #expect(results.restarts == 0)
        #expect(results.recordCount == 10)
        let read = try read(results.path)
        #expect(read.count == 10)
        #expect(read["n{pid=1,start_time=0}"]?["present"] == .bool(false))  // not in the last pass
        // A pass that fits again: the file starts afresh with it, and a later excess is reported again.
        #expect(try results.publish(processes(30...32), entries: entries).isEmpty)
        #expect(try results.publish(processes(50...62), entries: entries).count == 1)
        #expect(results.restarts == 1)
    }

    @Test("a record the writer refuses leaves that result out, the others written, and is reported once")
    func refusedRecord() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(dir.options(application: "mmstats", model: "processor"))
        defer { results.close() }
        let entries = [try entry("a", "x", type: .integer), try entry("t", "x", type: .integer, scope: .thread)]
        // A `file` dimension longer than a record may hold.
        let long = EngineFile(path: "/" + String(repeating: "d", count: 70_000), pid: 3, startTime: 0, tid: 3)
        func pass(_ n: Int64) -> EnginePass {
            EnginePass(
                elapsed: 1,
                results: [
                    EngineResult(destination: "t", instance: .thread(long), value: .int(n)),
                    EngineResult(destination: "a", instance: .host, value: .int(n)),
                    EngineResult(destination: "t", instance: .thread(file(4)), value: .int(n)),
                ])
        }
        let first = try results.publish(pass(1), entries: entries)
        #expect(first.count == 1)
        #expect(first.first?.contains("65535") == true)
        #expect(try results.publish(pass(2), entries: entries).isEmpty)
        let read = try read(results.path)
        #expect(read["a"]?["value"] == .int(2))
        #expect(read["t{file=\(file(4).path),pid=4,tid=1}"]?["value"] == .int(2))
        #expect(results.recordCount == 2)
    }

    @Test("a destination whose type changed gets a record of the new kind, not the old one's")
    func typeChange() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(dir.options(application: "mmstats", model: "processor"))
        defer { results.close() }
        let pass = { (value: Number) in
            EnginePass(elapsed: 1, results: [EngineResult(destination: "x", instance: .host, value: value)])
        }
        try results.publish(pass(.int(3)), entries: [try entry("x", "y", type: .integer)])
        #expect(try read(results.path)["x"]?["value"] == .int(3))
        try results.publish(pass(.double(2.5)), entries: [try entry("x", "y", type: .float)])
        let read = try read(results.path)
        #expect(read["x"]?["value"] == .double(2.5))
        #expect(read.count == 1)
    }

    @Test("a double outside Int64's range in an integer record is no value, not zero")
    func outOfRange() throws {
        let dir = TemporaryDirectory("results")
        let results = try ResultsWriter(dir.options(application: "mmstats", model: "processor"))
        defer { results.close() }
        let entries = [try entry("x", "y", type: .integer), try entry("z", "y", type: .counter)]
        try results.publish(
            EnginePass(
                elapsed: 1,
                results: [
                    EngineResult(destination: "x", instance: .host, value: .double(1e300)),
                    EngineResult(destination: "z", instance: .host, value: .double(-2.5)),
                ]), entries: entries)
        let read = try read(results.path)
        #expect(read["x"]?["present"] == .bool(false))
        #expect(read["x"]?["value"] == nil)
        #expect(read["z"]?["value"] == .int(-3))
    }
}
