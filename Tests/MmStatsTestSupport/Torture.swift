import MmStatsCore

/// Four components a, b, c, d written as one record.
public struct QuadKind: MetricKind {
    /// Creates the kind.
    public init() {}
    /// `quad`.
    public var name: String { "quad" }
    /// `QQQQ`.
    public var signature: Signature { Signature([.uint64, .uint64, .uint64, .uint64]) }
    /// `a`, `b`, `c`, `d`.
    public var fieldNames: [String] { ["a", "b", "c", "d"] }
    /// A whole-record layout.
    public var defaultLayout: LayoutID { .doubleBuffer }
}

/// Writers that keep known invariants while updating as fast as they can, one per layout,
/// shared by the writer process and the in-process tests:
///
/// - `word`: a 4-word record in the word layout, each word holding n in both 32-bit halves
///   (a torn word has different halves);
/// - `double-buffer`: a = n, b = 2n, c = 3n, d = n ^ 0x5555…, as one record;
/// - `page-flip`: three counters x, y = 2x, z = 3x, published together.
public enum Torture {
    /// The modes, one per layout.
    public static let modes = ["word", "double-buffer", "page-flip"]

    /// Options for a mode's file under `root`.
    public static func options(mode: String, root: String, application: String = "torture") -> WriterOptions {
        var options = WriterOptions(application: application, model: mode)
        options.root = root
        if mode == "page-flip" { options.layout = .pageFlip }
        return options
    }

    /// Registers the mode's metrics (already consistent, so readers may start at once) and
    /// returns the update to call with n = 1, 2, 3, …
    public static func writer(for mode: String, on stats: StatsWriter) throws -> (UInt64) -> Void {
        switch mode {
        case "word":
            let record = try stats.record("torture.word", kind: QuadKind(), layout: .word)
            return { n in
                let pattern = (n & 0xFFFF_FFFF) << 32 | (n & 0xFFFF_FFFF)
                record.update { w in
                    for i in 0..<4 { w[i] = pattern }
                }
            }
        case "double-buffer":
            let record = try stats.record(
                "torture.quad", kind: QuadKind(), initial: [.uint(0), .uint(0), .uint(0), .uint(0x5555_5555_5555_5555)])
            return { n in
                record.update { w in
                    w[0] = n
                    w[1] = 2 &* n
                    w[2] = 3 &* n
                    w[3] = n ^ 0x5555_5555_5555_5555
                }
            }
        case "page-flip":
            let x = try stats.counter("torture.x")
            let y = try stats.counter("torture.y")
            let z = try stats.counter("torture.z")
            stats.publish()
            return { _ in
                x.increment()
                y.increment(by: 2)
                z.increment(by: 3)
                stats.publish()
            }
        default:
            throw MmStatsError(.invalidArgument, path: nil, "unknown torture mode '\(mode)'")
        }
    }
}
