import Metrics
import MmStatsCore

/// Renders stats files as the Prometheus text exposition format 0.0.4 (docs/SERVE.md): one
/// `# HELP` and `# TYPE` per family, every family's samples together whichever files they
/// come from, names and labels that `promtool check metrics` accepts.
///
/// ```swift
/// var text = PrometheusText()
/// for snapshot in snapshots { text.add(snapshot, now: now) }
/// let body = text.render()
/// ```
struct PrometheusText {
    enum FamilyType: String {
        case counter, gauge, histogram, summary
    }

    private struct Family {
        var type: FamilyType
        var help: String
        var lines: [String] = []
        var series: Set<String> = []
    }

    /// The labels every series of a file carries; a dimension with one of these names (or
    /// `le`, `quantile`, or a name that starts with `__`) is renamed `exported_NAME`.
    static let fileLabels: Set<String> = ["application", "model", "pid", "tid"]
    private static let reservedLabels: Set<String> = fileLabels.union(["le", "quantile"])

    private var families: [String: Family] = [:]
    private var order: [String] = []
    /// Sample names a family owns (a histogram's `_bucket`, `_sum`, `_count`), by the family.
    private var owners: [String: String] = [:]
    /// Samples left out because their family name was taken by another type.
    private(set) var conflicts = 0

    /// Adds every metric of a file.
    mutating func add(_ snapshot: Snapshot, now: UInt64) {
        var labels: [(String, String)] = []
        let writer = snapshot.writer
        if snapshot.version >= 2 {
            labels.append(("application", writer.application))
            labels.append(("model", writer.model))
        }
        labels.append(("pid", String(writer.pid)))
        if snapshot.version >= 2 { labels.append(("tid", String(writer.tid))) }
        for sample in snapshot.metrics where sample.error == nil {
            add(sample, fileLabels: labels, now: now)
        }
    }

    private mutating func add(_ sample: MetricSample, fileLabels: [(String, String)], now: UInt64) {
        let descriptor = sample.descriptor
        let name = Self.metricName(descriptor.name)
        var labels = fileLabels
        var used = Set(fileLabels.map(\.0))
        for dimension in descriptor.dimensions {
            var label = Self.metricName(dimension.key)
            if Self.reservedLabels.contains(label) || label.hasPrefix("__") { label = "exported_" + label }
            while used.contains(label) { label += "_" }
            used.insert(label)
            labels.append((label, dimension.value))
        }
        let labelText = labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
        var help = descriptor.help.isEmpty ? "\(descriptor.name) (mmstats \(descriptor.kind))" : descriptor.help
        if !descriptor.unit.isEmpty { help += " [\(descriptor.unit)]" }
        let exposed = sample.exposedFields(in: .shared, now: now)
        func field(_ field: String) -> Value? { exposed.first { $0.name == field }?.value }

        switch descriptor.kind {
        case "counter", "derived-counter":
            guard let value = field("value").flatMap(Self.number) else { return }
            let counter = name.hasSuffix("_total") ? name : name + "_total"
            addSample(family: counter, type: .counter, help: help, sample: counter, labels: labelText, value: value)
        case "gauge", "bool", "derived":
            guard let value = field("value").flatMap(Self.number) else { return }  // derived: not present
            addSample(family: name, type: .gauge, help: help, sample: name, labels: labelText, value: value)
        case "text", "static":
            guard let value = field("value") else { return }
            if case .string(let text) = value {
                let info = name + "_info"
                let labels =
                    labelText + ",\(used.contains("value") ? "exported_value" : "value")=\"\(Self.escapeLabel(text))\""
                addSample(family: info, type: .gauge, help: help, sample: info, labels: labels, value: "1")
            } else if let number = Self.number(value) {
                addSample(family: name, type: .gauge, help: help, sample: name, labels: labelText, value: number)
            }
        case "histogram", "timer":
            addHistogram(sample, name: name, help: help, labels: labelText, sum: field("sum"))
        case "average", "moving-average":
            if let count = field("count").flatMap(Self.number), let sum = field("sum").flatMap(Self.number),
                claim(name, type: .summary, help: help, suffixes: ["_sum", "_count"])
            {
                append(family: name, sample: name + "_sum", labels: labelText, value: sum)
                append(family: name, sample: name + "_count", labels: labelText, value: count)
            }
            addGauges(
                exposed.filter { $0.name != "count" && $0.name != "sum" }, name: name, help: help, labels: labelText)
        case "meter":
            if let count = field("count").flatMap(Self.number) {
                let counter = name + "_total"
                addSample(family: counter, type: .counter, help: help, sample: counter, labels: labelText, value: count)
            }
            addGauges(exposed.filter { $0.name != "count" }, name: name, help: help, labels: labelText)
        default:
            if exposed.count == 1, exposed[0].name == "value", let value = Self.number(exposed[0].value) {
                addSample(family: name, type: .gauge, help: help, sample: name, labels: labelText, value: value)
            } else {
                addGauges(exposed, name: name, help: help, labels: labelText)
            }
        }
    }

    /// Each numeric field as a gauge `NAME_FIELD` (`NAME_FIELD_value` where the name would end
    /// in a suffix Prometheus keeps for histograms and summaries).
    private mutating func addGauges(
        _ fields: [(name: String, value: Value)], name: String, help: String, labels: String
    ) {
        for (field, value) in fields {
            guard let number = Self.number(value) else { continue }
            var gauge = Self.metricName(name + "_" + field)
            if gauge.hasSuffix("_count") || gauge.hasSuffix("_sum") || gauge.hasSuffix("_bucket") {
                gauge += "_value"
            }
            addSample(
                family: gauge, type: .gauge, help: help + ": \(field)", sample: gauge, labels: labels, value: number)
        }
    }

    /// A histogram's cumulative buckets (the upper bound of each non-empty bucket, in the
    /// histogram's unit, then `+Inf`), `_sum` and `_count`.
    private mutating func addHistogram(_ sample: MetricSample, name: String, help: String, labels: String, sum: Value?)
    {
        guard claim(name, type: .histogram, help: help, suffixes: ["_bucket", "_sum", "_count"]) else { return }
        var cumulative: UInt64 = 0
        var lines: [(le: String, count: UInt64)] = []
        let resolution = sample.field("resolution")?.doubleValue ?? 1
        // One walk over the components (`b0` … `b2367`), not a search per bucket.
        for (field, value) in sample.fields where field.hasPrefix("b") {
            guard case .uint(let count) = value, count > 0, let index = Int(field.dropFirst()),
                index >= 0, index < HistogramScheme.bucketCount
            else { continue }
            cumulative &+= count
            let largest = HistogramScheme.lowerBound(index) + (HistogramScheme.width(index) - 1)
            let le = Self.format(Double(largest) * resolution)
            if lines.last?.le == le {
                lines[lines.count - 1].count = cumulative
            } else {
                lines.append((le, cumulative))
            }
        }
        let separator = labels.isEmpty ? "" : ","
        let key = labels
        guard families[name]?.series.insert(key).inserted == true else { return }
        for line in lines {
            families[name]?.lines.append("\(name)_bucket{\(labels)\(separator)le=\"\(line.le)\"} \(line.count)")
        }
        families[name]?.lines.append("\(name)_bucket{\(labels)\(separator)le=\"+Inf\"} \(cumulative)")
        families[name]?.lines.append("\(name)_sum{\(labels)} \(sum.flatMap(Self.number) ?? "0")")
        families[name]?.lines.append("\(name)_count{\(labels)} \(cumulative)")
    }

    /// Makes sure family `name` exists with `type` and owns `name` plus `name + suffix`;
    /// false (and a conflict counted) when another family has any of those names.
    private mutating func claim(_ name: String, type: FamilyType, help: String, suffixes: [String] = []) -> Bool {
        if let family = families[name] {
            guard family.type == type else {
                conflicts += 1
                return false
            }
            return true
        }
        let names = [name] + suffixes.map { name + $0 }
        guard names.allSatisfy({ owners[$0] == nil && families[$0] == nil }) else {
            conflicts += 1
            return false
        }
        for owned in names { owners[owned] = name }
        families[name] = Family(type: type, help: help)
        order.append(name)
        return true
    }

    private mutating func addSample(
        family: String, type: FamilyType, help: String, sample: String, labels: String, value: String
    ) {
        guard claim(family, type: type, help: help) else { return }
        append(family: family, sample: sample, labels: labels, value: value)
    }

    /// One sample line, unless the family already has this exact series (two names that
    /// sanitise to the same one, with the same labels).
    private mutating func append(family: String, sample: String, labels: String, value: String) {
        guard families[family]?.series.insert(sample + "{" + labels).inserted == true else {
            conflicts += 1
            return
        }
        families[family]?.lines.append("\(sample){\(labels)} \(value)")
    }

    /// The exposition: families in the order they first appeared.
    func render() -> String {
        var output = ""
        for name in order {
            guard let family = families[name], !family.lines.isEmpty else { continue }
            output += "# HELP \(name) \(Self.escapeHelp(family.help))\n# TYPE \(name) \(family.type.rawValue)\n"
            for line in family.lines {
                output += line
                output += "\n"
            }
        }
        return output
    }

    /// A name made of `[a-z0-9_]`, not starting with a digit: every other character becomes
    /// `_`, a lower-case letter or digit followed by an upper-case letter gets a `_` between them
    /// (camelCase → camel_case), letters are lower-cased, runs of `_` become one.
    /// `index.responseOK` → `index_response_ok`; `host:jobs:sum` → `host_jobs_sum`.
    static func metricName(_ text: String) -> String {
        var result = ""
        var previous: Character = "_"
        var original: Character = "_"
        func add(_ character: Character) {
            if character == "_" && previous == "_" && !result.isEmpty { return }
            result.append(character)
            previous = character
        }
        for character in text {
            defer { original = character }
            guard character.isASCII, character.isLetter || character.isNumber else {
                add("_")
                continue
            }
            if character.isUppercase && (original.isLowercase || original.isNumber) { add("_") }
            add(Character(character.lowercased()))
        }
        if result.isEmpty || result.first?.isNumber == true { result = "_" + result }
        return result
    }

    static func escapeLabel(_ text: String) -> String {
        var output = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": output += "\\\\"
            case "\"": output += "\\\""
            case "\n": output += "\\n"
            default: output.unicodeScalars.append(character)
            }
        }
        return output
    }

    static func escapeHelp(_ text: String) -> String {
        var output = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            default: output.unicodeScalars.append(character)
            }
        }
        return output
    }

    /// A value as the format writes it (`+Inf`, `-Inf`, `NaN`); strings have none.
    static func number(_ value: Value) -> String? {
        switch value {
        case .int(let v): String(v)
        case .uint(let v): String(v)
        case .double(let v): format(v)
        case .bool(let v): v ? "1" : "0"
        case .string: nil
        }
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
