import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Processor
import Testing

/// A kind defined here, in a user's own target: neither the host nor the Python reader knows it.
struct ConnectionPoolKind: MetricKind {
    var name: String { "acme-connection-pool" }
    var signature: Signature { Signature([.uint32, .uint32, .float64, .string(capacity: 12)]) }
    var fieldNames: [String] { ["open", "idle", "wait_seconds", "state"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

@Suite("Kinds read alike in Swift and Python")
struct KindAgreementTests {
    @Test("the scalar kinds and averages: same JSON bytes, exposed fields included")
    func scalarsAndAverages() throws {
        let directory = TemporaryDirectory("kinds")
        let stats = try StatsWriter(directory.options(application: "kinds", model: "Every"))
        try stats.counter("c").increment(by: 7)
        try stats.gauge("g").set(-3)
        try stats.doubleGauge("dg").set(0.5)
        try stats.flag("b").set(true)
        try stats.text("t", capacity: 9).set("héllo wörld")
        try stats.static("s", "v1.2")
        try stats.static("si", 42)
        try stats.static("sd", 2.5)
        let average = try stats.record("a", kind: AverageKind())
        average.update { w in
            w[0] = 3
            w[double: 1] = 1.0
        }
        let moving = try stats.movingAverage("m", window: 3)
        for value in [1.0, 2.0, 4.0, 8.0] { moving.add(value) }
        let (swift, _) = try SpecAgreementTests.bothReaders([stats.path])
        #expect(swift.status == 0, "\(swift.stderr)")
        let file = try #require(
            (try JSONSerialization.jsonObject(with: Data(swift.stdout.utf8)) as? [[String: Any]])?.first)
        let metrics = try #require(file["metrics"] as? [[String: Any]])
        func exposed(_ name: String) -> [String: Any]? {
            metrics.first { $0["name"] as? String == name }?["exposed"] as? [String: Any]
        }
        #expect(exposed("t")?["value"] as? String == "héllo w", "cut before the ö that would not fit whole")
        #expect(exposed("a")?["mean"] as? Double == 1.0 / 3.0)
        #expect(exposed("m")?["mean"] as? Double == 14.0 / 3.0, "the mean of 2, 4 and 8")
        #expect(exposed("b")?["value"] as? Bool == true)
        #expect(exposed("si")?["value"] as? Int == 42)
        for metric in metrics { #expect(metric["exposed"] != nil, "\(metric["name"] ?? "?") has exposed fields") }
    }

    @Test("the processor's results (derived kinds): same JSON bytes; no value is present false, never 0")
    func derivedResults() throws {
        let directory = TemporaryDirectory("derived")
        let results = try ResultsWriter(directory.options(application: "mmstats", model: "processor"))
        defer { results.close() }
        let compiler = ExpressionCompiler()
        let entries = [
            EngineEntry(destinations: ["f"], type: .float, expression: try compiler.compile("1")),
            EngineEntry(destinations: ["c"], type: .counter, expression: try compiler.compile("1")),
            EngineEntry(destinations: ["i"], type: .integer, expression: try compiler.compile("1"), scope: .process),
        ]
        try results.publish(
            EnginePass(
                elapsed: nil,
                results: [
                    EngineResult(destination: "f", instance: .host, value: .double(-0.5)),
                    EngineResult(destination: "c", instance: .host, value: .int(1 << 40)),
                    EngineResult(destination: "i", instance: .process(pid: 3, startTime: 9), value: nil),
                ]), entries: entries)
        let (swift, _) = try SpecAgreementTests.bothReaders([results.path])
        #expect(swift.status == 0, "\(swift.stderr)")
        let file = try #require(
            (try JSONSerialization.jsonObject(with: Data(swift.stdout.utf8)) as? [[String: Any]])?.first)
        let metrics = try #require(file["metrics"] as? [[String: Any]])
        func exposed(_ name: String) -> [String: Any]? {
            metrics.first { $0["name"] as? String == name }?["exposed"] as? [String: Any]
        }
        #expect(exposed("f")?["value"] as? Double == -0.5)
        #expect(exposed("c")?["value"] as? Int == 1 << 40)
        #expect(exposed("i")?["value"] == nil)
        #expect(exposed("i")?["present"] as? Bool == false)
        #expect(metrics.first { $0["name"] as? String == "c" }?["kind"] as? String == "derived-counter")
    }

    @Test("a kind from the user's own target: written, read back, shown raw by slurp and Python")
    func customKind() throws {
        let directory = TemporaryDirectory("custom-kind")
        let stats = try StatsWriter(directory.options(application: "acme", model: "Pool"))
        let pool = try stats.record("db.pool", kind: ConnectionPoolKind(), dimensions: ["db": "orders"])
        pool.set([.uint(12), .uint(5), .double(0.125), .string("healthy")])
        let sample = try #require(
            try StatsReader(path: stats.path).snapshot().metric("db.pool", dimensions: ["db": "orders"]))
        #expect(sample.descriptor.kind == "acme-connection-pool")
        #expect(sample.fields.map(\.name) == ["open", "idle", "wait_seconds", "state"])
        #expect(sample.fields.map(\.value) == [.uint(12), .uint(5), .double(0.125), .string("healthy")])
        // A registry that knows the kind exposes through it; one that does not shows the components.
        #expect(sample.exposedFields(in: PluginRegistry()).map(\.name) == ["open", "idle", "wait_seconds", "state"])

        let (swift, _) = try SpecAgreementTests.bothReaders([stats.path])
        #expect(swift.status == 0)
        #expect(swift.stdout.contains(#""kind": "acme-connection-pool""#))
        #expect(swift.stdout.contains(#""wait_seconds": 0.125"#))
        #expect(!swift.stdout.contains("\"exposed\""), "neither reader knows the kind: raw components only")
        let text = try run(Binaries.mmstats, ["slurp", stats.path])
        #expect(text.stdout.contains("open=12 idle=5 wait_seconds=0.125 state=healthy"), "\(text.stdout)")
    }
}
