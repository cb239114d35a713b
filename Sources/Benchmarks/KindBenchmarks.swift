// The simple kinds of the Metrics module: flag, text and moving average, each beside the same
// work done on private memory.
import Metrics
import MmStatsCore

/// Benchmark rows of the simple kinds: bool, text, moving average.
func kindRows(_ plan: Plan, root: String) -> [Row] {
    let writer = makeWriter(root: root, model: "kinds")
    let (flag, text, moving) = must("registering the simple kinds") { () throws(MmStatsError) in
        (
            try writer.flag("bench.flag"), try writer.text("bench.text", capacity: 16),
            try writer.movingAverage("bench.moving", window: 100)
        )
    }
    let plain = makePlainBuffer(words: 256)
    defer { plain.deallocate() }
    let ring = PlainMovingAverage(window: 100)

    let (flagOurs, flagBase) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { setFlag(flag, times: $0) },
        baseline: { storePlain(plain, mask: opaqueMask, times: $0) })
    let (movingOurs, movingBase) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { addMoving(moving, times: $0) },
        baseline: { addPlainMoving(ring, times: $0) })
    let (textOurs, textBase) = compare(
        plan, iterations: plan.nanoIterations / 10,
        mmstats: { setText(text, times: $0) },
        baseline: { copyPlainText(plain, mask: opaqueMask, times: $0) })
    writer.close()
    return [
        Row(
            operation: "`Flag.set(Bool)`, word layout", mmstats: flagOurs, baseline: flagBase,
            baselineName: "`p[i & m] = UInt64(i)` on private memory", target: nil),
        Row(
            operation: "`MovingAverage.add(Double)`, window 100, word layout", mmstats: movingOurs,
            baseline: movingBase,
            baselineName: "the same ring store and count on private memory",
            target: 3),
        Row(
            operation: "`TextGauge.set(String)`, 16 bytes, double buffer", mmstats: textOurs, baseline: textBase,
            baselineName: "copying the same 11 UTF-8 bytes into 2 private words", target: nil),
    ]
}

/// The moving average's work on private memory only: the baseline of its row.
final class PlainMovingAverage {
    let words = makePlainBuffer(words: 128)
    let window: Int
    var cursor = 0
    var count: UInt64 = 0

    init(window: Int) { self.window = window }

    deinit { words.deallocate() }
}

@inline(never)
func setFlag(_ flag: Flag, times n: Int) -> UInt64 {
    for i in 0..<n { flag.set(i & 256 == 0) }  // changes every 256 stores, as a flag does: no alternating branch
    return flag.value ? 1 : 0
}

@inline(never)
func addMoving(_ moving: MovingAverage, times n: Int) -> UInt64 {
    for i in 0..<n { moving.add(Double(i & 1023)) }
    return moving.mean.bitPattern
}

@inline(never)
func addPlainMoving(_ m: PlainMovingAverage, times n: Int) -> UInt64 {
    for i in 0..<n {
        m.words[2 &+ m.cursor] = Double(i & 1023).bitPattern
        m.cursor &+= 1
        if m.cursor == m.window { m.cursor = 0 }
        m.count &+= 1
        m.words[0] = m.count
    }
    return m.words[0]
}

@inline(never)
func setText(_ text: TextGauge, times n: Int) -> UInt64 {
    let values = ["draining", "serving up"]
    for i in 0..<n { text.set(values[i & 1]) }
    return UInt64(text.value.utf8.count)
}

@inline(never)
func copyPlainText(_ plain: UnsafeMutablePointer<UInt64>, mask: Int, times n: Int) -> UInt64 {
    var values = ["draining", "serving up"]
    for i in 0..<n {
        values[i & 1].withUTF8 { bytes in
            var word: UInt64 = 0
            withUnsafeMutableBytes(of: &word) { raw in
                for j in 0..<min(8, bytes.count) { raw[j] = bytes[j] }
            }
            plain[i & mask] = word
        }
    }
    return plain[0]
}
