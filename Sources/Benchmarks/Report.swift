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
