import Foundation
import Metrics
import MmStatsCore
import MmStatsTestSupport
import Synchronization
import Testing

/// The first executable of `names` found in the usual places.
func program(_ names: String...) -> String? {
    for directory in ["/usr/bin", "/usr/local/bin", "/bin"] {
        for name in names where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
    }
    return nil
}

/// A TCP port nobody listens on right now (bound to 0, read back, released).
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(bound == 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

@Suite("mmstats serve end to end: a browser and a real Prometheus", .serialized)
struct ServeEndToEndTests {
    @Test("the dashboard in headless Chromium: the page loads and every graph has data")
    func dashboardInChromium() throws {
        let chromium = try #require(
            program("chromium", "chromium-browser"), ".ci/run installs Debian's chromium package")
        let dir = TemporaryDirectory("dashboard")
        let stats = try StatsWriter(dir.options(application: "web", model: "Http"))
        let jobs = try stats.sharedCounter("jobs")
        try stats.gauge("depth").set(7)
        let latency = try stats.histogram("latency")
        for v in 1...100 { latency.record(v) }
        let stop = Atomic<Bool>(false)
        let worker = Thread {
            while !stop.load(ordering: .relaxed) {
                jobs.increment(by: 10)
                usleep(5_000)
            }
        }
        worker.start()
        defer { stop.store(true, ordering: .relaxed) }
        let server = try ServeProcess(["--root", dir.path])
        try #require(server.port != 0)
        let url = "http://127.0.0.1:\(server.port)/?m=jobs,depth,latency.p99&interval=0.3"
        let result = try run(
            chromium,
            [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(dir.path)/chromium", "--virtual-time-budget=5000", "--dump-dom", url,
            ])
        #expect(server.stop().status == 0)
        let dom = result.stdout
        #expect(dom.contains(#"<body data-ready="1">"#), "every graph has a point: \(dom.suffix(2_000))")
        func canvas(_ metric: String) -> [String: String] {
            guard let start = dom.range(of: #"<canvas data-metric="\#(metric)""#) else { return [:] }
            let tag = dom[start.lowerBound...].prefix { $0 != ">" }
            var attributes: [String: String] = [:]
            for part in tag.split(separator: " ") {
                let pair = part.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { attributes[String(pair[0])] = pair[1].trimmingCharacters(in: ["\""]) }
            }
            return attributes
        }
        let depth = canvas("depth")
        #expect(Int(depth["data-points"] ?? "") ?? 0 >= 2, "\(depth)")
        #expect(depth["data-last"] == "7", "the gauge's value: \(depth)")
        let rate = canvas("jobs")
        #expect(Int(rate["data-points"] ?? "") ?? 0 >= 2, "\(rate)")
        #expect(Double(rate["data-last"] ?? "") ?? -1 >= 0, "a counter is drawn as a rate: \(rate)")
        #expect(canvas("latency.p99")["data-last"] == "99", "an exposed field: \(canvas("latency.p99"))")
    }

    @Test(
        "two hosts' serve scraped by a real Prometheus: PromQL sees the writers' values, cluster rules sum both hosts"
    )
    func clusterOnPrometheus() throws {
        let prometheus = try #require(program("prometheus"), ".ci/run installs Debian's prometheus package")
        let dir = TemporaryDirectory("cluster")
        var servers: [ServeProcess] = []
        var writers: [StatsWriter] = []
        defer { for server in servers { _ = server.stop() } }
        for (host, requests, errors) in [("a", 100, 5), ("b", 250, 10)] {
            let root = dir.path + "/" + host
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            var options = WriterOptions(application: "web", model: "Http")
            options.root = root
            let stats = try StatsWriter(options)
            try stats.counter("web.requests").increment(by: UInt64(requests))
            try stats.counter("web.errors").increment(by: UInt64(errors))
            writers.append(stats)
            let server = try ServeProcess(["--root", root])
            try #require(server.port != 0)
            servers.append(server)
        }
        let manifest = dir.path + "/cluster.json"
        try write(
            """
            { "entries": [
              { "destinations": [{ "name": "cluster.requests", "scope": "cluster" }],
                "type": "counter", "expression": "web.requests" },
              { "destinations": [{ "name": "cluster.error_ratio", "scope": "cluster", "operation": "re-calculate" }],
                "type": "float", "expression": "web.errors / web.requests" },
            ] }
            """, to: manifest)
        let rules = try run(Binaries.mmstats, ["rules", "--manifest", manifest])
        #expect(rules.status == 0, "\(rules.stderr)")
        try write(rules.stdout, to: dir.path + "/rules.yml")
        let targets = servers.map { "'127.0.0.1:\($0.port)'" }.joined(separator: ", ")
        try write(
            """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            rule_files: ['\(dir.path)/rules.yml']
            scrape_configs:
              - job_name: mmstats
                static_configs: [ { targets: [\(targets)] } ]
            """, to: dir.path + "/prometheus.yml")
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = [
            "--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
            "--web.listen-address=127.0.0.1:\(port)",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        /// The value of a PromQL query once `expected` holds for it, else its last value after
        /// a minute (Prometheus needs a scrape of each host, then a rule evaluation).
        func query(_ promql: String, _ expected: (Double) -> Bool) -> Double? {
            let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
            var last: Double?
            for _ in 0..<120 {
                if let response = try? get(port, "/api/v1/query?query=\(encoded)"), response.status == 200,
                    let data = json(response)["data"] as? [String: Any],
                    let result = (data["result"] as? [[String: Any]])?.first,
                    let pair = result["value"] as? [Any], let text = pair.last as? String, let value = Double(text)
                {
                    last = value
                    if expected(value) { return value }
                }
                usleep(500_000)
            }
            return last
        }
        let expectedRatio = 15.0 / 350.0
        #expect(query("count(up == 1)") { $0 == 2 } == 2, "both hosts are up")
        #expect(query("sum(web_requests_total)") { $0 == 350 } == 350, "PromQL over both hosts' scraped series")
        #expect(query("max(web_errors_total)") { $0 == 10 } == 10)
        #expect(query("cluster_requests") { $0 == 350 } == 350, "the cluster rule: both hosts' writers")
        let ratio = try #require(query("cluster_error_ratio") { abs($0 - expectedRatio) < 1e-12 })
        #expect(abs(ratio - expectedRatio) < 1e-12, "re-calculate: Σerrors / Σrequests")
        _ = writers
    }
}
