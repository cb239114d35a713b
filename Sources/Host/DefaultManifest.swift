import MmStatsCore
import Processor

/// The entries `mmstats run` evaluates without a manifest, made from the metrics it finds:
/// for every counter `N`, `host:N:sum` (the host-wide total, a counter) and `host:N:rate`
/// (per second); for every histogram or timer `H`, `host:H:p50`, `host:H:p90` and
/// `host:H:p99` (percentiles of the buckets merged across every file). Made again when the
/// set of metrics changes; entries that stay keep their history.
enum DefaultManifest {
    /// The most metric names the default manifest covers (a hostile writer cannot make the
    /// host evaluate millions of entries).
    static let maximumNames = 10_000

    /// A name as a quoted expression name.
    static func quoted(_ name: String) -> String {
        var out = "\""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The names the default entries are made from: counters and histograms of the inputs,
    /// sorted, at most `maximumNames`.
    static func names(in inputs: EngineInputs) -> (counters: [String], histograms: [String]) {
        var counters: Set<String> = []
        var histograms: Set<String> = []
        for sample in inputs.samples {
            if sample.buckets != nil {
                histograms.insert(sample.metric)
            } else if sample.kind == .counter {
                counters.insert(sample.metric)
            }
        }
        let c = counters.sorted().prefix(maximumNames)
        let h = histograms.subtracting(counters).sorted().prefix(max(0, maximumNames - c.count))
        return (Array(c), Array(h))
    }

    /// The entries for those names (names that do not compile are left out).
    static func entries(counters: [String], histograms: [String]) -> [EngineEntry] {
        let compiler = ExpressionCompiler()
        var entries: [EngineEntry] = []
        for name in counters {
            let q = quoted(name)
            guard let total = try? compiler.compile(q), let rate = try? compiler.compile("rate(\(q))") else {
                continue
            }
            entries.append(
                EngineEntry(
                    destinations: ["host:\(name):sum"], type: .counter, expression: total, scope: .host,
                    help: "Sum of the counter \(name) over every file of the host."))
            entries.append(
                EngineEntry(
                    destinations: ["host:\(name):rate"], type: .float, expression: rate, minimum: 0, scope: .host,
                    unit: "1/s", help: "Per-second rate of the counter \(name) over the host."))
        }
        for name in histograms {
            let q = quoted(name)
            for (label, quantile) in [("p50", "0.5"), ("p90", "0.9"), ("p99", "0.99")] {
                guard let expression = try? compiler.compile("percentile(\(q), \(quantile))") else { continue }
                entries.append(
                    EngineEntry(
                        destinations: ["host:\(name):\(label)"], type: .float, expression: expression, scope: .host,
                        help: "\(label) of the histogram \(name), buckets merged over the host."))
            }
        }
        return entries
    }
}
