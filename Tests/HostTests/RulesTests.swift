import Foundation
import MmStatsTestSupport
import Testing

@Suite("mmstats rules")
struct RulesTests {
    static var promtool: String? {
        ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("cluster entries become recording rules that promtool accepts: re-calculate sums inputs, sum sums hosts")
    func rules() throws {
        let dir = TemporaryDirectory("rules")
        let manifest = dir.path + "/m.json"
        try write(
            """
            { "entries": [
              { "destination": "node.rps", "type": "float", "expression": "rate(web.requests)" },
              { "destinations": [{ "name": "cluster.error_ratio", "scope": "cluster", "operation": "re-calculate" }],
                "type": "float", "expression": "#web.errors / #web.requests" },
              { "destinations": [{ "name": "cluster.requests", "scope": "cluster" }],
                "type": "counter", "expression": "web.requests" },
              { "destinations": [{ "name": "cluster.p99", "scope": "cluster", "operation": "re-calculate" }],
                "type": "float", "expression": "percentile(web.latency, 0.99)", "interval": 30 },
              { "destinations": [{ "name": "cluster.misc", "scope": "cluster", "operation": "re-calculate" }],
                "type": "float", "expression": "max(web.*) + abs(-2) + clamp(web.requests, 0, 10) + _DIFFTIME / $HRTIME_SECOND" },
            ] }
            """, to: manifest)
        let result = try run(Binaries.mmstats, ["rules", "--manifest", manifest])
        #expect(result.status == 0, "\(result.stderr)")
        let yaml = result.stdout
        #expect(!yaml.contains("node_rps"), "only cluster entries become rules")
        #expect(yaml.contains(#"record: "cluster_error_ratio""#))
        #expect(
            yaml.contains(
                #"expr: "(sum(increase({__name__=~\"web_errors(_total)?\"}[1m])) / sum(increase({__name__=~\"web_requests(_total)?\"}[1m])))""#
            ), "re-calculate: Σ#errors / Σ#requests over every host\n\(yaml)")
        #expect(
            yaml.contains(#"expr: "sum(sum by (instance)({__name__=~\"web_requests(_total)?\"}))""#),
            "sum: per host, then added")
        #expect(
            yaml.contains(#"histogram_quantile(0.99, sum by (le) (web_latency_bucket))"#),
            "percentiles from buckets summed across hosts")
        #expect(yaml.contains("(60000000000 / 1000000000)"), "_DIFFTIME is the window in ns")
        #expect(yaml.contains(#"mmstats_destination: "cluster.p99""#))
        let path = dir.path + "/rules.yml"
        try write(yaml, to: path)
        let promtool = try #require(Self.promtool, ".ci/run installs Debian's prometheus package")
        let check = try run(promtool, ["check", "rules", path])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 4 rules found"), "\(check.stdout)")
    }

    @Test(
        "rule names are /metrics names (docs/SERVE.md \"Names\"): lower snake case, ':' and '.' to '_', runs of '_' as one"
    )
    func ruleNames() throws {
        let dir = TemporaryDirectory("rules-names")
        let manifest = dir.path + "/m.json"
        try write(
            """
            { "entries": [
              { "destinations": [{ "name": "cluster:jobsOK__sum", "scope": "cluster", "operation": "re-calculate" }],
                "type": "float", "expression": "web.requestCount" },
            ] }
            """, to: manifest)
        let result = try run(Binaries.mmstats, ["rules", "--manifest", manifest])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#"record: "cluster_jobs_ok_sum""#), "\(result.stdout)")
        #expect(result.stdout.contains("web_request_count"), "\(result.stdout)")
        #expect(result.stdout.contains("cluster:jobsOK__sum"), "the label keeps the original name")
    }

    @Test("a function without a PromQL form is an error naming the entry; no cluster entries is an empty group")
    func errorsAndEmpty() throws {
        let dir = TemporaryDirectory("rules-errors")
        let bad = dir.path + "/bad.json"
        try write(
            """
            { "entries": [
              { "destinations": [{ "name": "c", "scope": "cluster" }], "type": "float",
                "expression": "percentile(h, x)" } ] }
            """, to: bad)
        let failed = try run(Binaries.mmstats, ["rules", "--manifest", bad])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("bad.json:2:"), "\(failed.stderr)")
        #expect(failed.stderr.contains("the quantile must be a number"))

        let none = dir.path + "/none.json"
        try write(#"{ "entries": [ { "destination": "a", "type": "float", "expression": "x" } ] }"#, to: none)
        let empty = try run(Binaries.mmstats, ["rules", "--manifest", none])
        #expect(empty.status == 0)
        #expect(empty.stdout.contains("rules: []"))
        let path = dir.path + "/empty.yml"
        try write(empty.stdout, to: path)
        if let promtool = Self.promtool {
            #expect(try run(promtool, ["check", "rules", path]).status == 0)
        }
        #expect(try run(Binaries.mmstats, ["rules"]).status == 2)
        #expect(try run(Binaries.mmstats, ["rules", "--manifest", none, "--window", "soon"]).status == 2)
        for missing in [["--manifest", none, "--group"], ["--manifest"], ["--manifest", none, "--group", ""]] {
            let usage = try run(Binaries.mmstats, ["rules"] + missing)
            #expect(usage.status == 2, "\(missing)")
            #expect(
                usage.stderr.contains("takes a") && usage.stderr.contains("usage: mmstats rules"), "\(usage.stderr)")
        }
    }
}
