import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// The Python reader (written from docs/FORMAT.md alone) and `mmstats slurp --json` must
/// print the same content for the same files.
@Suite("Python reader agrees with slurp")
struct PythonReaderTests {
    static let script = Binaries.packageRoot + "/Tools/python/mmstats_reader.py"

    /// JSON parsed into comparable Foundation values (key order ignored, numbers compared exactly).
    static func parse(_ text: String) throws -> NSArray {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? NSArray)
    }

    @Test("same files, same JSON: every layout, every component type, dimensions, v1")
    func sameJSON() throws {
        let directory = TemporaryDirectory("python")
        let web = try StatsWriter(directory.options(application: "web", model: "HTTPStats"))
        try web.counter("index.response", dimensions: ["code": "200", "method": "GET"], unit: "requests", help: "OK")
            .increment(by: 42)
        try web.gauge("queue.depth").set(-3)
        try web.doubleGauge("cpu.load").set(0.1)
        _ = try web.record(
            "all.types", kind: EveryTypeKind(), layout: .doubleBuffer,
            initial: [
                .uint(.max), .int(.min), .uint(7), .int(-7), .uint(65_535), .int(-2), .uint(1), .int(-1), .bool(true),
                .double(0.1), .double(.infinity), .string("tëxt"), .string("ab"),
            ])
        _ = try web.record("all.words", kind: EveryTypeKind(), layout: .word)
        for n in 0..<300 { try web.counter("many.\(n)", dimensions: ["n": String(n)]).increment(by: UInt64(n)) }
        var flipOptions = directory.options(application: "web", model: "Flip")
        flipOptions.layout = .pageFlip
        let flip = try StatsWriter(flipOptions)
        try flip.counter("flipped").increment(by: 9)
        try flip.doubleGauge("ratio").set(.nan)
        flip.publish()
        try flip.counter("flipped").increment()  // not published: both readers must show 9
        let v1 = Binaries.packageRoot + "/../shared/fixtures/v1/queue-v1.mmstats"
        let paths = [web.path, flip.path] + (FileManager.default.fileExists(atPath: v1) ? [v1] : [])

        let swift = try run(Binaries.mmstats, ["slurp", "--json"] + paths)
        let python = try run("/usr/bin/env", ["python3", Self.script, "--json"] + paths)
        #expect(swift.status == 0, "\(swift.stderr)")
        #expect(python.status == 0, "\(python.stderr)")
        #expect(swift.stdout == python.stdout, "the same bytes (docs/SLURP-JSON.md, the exact text)")
        let swiftFiles = try Self.parse(swift.stdout)
        let pythonFiles = try Self.parse(python.stdout)
        #expect(swiftFiles.count == paths.count)
        #expect(pythonFiles.count == paths.count)
        for (s, p) in zip(swiftFiles, pythonFiles) {
            let sFile = try #require(s as? NSDictionary)
            let pFile = try #require(p as? NSDictionary)
            #expect(sFile == pFile, "\(sFile["path"] ?? "?") differs")
            if sFile != pFile, let sm = sFile["metrics"] as? [NSDictionary],
                let pm = pFile["metrics"] as? [NSDictionary]
            {
                for (a, b) in zip(sm, pm) where a != b { Issue.record("swift \(a)\npython \(b)") }
            }
        }
        let flipMetrics = try #require((swiftFiles[1] as? NSDictionary)?["metrics"] as? [NSDictionary])
        #expect(flipMetrics[0]["value"] as? Int == 9)
        #expect(flipMetrics[1]["value"] as? String == "nan")
    }

    @Test("both readers reject the same corrupt file and name it")
    func sameErrors() throws {
        let directory = TemporaryDirectory("python-bad")
        let bad = directory.path + "/bad.mmstats"
        var bytes = [UInt8](repeating: 0, count: 4096)
        bytes[0] = 2
        bytes.replaceSubrange(1..<8, with: Array("MMSTATS".utf8))
        bytes.replaceSubrange(8..<12, with: [0x0D, 0x0C, 0x0B, 0x0A])
        bytes[12] = 0  // header size 0: invalid
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        let swift = try run(Binaries.mmstats, ["slurp", "--json", bad])
        let python = try run("/usr/bin/env", ["python3", Self.script, "--json", bad])
        #expect(swift.status == 1)
        #expect(python.status == 1)
        #expect(swift.stderr.contains("mmstats: \(bad): "))
        #expect(python.stderr.contains("mmstats: \(bad): "))
        #expect(try Self.parse(swift.stdout).count == 0)
        #expect(try Self.parse(python.stdout).count == 0)
    }
}

/// Every component type (the same signature as the core's round-trip tests).
struct EveryTypeKind: MetricKind {
    var name: String { "everything" }
    var signature: Signature { (try? Signature("QqIiHhBb?fd16s3s")) ?? Signature([]) }
    var fieldNames: [String] { ["Q", "q", "I", "i", "H", "h", "B", "b", "bool", "f", "d", "text", "short"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

@Suite("Python reader on a growing file")
struct PythonGrowthTests {
    @Test("the Python reader reads a file that a writer process keeps growing")
    func growing() throws {
        let directory = TemporaryDirectory("python-grow")
        let writer = try WriterProcess(mode: "grow-paced", root: directory.path, seconds: 120)
        defer { writer.kill() }
        var counts: [Int] = []
        for _ in 0..<10 {
            let result = try run("/usr/bin/env", ["python3", PythonReaderTests.script, "--json", writer.path])
            #expect(result.status == 0, "\(result.stderr)")
            let files = try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            let metrics = try #require(files.first?["metrics"] as? [[String: Any]])
            for (index, metric) in metrics.enumerated() where metric["value"] as? Int != index {
                Issue.record("metric \(index) holds \(metric["value"] ?? "nothing")")
                break
            }
            counts.append(metrics.count)
        }
        #expect(counts == counts.sorted())
        #expect(Set(counts).count > 1, "the file should have grown between reads: \(counts)")
    }
}
