import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

final class IndexStats: StatsModel {
    let ok = Metric.counter("response_ok", help: "responses sent")
    let errors = Metric.counter("response_error", dimensions: ["code": "500"])
    let hits = Metric.sharedCounter("cache_hits")
    let depth = Metric.gauge("queue_depth")
    let load = Metric.doubleGauge("load")
    let latency = Metric.record("latency", kind: AverageKind())
    let custom = Metric.declare("custom") { writer, name throws(MmStatsError) in
        try writer.group(name).counter("inner")
    }
}

final class DiskStats: StatsModel {
    let reads = Metric.counter("reads")
}

final class ClashingStats: StatsModel {
    let first = Metric.counter("same")
    let second = Metric.gauge("same")
    let third = Metric.counter("after")
}

/// Handles kept in every place a user keeps them (the benchmark measures the same places).
final class Holder {
    let fixed: Counter
    var changing: Counter
    init(_ counter: Counter) {
        fixed = counter
        changing = counter
    }
}

struct ValueHolder {
    var counter: Counter
}

@Suite("Writer APIs")
struct ApiTests {
    static func names(_ path: String) throws -> [String] {
        try StatsReader(path: path).snapshot().metrics.map(\.descriptor.name)
    }

    @Test("a declarative model lands in <root>/<app>/<TypeName>/<pid>-<tid>.mmstats with its prefix")
    func declarative() throws {
        let directory = TemporaryDirectory("api-model")
        let index = try IndexStats.register(application: "web", prefix: "index", options: directory.options())
        let expected = "\(directory.path)/web/IndexStats/\(getpid())-\(ProcessIdentity.currentThreadID).mmstats"
        #expect(index.stats.path == expected)
        #expect(FileManager.default.fileExists(atPath: expected))
        #expect(
            try Self.names(expected) == [
                "index.response_ok", "index.response_error", "index.cache_hits", "index.queue_depth", "index.load",
                "index.latency", "index.custom.inner",
            ])
        index.ok.increment(by: 2)
        index.errors.increment()
        index.hits.increment(by: 3)
        index.depth.set(-4)
        index.load.set(0.5)
        index.latency.update { w in
            w[0] += 1
            w[double: 1] += 2.5
        }
        let snapshot = try StatsReader(path: expected).snapshot()
        #expect(snapshot.value("index.response_ok") == .uint(2))
        #expect(snapshot.value("index.response_error", dimensions: ["code": "500"]) == .uint(1))
        #expect(snapshot.value("index.cache_hits") == .uint(3))
        #expect(snapshot.value("index.queue_depth") == .int(-4))
        #expect(snapshot.value("index.load") == .double(0.5))
        #expect(snapshot.metric("index.response_ok")?.descriptor.help == "responses sent")
        #expect(snapshot.metric("index.latency")?.descriptor.kind == "average")
    }

    @Test("dimensions known only at run time register the same metric as a literal")
    func runtimeDimensions() throws {
        let directory = TemporaryDirectory("api-dimensions")
        let stats = try StatsWriter(directory.options())
        let code = String(200 + 4)
        let dimensions = [Dimension("code", code), Dimension("route", "/")]
        try stats.counter("c", dimensions: dimensions).increment()
        try stats.counter("c", dimensions: ["code": "204", "route": "/"]).increment()
        try stats.sharedCounter("s", dimensions: dimensions).increment(by: 3)
        try stats.gauge("g", dimensions: dimensions).set(-2)
        try stats.doubleGauge("d", dimensions: dimensions).set(0.5)
        try stats.histogram("h", dimensions: dimensions, resolution: 0.5).record(2.0)
        try stats.timer("t", dimensions: dimensions).record(nanoseconds: 7)
        try stats.record("a", kind: AverageKind(), dimensions: dimensions).update { w in w[0] += 1 }
        let snapshot = try StatsReader(path: stats.path).snapshot()
        let expected = ["code": "204", "route": "/"]
        #expect(snapshot.metrics.filter { $0.descriptor.name == "c" }.count == 1)
        #expect(snapshot.value("c", dimensions: expected) == .uint(2))
        #expect(snapshot.value("s", dimensions: expected) == .uint(3))
        #expect(snapshot.value("g", dimensions: expected) == .int(-2))
        #expect(snapshot.value("d", dimensions: expected) == .double(0.5))
        #expect(snapshot.metric("h", dimensions: expected)?.field("max") == .uint(4))
        #expect(snapshot.metric("t", dimensions: expected)?.field("max") == .uint(7))
        #expect(snapshot.metric("a", dimensions: expected)?.field("count") == .uint(1))
    }

    @Test("without a prefix the declared names are used as they are")
    func noPrefix() throws {
        let directory = TemporaryDirectory("api-noprefix")
        let disk = try DiskStats.register(application: "db", options: directory.options())
        #expect(try Self.names(disk.stats.path) == ["reads"])
        #expect(disk.stats.path.hasPrefix("\(directory.path)/db/DiskStats/"))
    }

    @Test("groups name metrics prefix.name, nested groups too, and other kinds plug in")
    func groups() throws {
        let directory = TemporaryDirectory("api-groups")
        let stats = try StatsWriter(directory.options())
        let index = stats.group("index")
        let time = index.group("response_time")
        #expect(index.name("x") == "index.x")
        #expect(time.name("p50") == "index.response_time.p50")
        #expect(StatsGroup(writer: stats, prefix: "").name("top") == "top")
        #expect(index.name("") == "index")
        _ = try index.counter("response_ok")
        _ = try time.gauge("p50")
        _ = try time.doubleGauge("p99")
        _ = try index.sharedCounter("hits", dimensions: ["shard": "a"])
        _ = try index.record("avg", kind: AverageKind())
        _ = try time.metric("mean") { writer, name throws(MmStatsError) in
            try writer.record(name, kind: AverageKind())
        }
        #expect(
            try Self.names(stats.path) == [
                "index.response_ok", "index.response_time.p50", "index.response_time.p99", "index.hits", "index.avg",
                "index.response_time.mean",
            ])
    }

    @Test("several models in one process: one file per model, a second instance of a type gets its own file")
    func severalModels() throws {
        let directory = TemporaryDirectory("api-several")
        let index = try IndexStats.register(application: "web", prefix: "index", options: directory.options())
        let disk = try DiskStats.register(application: "web", options: directory.options())
        let again = try IndexStats.register(application: "web", prefix: "index2", options: directory.options())
        #expect(index.stats.path != again.stats.path)
        #expect(again.stats.path.hasSuffix("-\(ProcessIdentity.currentThreadID)-2.mmstats"))
        #expect(disk.stats.path.contains("/web/DiskStats/"))
        index.ok.increment()
        again.ok.increment(by: 7)
        disk.reads.increment(by: 3)
        #expect(try StatsReader(path: index.stats.path).snapshot().value("index.response_ok") == .uint(1))
        #expect(try StatsReader(path: again.stats.path).snapshot().value("index2.response_ok") == .uint(7))
        #expect(try StatsReader(path: disk.stats.path).snapshot().value("reads") == .uint(3))
        let models = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/web").sorted()
        #expect(models == ["DiskStats", "IndexStats"])
    }

    @Test("a metric added at run time appears to a reader that keeps its mapping")
    func addedAtRunTime() throws {
        let directory = TemporaryDirectory("api-runtime")
        let disk = try DiskStats.register(application: "db", prefix: "disk", options: directory.options())
        let reader = try StatsReader(path: disk.stats.path)
        #expect(try reader.snapshot().metrics.map(\.descriptor.name) == ["disk.reads"])
        // Enough new metrics to need a new metadata segment and a larger file.
        var added: [Counter] = []
        for i in 0..<300 { added.append(try disk.group.counter("late.\(i)")) }
        added[299].increment(by: 9)
        let snapshot = try reader.snapshot()
        #expect(snapshot.metrics.count == 301)
        #expect(snapshot.value("disk.late.299") == .uint(9))
    }

    @Test("a declaration that fails makes register throw; a model made without register records nowhere")
    func failures() throws {
        let directory = TemporaryDirectory("api-failure")
        #expect(throws: MmStatsError.self) {
            try ClashingStats.register(application: "bad", options: directory.options())
        }
        let loose = DiskStats()
        loose.reads.increment(by: 2)
        #expect(loose.reads.value == 2)
        #expect(!loose.stats.path.hasPrefix(directory.path))
        #expect(!FileManager.default.fileExists(atPath: loose.stats.path))
    }

    @Test("a handle works the same from a local, a let or var property, a struct and a model")
    func everyPlace() throws {
        let directory = TemporaryDirectory("api-places")
        let index = try IndexStats.register(application: "web", options: directory.options())
        let holder = Holder(index.ok)
        var value = ValueHolder(counter: index.ok)
        let local = index.ok
        local.increment()
        holder.fixed.increment()
        holder.changing.increment()
        value.counter.increment()
        index.ok.increment()
        value = ValueHolder(counter: index.ok)
        #expect(value.counter.value == 5)
        #expect(try StatsReader(path: index.stats.path).snapshot().value("response_ok") == .uint(5))
    }
}
