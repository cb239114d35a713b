// Benchmark 5: snapshots of a 1,000-metric file, and decoding their values.
import MmStatsCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A word-layout file of 400 counters, 400 gauges and 200 four-word double-buffer records.
final class SnapshotFixture {
    let writer: StatsWriter
    let counters: [Counter]
    let gauges: [Gauge]
    let records: [Record]

    init(root: String) {
        writer = makeWriter(root: root, model: "reader-1000")
        let writer = writer
        (counters, gauges, records) = must("registering 1,000 metrics") { () throws(MmStatsError) in
            (
                try (0..<400).map { i throws(MmStatsError) in
                    try writer.counter("bench.requests", dimensions: ["n": "\(i)"])
                },
                try (0..<400).map { i throws(MmStatsError) in try writer.gauge("bench.depth", dimensions: ["n": "\(i)"])
                },
                try (0..<200).map { i throws(MmStatsError) in
                    try writer.record(
                        "bench.timing", kind: QuadKind(), dimensions: ["n": "\(i)"], layout: .doubleBuffer)
                }
            )
        }
        for (i, counter) in counters.enumerated() { counter.increment(by: UInt64(i)) }
        for (i, gauge) in gauges.enumerated() { gauge.set(Int64(-i)) }
        for (i, record) in records.enumerated() {
            record.update { w in
                w[0] = 1
                w[1] = UInt64(i)
                w[2] = UInt64(i)
                w[3] = 0xFF
            }
        }
    }
}

/// Where one record's words are: the least a reader must know to copy the values.
struct RawRecord {
    let offset: Int
    let words: Int
    let doubleBuffer: Bool
    let outputIndex: Int
}

/// The baseline reader: the file mapped read-only, values copied by a fixed plan into a
/// preallocated buffer with the layouts' read protocols; no validation, no allocation.
final class RawReader {
    let base: UnsafeMutableRawPointer
    let size: Int
    let records: [RawRecord]
    let output: UnsafeMutablePointer<UInt64>
    let totalWords: Int

    init(path: String, descriptors: [MetricDescriptor]) {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0, "cannot open \(path)")
        var info = stat()
        precondition(fstat(fd, &info) == 0, "cannot stat \(path)")
        size = Int(info.st_size)
        let mapped = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0)
        close(fd)
        guard let mapped, mapped != MAP_FAILED else { fatalError("cannot map \(path)") }
        base = mapped
        var records: [RawRecord] = []
        var total = 0
        for descriptor in descriptors {
            let words = descriptor.signature.words
            records.append(
                RawRecord(
                    offset: descriptor.valueOffset, words: words, doubleBuffer: descriptor.layout == .doubleBuffer,
                    outputIndex: total))
            total += words
        }
        self.records = records
        totalWords = total
        output = makePlainBuffer(words: total)
    }

    deinit {
        munmap(base, size)
        output.deallocate()
    }

    @inline(__always)
    func word(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// One pass over every record (docs/FORMAT.md §5.1 and §5.2); returns the first word.
    func read() -> UInt64 {
        for record in records {
            let out = output + record.outputIndex
            if record.doubleBuffer {
                let seq = word(record.offset)
                while true {
                    let s1 = seq.pointee.load(ordering: .acquiring)
                    let copy = seq + 1 + Int(s1 & 1) * record.words
                    for i in 0..<record.words { out[i] = copy[i].load(ordering: .relaxed) }
                    atomicMemoryFence(ordering: .acquiring)
                    if seq.pointee.load(ordering: .relaxed) == s1 { break }
                }
            } else {
                let source = word(record.offset)
                for i in 0..<record.words { out[i] = source[i].load(ordering: .relaxed) }
            }
        }
        return output[0]
    }
}

@inline(never)
func snapshotRepeatedly(_ reader: StatsReader, times n: Int) -> UInt64 {
    var total: UInt64 = 0
    for _ in 0..<n {
        let snapshot = must("snapshot") { () throws(MmStatsError) in try reader.snapshot() }
        total &+= snapshot.generation &+ UInt64(snapshot.count)
    }
    return total
}

@inline(never)
func rawReadRepeatedly(_ reader: RawReader, times n: Int) -> UInt64 {
    var total: UInt64 = 0
    for _ in 0..<n { total &+= reader.read() }
    return total
}

/// A value folded into a word, so that decoding it cannot be skipped.
@inline(__always)
func fold(_ value: Value) -> UInt64 {
    switch value {
    case .uint(let v): v
    case .int(let v): UInt64(bitPattern: v)
    case .double(let v): v.bitPattern
    case .bool(let v): v ? 1 : 0
    case .string(let v): UInt64(v.utf8.count)
    }
}

/// Decodes every metric of `snapshot` with `sample(at:)`, `n` times.
@inline(never)
func sampleAll(_ snapshot: Snapshot, times n: Int) -> UInt64 {
    var total: UInt64 = 0
    for _ in 0..<n {
        for index in 0..<snapshot.count {
            for field in snapshot.sample(at: index).fields { total &+= fold(field.value) }
        }
    }
    return total
}

/// The baseline decoder: the same typed decode (`Value.decode` per component) of the raw
/// reader's words, without building per-metric arrays or samples.
@inline(never)
func decodeAll(_ reader: RawReader, _ signatures: [Signature], times n: Int) -> UInt64 {
    var total: UInt64 = 0
    for _ in 0..<n {
        for (record, signature) in zip(reader.records, signatures) {
            for (i, component) in signature.components.enumerated() {
                let start = reader.output + record.outputIndex + signature.slotOffsets[i]
                let slot = UnsafeBufferPointer(start: start, count: component.slotWords)
                total &+= fold(Value.decode(component, words: slot))
            }
        }
    }
    return total
}

func readerRows(_ plan: Plan, root: String) -> [Row] {
    let fixture = SnapshotFixture(root: root)
    let reader = must("opening the reader") { () throws(MmStatsError) in try StatsReader(path: fixture.writer.path) }
    let first = must("first snapshot") { () throws(MmStatsError) in try reader.snapshot() }
    precondition(first.count == 1000, "expected 1,000 metrics, found \(first.count)")
    let descriptors = first.metrics.map(\.descriptor)
    let raw = RawReader(path: fixture.writer.path, descriptors: descriptors)
    _ = raw.read()
    let signatures = descriptors.map(\.signature)

    let (snapshots, rawReads) = compare(
        plan, iterations: plan.microIterations,
        mmstats: { snapshotRepeatedly(reader, times: $0) },
        baseline: { rawReadRepeatedly(raw, times: $0) })
    let (samples, decodes) = compare(
        plan, iterations: plan.milliIterations,
        mmstats: { sampleAll(first, times: $0) },
        baseline: { decodeAll(raw, signatures, times: $0) })
    fixture.writer.close()
    return [
        Row(
            operation:
                "`StatsReader.snapshot()`, 1,000 metrics (400 counters, 400 gauges, 200 × 4-word double buffers)",
            mmstats: snapshots, baseline: rawReads,
            baselineName:
                "the same values copied from a private read-only mapping by a precomputed plan (relaxed loads; seqlock for double buffers; no validation, no allocation)",
            target: 20_000),
        Row(
            operation: "`snapshot.sample(at:)` for all 1,000 metrics (decode, per snapshot)",
            mmstats: samples, baseline: decodes,
            baselineName:
                "`Value.decode` of every component of the baseline reader's words, without building samples or arrays",
            target: nil),
    ]
}
