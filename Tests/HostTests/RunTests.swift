import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Testing

/// A background `mmstats` process whose stdout lines can be read as they come.
final class HostProcess: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private var buffer = Data()

    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.mmstats)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The next line of stdout, or nil at its end.
    func line() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer = Data(buffer[(newline + 1)...])
                return line
            }
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }

    /// The next pass printed by `--json`, as an object.
    func pass() -> [String: Any]? {
        guard let line = line() else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the exit; returns the status and stderr.
    func finish() -> (status: Int32, stderr: String) {
        while line() != nil {}
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, stderr)
    }
}

/// Writes `text` to `path`.
func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// The values of a pass printed by `--json`.
func values(_ pass: [String: Any]?) -> [String: Any] { pass?["values"] as? [String: Any] ?? [:] }

@Suite("mmstats run", .serialized)
struct RunTests {
    @Test(
        "load: loaded writer processes, one killed and one started mid-run; totals match the writers' own, deltas add up"
    )
    func loadWithRestart() throws {
        let dir = TemporaryDirectory("run-load")
        let manifest = dir.path + "/load.json"
        try write(
            """
            {
                "sources": { "applications": ["load"] },
                "entries": [
                    { "destination": "total", "type": "counter", "expression": "jobs" },
                    { "destination": "work", "type": "integer", "expression": "#jobs" },
                    { "destination": "rate", "type": "float", "expression": "rate(jobs)" },
                    { "destination": "elapsed", "type": "integer", "expression": "_DIFFTIME", "operation": "re-calculate" },
                    { "destination": "per_process", "type": "integer", "expression": "jobs", "scope": "process" },
                ],
            }
            """, to: manifest)
        var writers = try (0..<3).map { _ in try WriterProcess(mode: "jobs", root: dir.path, seconds: 4) }
        let host = try HostProcess(
            ["run", "--manifest", manifest, "--root", dir.path, "--interval", "0.25", "--passes", "30", "--json"])
        var passes: [[String: Any]] = []
        var killedPath: String?
        while let pass = host.pass() {
            passes.append(pass)
            if passes.count == 6 {
                // Mid-run: one worker dies without closing its file; a new one starts from 0.
                writers[0].kill()
                killedPath = writers[0].path
                writers.append(try WriterProcess(mode: "jobs", root: dir.path, seconds: 2))
            }
        }
        let (status, stderr) = host.finish()
        #expect(status == 0, "\(stderr)")
        #expect(passes.count == 30)
        let done = writers.dropFirst().map { writer -> Int64 in
            let line = writer.finish().split(separator: "\n").first { $0.hasPrefix("done ") } ?? ""
            return Int64(line.dropFirst(5)) ?? -1
        }
        let killedFile = try #require(killedPath)
        let killedSample = try StatsReader(path: killedFile).snapshot().metric("jobs")
        let killed = try #require(killedSample?.value?.doubleValue)
        let writersTotal = done.reduce(0, +) + Int64(killed)
        #expect(done.allSatisfy { $0 > 0 })

        let totals = passes.map { values($0)["total"] as? Int64 ?? -1 }
        #expect(totals.last == writersTotal, "the processor's total is the writers' own")
        #expect(zip(totals, totals.dropFirst()).allSatisfy { $0 <= $1 }, "a total never goes backwards: \(totals)")
        #expect(values(passes[0])["work"] is NSNull && values(passes[0])["rate"] is NSNull, "no first-pass spike")
        var work: Int64 = 0
        for pass in passes.dropFirst() {
            let v = values(pass)
            let w = try #require(v["work"] as? Int64, "every later pass has a delta: \(v)")
            let rate = try #require(v["rate"] as? Double)
            let elapsed = try #require(v["elapsed"] as? Int64)
            #expect(w >= 0 && rate >= 0)
            #expect(abs(rate * Double(elapsed) / 1e9 - Double(w)) <= 1e-6 * Double(max(w, 1)), "rate × time = delta")
            work += w
        }
        #expect(work == writersTotal - totals[0], "the deltas add up to the growth: no jump at the restart")
        let last = values(passes.last)
        let processes = last.filter { $0.key.hasPrefix("per_process{") }
        #expect(processes.count == 4, "\(processes.keys.sorted())")
        #expect(processes.values.compactMap { $0 as? Int64 }.reduce(0, +) == writersTotal)
    }

    @Test(
        "results are in the host's own file: slurp and another processor read them; SIGHUP reloads; SIGTERM removes it")
    func resultsFileReloadAndStop() throws {
        let dir = TemporaryDirectory("run-results")
        let stats = try StatsWriter(dir.options(application: "web", model: "Http"))
        let jobs = try stats.counter("jobs")
        jobs.increment(by: 100)
        let manifest = dir.path + "/m.json"
        let entries = """
            { "destination": "total", "type": "counter", "expression": "jobs", "unit": "jobs" },
            { "destination": "work", "type": "integer", "expression": "#jobs" },
            """
        try write(#"{ "sources": { "applications": ["web"] }, "entries": [ \#(entries) ] }"#, to: manifest)
        let host = try HostProcess(["run", "--manifest", manifest, "--root", dir.path, "--interval", "0.2", "--json"])
        _ = host.pass()
        _ = host.pass()
        let folder = dir.path + "/mmstats/processor"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(names.count == 1)
        let results = folder + "/" + (names.first ?? "")

        // slurp reads the results.
        let slurp = try run(Binaries.mmstats, ["slurp", "--json", results])
        #expect(slurp.status == 0, "\(slurp.stderr)")
        let files = try #require(try JSONSerialization.jsonObject(with: Data(slurp.stdout.utf8)) as? [[String: Any]])
        let metrics = try #require(files.first?["metrics"] as? [[String: Any]])
        let total = try #require(metrics.first { $0["name"] as? String == "total" })
        #expect(total["kind"] as? String == "derived-counter")
        #expect((total["exposed"] as? [String: Any])?["value"] as? Int == 100)
        #expect(total["unit"] as? String == "jobs")

        // Another processor reads them.
        let other = dir.path + "/other.json"
        try write(
            #"{ "entries": [ { "destination": "double", "type": "integer", "expression": "total * 2" } ] }"#, to: other)
        let eval = try run(Binaries.mmstats, ["eval", "--manifest", other, "--passes", "1", "--json", results])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.stdout.contains(#""double": 200"#), "\(eval.stdout)")

        // SIGHUP: a new entry appears; the unchanged delta entry keeps its history (a value at once).
        try write(
            #"{ "sources": { "applications": ["web"] }, "entries": [ \#(entries) { "destination": "extra", "type": "integer", "expression": "jobs + 1" } ] }"#,
            to: manifest)
        jobs.increment(by: 5)
        host.signal(SIGHUP)
        var reloaded: [String: Any] = [:]
        for _ in 0..<25 {
            reloaded = values(host.pass())
            if reloaded["extra"] != nil { break }
        }
        #expect(reloaded["extra"] as? Int64 == 106)
        #expect(reloaded["work"] is Int64, "the unchanged entry kept its history: \(reloaded)")

        // A broken manifest on SIGHUP: reported, the running one kept.
        try write(
            #"{ "entries": [ { "destination": "x", "type": "integer", "expression": "jobs +" } ] }"#, to: manifest)
        host.signal(SIGHUP)
        var after: [String: Any] = [:]
        for _ in 0..<3 { after = values(host.pass()) }
        #expect(after["extra"] as? Int64 == 106, "still evaluating the previous manifest")

        host.signal(SIGTERM)
        let (status, stderr) = host.finish()
        #expect(status == 0)
        #expect(stderr.contains("kept the running manifest"), "\(stderr)")
        #expect(stderr.contains("m.json:1:"), "the error names the file, line and column: \(stderr)")
        #expect(!FileManager.default.fileExists(atPath: results), "SIGTERM removes the results file")
    }

    @Test("a long interval: each SIGHUP reloads and runs a pass at once, SIGTERM stops at once and removes the file")
    func signalsWakeTheSleep() throws {
        let dir = TemporaryDirectory("run-signals")
        let stats = try StatsWriter(dir.options(application: "web", model: "Http"))
        try stats.counter("jobs").increment(by: 100)
        let manifest = dir.path + "/m.json"
        func manifestText(_ extra: Int) -> String {
            #"{ "sources": { "applications": ["web"] }, "entries": [ "#
                + #"{ "destination": "e\#(extra)", "type": "integer", "expression": "jobs + \#(extra)" } ] }"#
        }
        try write(manifestText(0), to: manifest)
        // 600 s between passes: a pass seen after a signal was woken by it, not by the clock.
        let host = try HostProcess(["run", "--manifest", manifest, "--root", dir.path, "--interval", "600", "--json"])
        // A missed signal would sleep 600 s: kill the process well before, so the test fails instead of hanging.
        let watchdog = DispatchWorkItem { host.signal(SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer { watchdog.cancel() }
        #expect(values(host.pass())["e0"] as? Int64 == 100)
        let folder = dir.path + "/mmstats/processor"
        let results = folder + "/" + ((try? FileManager.default.contentsOfDirectory(atPath: folder))?.first ?? "")
        // Each signal right after a pass is printed: when the process is about to sleep.
        for k in 1...25 {
            try write(manifestText(k), to: manifest)
            host.signal(SIGHUP)
            let after = values(host.pass())
            #expect(after["e\(k)"] as? Int64 == Int64(100 + k), "pass after SIGHUP \(k): \(after)")
            if after.isEmpty { break }
        }
        host.signal(SIGTERM)
        let (status, stderr) = host.finish()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.components(separatedBy: "reloaded").count - 1 == 25, "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: results), "SIGTERM removes the results file")
    }

    @Test("no manifest: the built-in default sums and rates every counter and gives percentiles of every histogram")
    func builtInDefault() throws {
        let dir = TemporaryDirectory("run-default")
        let a = try StatsWriter(dir.options(application: "web", model: "A"))
        var b = WriterOptions(application: "web", model: "B")
        b.root = dir.path
        let other = try StatsWriter(b)
        try a.counter("hits").increment(by: 10)
        try other.counter("hits").increment(by: 32)
        let latency = try a.histogram("latency")
        for v in 1...100 { latency.record(v) }
        let host = try HostProcess(["run", "--root", dir.path, "--interval", "0.2", "--passes", "3", "--json"])
        var passes: [[String: Any]] = []
        while let pass = host.pass() { passes.append(pass) }
        let (status, stderr) = host.finish()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("the built-in default"))
        let first = values(passes.first)
        #expect(first["host:hits:sum"] as? Int64 == 42)
        #expect(first["host:hits:rate"] is NSNull)
        #expect(values(passes.last)["host:hits:rate"] as? Double == 0)
        #expect(first["host:latency:p50"] as? Double == 50)  // exact below 128
        #expect(first["host:latency:p99"] as? Double == 99)
    }

    @Test("a manifest's outputs.listen: run serves the raw metrics and its results over HTTP")
    func outputsListen() throws {
        let dir = TemporaryDirectory("run-listen")
        let stats = try StatsWriter(dir.options(application: "web", model: "Http"))
        try stats.counter("jobs").increment(by: 21)
        let manifest = dir.path + "/m.json"
        try write(
            """
            { "outputs": { "listen": "127.0.0.1:0" }, "interval": 0.2,
              "entries": [ { "destination": "doubled", "type": "integer", "expression": "jobs * 2" } ] }
            """, to: manifest)
        let server = try ServeProcess([], command: ["run", "--manifest", manifest, "--root", dir.path])
        try #require(server.port != 0)
        var body = ""
        for _ in 0..<50 {
            body = try get(server.port, "/metrics")?.body ?? ""
            if body.contains("\ndoubled{") { break }
            usleep(100_000)
        }
        #expect(body.contains("jobs_total{"), "the raw counter: \(body)")
        #expect(body.contains(#"doubled{application="mmstats",model="processor""#), "the result: \(body)")
        #expect(body.split(separator: "\n").contains { $0.hasPrefix("doubled{") && $0.hasSuffix(" 42") })
        let (status, _) = server.stop()
        #expect(status == 0)
        let bad = dir.path + "/bad.json"
        try write(#"{ "outputs": { "listen": "" , "colour": 1 }, "entries": [] }"#, to: bad)
        let check = try run(Binaries.mmstats, ["check", bad])
        #expect(check.status == 1)
        #expect(check.stderr.contains("outputs.listen: expected ADDRESS:PORT"), "\(check.stderr)")
        #expect(check.stderr.contains("unknown key 'colour'"), "\(check.stderr)")
    }

    @Test("bad options and a broken manifest: a clear message and a non-zero status")
    func errors() throws {
        let dir = TemporaryDirectory("run-errors")
        let manifest = dir.path + "/bad.json"
        try write(#"{ "entries": [ { "destination": "a", "type": "int", "expression": "$NOPE" } ] }"#, to: manifest)
        let bad = try run(Binaries.mmstats, ["run", "--manifest", manifest, "--root", dir.path, "--passes", "1"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("bad.json:1:"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/mmstats/processor"))
        let option = try run(Binaries.mmstats, ["run", "--interval", "0"])
        #expect(option.status == 2)
        #expect(option.stderr.contains("--interval"))
    }
}

@Suite("mmstats check")
struct CheckTests {
    @Test("a good manifest passes; every error is printed as file:line:column: message with a non-zero status")
    func check() throws {
        let dir = TemporaryDirectory("check")
        let good = dir.path + "/good.json"
        try write(
            """
            // comments and trailing commas are fine
            { "entries": [
                { "destination": "a", "type": "integer", "expression": "x + 1" },
                { "destinations": ["b", { "name": "c", "scope": "cluster" }], "type": "float", "expression": "a / 2", },
            ] }
            """, to: good)
        let ok = try run(Binaries.mmstats, ["check", good])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("good.json: 2 entries, 3 destinations, ok"), "\(ok.stdout)")

        let bad = dir.path + "/bad.json"
        try write(
            """
            { "entries": [
                { "destination": "a", "type": "int", "expression": "b + 1" },
                { "destination": "b", "type": "integer", "expression": "$NOPE * (2" },
            ] }
            """, to: bad)
        let failed = try run(Binaries.mmstats, ["check", bad])
        #expect(failed.status == 1)
        let lines = failed.stderr.split(separator: "\n")
        #expect(lines.count == 2, "one error per entry: \(failed.stderr)")
        for line in lines { #expect(line.hasPrefix("\(bad):"), "\(line)") }
        #expect(failed.stderr.contains("\(bad):2:"))
        #expect(failed.stderr.contains("\(bad):3:"))
        #expect(failed.stderr.contains("unknown constant '$NOPE'"))

        let missing = try run(Binaries.mmstats, ["check", dir.path + "/none.json"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("none.json"))
        #expect(try run(Binaries.mmstats, ["check"]).status == 2)
    }

    @Test("Traffic Server's shipped stats.config.xml checks clean: 142 entries")
    func trafficServer() throws {
        let path = Binaries.packageRoot + "/../shared/fixtures/ats/stats.config.xml.default"
        try #require(FileManager.default.fileExists(atPath: path))
        let result = try run(Binaries.mmstats, ["check", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(": 142 entries"), "\(result.stdout)")
    }
}
