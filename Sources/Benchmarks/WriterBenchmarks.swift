// Benchmarks 1–4 and 6: the writer's hot paths against plain-memory baselines.
import MmStatsCore

/// Writers and baseline buffers shared by the writer benchmarks.
final class WriterFixture {
    let words: StatsWriter
    let flip: StatsWriter
    let counter: Counter
    let gauge: Gauge
    let doubleGauge: DoubleGauge
    let quadDoubleBuffer: Record
    let quadWord: Record
    let flipCounters: [Counter]
    let plain = makePlainBuffer(words: 2048)
    let plainCopy = makePlainBuffer(words: 2048)

    init(root: String) {
        words = makeWriter(root: root, model: "writer-word")
        flip = makeWriter(root: root, model: "writer-pageflip", layout: .pageFlip)
        let words = words
        let flip = flip
        (counter, gauge, doubleGauge, quadDoubleBuffer, quadWord) = must("registering word-file metrics") {
            () throws(MmStatsError) in
            (
                try words.counter("bench.counter"), try words.gauge("bench.gauge"),
                try words.doubleGauge("bench.double_gauge"),
                try words.record("bench.quad.double_buffer", kind: QuadKind(), layout: .doubleBuffer),
                try words.record("bench.quad.word", kind: QuadKind(), layout: .word)
            )
        }
        flipCounters = must("registering 1,000 page-flip counters") { () throws(MmStatsError) in
            try (0..<1000).map { i throws(MmStatsError) in try flip.counter("bench.flip.c\(i)") }
        }
        for counter in flipCounters { counter.increment() }
    }

    deinit {
        plain.deallocate()
        plainCopy.deallocate()
    }
}

func benchCounter(_ plan: Plan, _ f: WriterFixture) -> Row {
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { incrementCounter(f.counter, times: $0) },
        baseline: { incrementPlain(f.plain, mask: opaqueMask, times: $0) })
    return Row(
        operation: "`Counter.increment()`, word layout", mmstats: ours, baseline: base,
        baselineName: "`p[i & m] &+= 1` on a private `UnsafeMutablePointer<UInt64>` (m = 0, opaque to the optimizer)",
        target: 0.5)
}

func benchGauge(_ plan: Plan, _ f: WriterFixture) -> Row {
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { setGauge(f.gauge, times: $0) },
        baseline: { storePlain(f.plain, mask: opaqueMask, times: $0) })
    return Row(
        operation: "`Gauge.set(Int64)`, word layout", mmstats: ours, baseline: base,
        baselineName: "`p[i & m] = UInt64(i)` on private memory", target: 0.5)
}

func benchDoubleGauge(_ plan: Plan, _ f: WriterFixture) -> Row {
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { setDoubleGauge(f.doubleGauge, times: $0) },
        baseline: { storePlainDouble(f.plain, mask: opaqueMask, times: $0) })
    return Row(
        operation: "`DoubleGauge.set(Double)`, word layout", mmstats: ours, baseline: base,
        baselineName: "`p[i & m] = Double(i).bitPattern` on private memory", target: 0.5)
}

func benchFlipCounter(_ plan: Plan, _ f: WriterFixture) -> Row {
    let counter = f.flipCounters[0]
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { incrementCounter(counter, times: $0) },
        baseline: { incrementPlain(f.plain, mask: opaqueMask, times: $0) })
    return Row(
        operation: "`Counter.increment()`, page-flip file (private working page)", mmstats: ours, baseline: base,
        baselineName: "`p[i & m] &+= 1` on private memory (as 1)", target: 0.5)
}

func benchPublish(_ plan: Plan, _ f: WriterFixture) -> Row {
    let (ours, base) = compare(
        plan, iterations: plan.microIterations,
        mmstats: { publishRepeatedly(f.flip, times: $0) },
        baseline: { copyPlain(from: f.plain, to: f.plainCopy, count: 1000, times: $0) })
    return Row(
        operation: "`StatsWriter.publish()`, page-flip file, 1,000 counters", mmstats: ours, baseline: base,
        baselineName: "memcpy of 1,000 words between private buffers plus one store of a sequence word",
        target: 5000)
}

func benchRecordDoubleBuffer(_ plan: Plan, _ f: WriterFixture) -> Row {
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { updateRecord(f.quadDoubleBuffer, times: $0) },
        baseline: { updatePlainQuad(f.plain, mask: opaqueMask, times: $0) })
    return Row(
        operation: "`Record.update`, 4 × UInt64, double-buffer layout", mmstats: ours, baseline: base,
        baselineName:
            "the same 4-word change (`+= 1`, `+= v`, `= v`, `= v ^ 0xFF`) with plain stores to private memory",
        target: 5)
}

func benchRecordWord(_ plan: Plan, _ f: WriterFixture) -> Row {
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { updateRecord(f.quadWord, times: $0) },
        baseline: { updatePlainQuad(f.plain, mask: opaqueMask, times: $0) })
    return Row(
        operation: "`Record.update`, 4 × UInt64, word layout", mmstats: ours, baseline: base,
        baselineName: "the same 4-word change with plain stores (as the previous row)", target: nil)
}

func benchAtomicAdd(_ plan: Plan, _ f: WriterFixture) -> Row {
    let word = AtomicWord()
    let (ours, base) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { incrementCounter(f.counter, times: $0) },
        baseline: { atomicAdd(word, times: $0) })
    return Row(
        operation: "`Counter.increment()` vs. an atomic read-modify-write (reference)", mmstats: ours, baseline: base,
        baselineName:
            "`Atomic<UInt64>.wrappingAdd(1, ordering: .relaxed)`, single thread (a `lock xadd`; what a counter would cost if it used a read-modify-write)",
        target: nil)
}

func writerRows(_ plan: Plan, root: String) -> [Row] {
    let fixture = WriterFixture(root: root)
    let rows = [
        benchCounter(plan, fixture),
        benchGauge(plan, fixture),
        benchDoubleGauge(plan, fixture),
        benchFlipCounter(plan, fixture),
        benchPublish(plan, fixture),
        benchRecordDoubleBuffer(plan, fixture),
        benchRecordWord(plan, fixture),
        benchAtomicAdd(plan, fixture),
    ]
    fixture.words.close()
    fixture.flip.close()
    return rows
}
