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
}
