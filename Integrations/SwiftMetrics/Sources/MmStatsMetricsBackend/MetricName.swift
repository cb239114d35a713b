import MmStatsCore

/// How swift-metrics labels and dimensions become mmstats names and dimensions.
///
/// mmstats names are any UTF-8 text of 1 to 65,535 bytes, so a label is kept as it is (dots,
/// slashes, spaces, any character). Only what the format cannot hold changes: an empty label
/// becomes `unnamed`, and a label, dimension key or value longer than 65,535 bytes is cut at
/// the last whole character that fits.
///
/// swift-metrics dimensions are a list that may repeat a key and has an order; an mmstats
/// metric has each key once. A repeated key keeps its last value, and the keys are sorted, so
/// `[("a", "1"), ("b", "2")]` and `[("b", "2"), ("a", "1")]` are the same metric.
enum MetricName {
    /// The longest name, key or value a descriptor holds, in UTF-8 bytes.
    static let limit = 65_535

    /// The mmstats name of `label`.
    static func name(_ label: String) -> String {
        label.isEmpty ? "unnamed" : cut(label)
    }

    /// The mmstats dimensions of swift-metrics `dimensions`.
    static func dimensions(_ dimensions: [(String, String)]) -> [Dimension] {
        var values: [String: String] = [:]
        for (key, value) in dimensions { values[cut(key)] = cut(value) }
        return values.keys.sorted().map { Dimension($0, values[$0] ?? "") }
    }

    /// `text`, cut at a character boundary to at most `limit` UTF-8 bytes.
    static func cut(_ text: String) -> String {
        guard text.utf8.count > limit else { return text }
        var bytes = 0
        var end = text.startIndex
        for index in text.indices {
            let next = text.index(after: index)
            bytes += text[index..<next].utf8.count
            if bytes > limit { break }
            end = next
        }
        return String(text[..<end])
    }
}
