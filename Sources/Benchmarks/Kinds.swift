import MmStatsCore

/// A 4-word record (count, sum, last, flags), by default in the double-buffer layout.
struct QuadKind: MetricKind {
    var name: String { "bench.quad" }
    var signature: Signature { Signature([.uint64, .uint64, .uint64, .uint64]) }
    var fieldNames: [String] { ["count", "sum", "last", "flags"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// A fresh writer in its own model directory under `root`.
func makeWriter(root: String, model: String, layout: LayoutID = .word) -> StatsWriter {
    var options = WriterOptions(application: "bench", model: model)
    options.root = root
    options.layout = layout
    return must("creating the \(model) writer") { () throws(MmStatsError) in try StatsWriter(options) }
}

/// 64-byte aligned, zeroed private words for the plain-memory baselines.
func makePlainBuffer(words: Int) -> UnsafeMutablePointer<UInt64> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: words * 8, alignment: 64)
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: words * 8)
    return raw.bindMemory(to: UInt64.self, capacity: words)
}
