// The result table.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One line of the table: an mmstats operation and its baseline, in nanoseconds per operation.
struct Row {
    let operation: String
    let mmstats: Timing
    let baseline: Timing?
    /// What the baseline does (printed in the legend).
    let baselineName: String
    /// The target for `mmstats`, in nanoseconds, if there is one.
    let target: Double?
}

/// `x` with exactly `decimals` digits after the point.
func fixed(_ x: Double, _ decimals: Int) -> String {
    guard x.isFinite else { return "n/a" }
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((abs(x) * Double(scale)).rounded())
    var text = String(scaled / scale)
    if decimals > 0 {
        let fraction = String(scaled % scale)
        text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
    return (x < 0 && scaled != 0 ? "-" : "") + text
}

/// Nanoseconds with a precision that suits their size.
func nanoseconds(_ x: Double) -> String {
    if x < 10 { return fixed(x, 2) }
    if x < 1000 { return fixed(x, 1) }
    return fixed(x, 0)
}

func targetText(_ target: Double?) -> String {
    guard let target else { return "—" }
    if target >= 1_000_000 { return "≤ \(fixed(target / 1_000_000, 0)) ms" }
    return target >= 1000 ? "≤ \(fixed(target / 1000, 0)) µs" : "≤ \(fixed(target, 1)) ns"
}

func printTable(_ rows: [Row], numberedFrom first: Int = 1) {
    print("| # | operation | mmstats ns/op | baseline ns/op | target | met? |")
    print("|---:|---|---:|---:|---:|:---:|")
    for (index, row) in rows.enumerated() {
        let baseline = row.baseline.map { nanoseconds($0.best) } ?? "—"
        let met = row.target.map { row.mmstats.best <= $0 ? "yes" : "**no**" } ?? "—"
        print(
            "| \(first + index) | \(row.operation) | \(nanoseconds(row.mmstats.best)) | \(baseline) | \(targetText(row.target)) | \(met) |"
        )
    }
    print("")
    print("Baselines:")
    for (index, row) in rows.enumerated() {
        print("\(first + index). \(row.baselineName)")
    }
}

func printSpread(_ rows: [Row]) {
    print("| # | mmstats min / median / max | baseline min / median / max |")
    print("|---:|---:|---:|")
    func spread(_ timing: Timing?) -> String {
        guard let timing else { return "—" }
        return "\(nanoseconds(timing.best)) / \(nanoseconds(timing.median)) / \(nanoseconds(timing.worst))"
    }
    for (index, row) in rows.enumerated() {
        print("| \(index + 1) | \(spread(row.mmstats)) | \(spread(row.baseline)) |")
    }
}

/// The 1, 5 and 15 minute load averages.
func loadAverage() -> String {
    var loads = [Double](repeating: 0, count: 3)
    guard getloadavg(&loads, 3) == 3 else { return "unknown" }
    return loads.map { fixed($0, 2) }.joined(separator: ", ")
}

/// The current UTC time, ISO 8601.
func utcNow() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: JSON

/// Where `print` goes until `printJSON`: standard output, or standard error with `--json`.
nonisolated(unsafe) var jsonOutput: Int32 = -1

/// Sends the human report to standard error, keeping standard output for the JSON.
func reportToStandardError() {
    jsonOutput = dup(1)
    dup2(2, 1)
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A number of nanoseconds as JSON (null when not measured).
func jsonNumber(_ x: Double?) -> String {
    guard let x, x.isFinite else { return "null" }
    return "\(x)"
}

func jsonRows(_ rows: [Row], numberedFrom first: Int) -> String {
    rows.enumerated().map { index, row in
        let met = row.target.map { row.mmstats.best <= $0 ? "true" : "false" } ?? "null"
        let runs = { (timing: Timing?) in
            "[" + (timing?.samples.map { jsonNumber($0) }.joined(separator: ", ") ?? "") + "]"
        }
        return "    {\"number\": \(first + index), \"name\": \(jsonString(row.operation)), "
            + "\"mmstats_ns\": \(jsonNumber(row.mmstats.best)), \"baseline_ns\": \(jsonNumber(row.baseline?.best)), "
            + "\"target_ns\": \(jsonNumber(row.target)), \"met\": \(met), "
            + "\"baseline\": \(jsonString(row.baselineName)), "
            + "\"mmstats_runs_ns\": \(runs(row.mmstats)), \"baseline_runs_ns\": \(runs(row.baseline))}"
    }.joined(separator: ",\n")
}

/// Prints every row as JSON on the original standard output (docs/BENCHMARKS.md, "JSON").
func printJSON(
    rows: [Row], diagnostics: [Row], started: String, quick: Bool, loadBefore: String, loadAfter: String
) {
    if jsonOutput >= 0 {
        fflush(nil)
        dup2(jsonOutput, 1)
    }
    print("{")
    print("  \"started\": \(jsonString(started)), \"quick\": \(quick), ")
    print("  \"load_before\": \(jsonString(loadBefore)), \"load_after\": \(jsonString(loadAfter)),")
    print("  \"rows\": [")
    print(jsonRows(rows, numberedFrom: 1))
    print("  ],")
    print("  \"diagnostics\": [")
    print(jsonRows(diagnostics, numberedFrom: rows.count + 1))
    print("  ]")
    print("}")
    fflush(nil)
}
