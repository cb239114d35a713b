// Diagnostics: not targets, but measurements that locate a cost inside the library.
//
// 1. `Record` embeds its whole `MetricDescriptor` (five strings and four arrays) next to its
// writer reference. When a `Record` is a `var` property of a class, calling `update` (whose
// body is a closure that could reach the property) makes Swift copy the `Record` first,
// through its value witness: every heap reference in it is retained and released on every
// update.
//
// 2. `Record.update` in the double-buffer layout inlines into the caller, but its layout test
// `layout == LayoutID.doubleBuffer.rawValue` reads a `public static let` of another module,
// which compiles to a call of the global's addressor (`LayoutID.doubleBuffer.unsafeMutableAddressor`)
// on every update. These two replicas of `Record.commit` (docs/FORMAT.md §5.2, same stores,
// same fences, on private memory) differ only in that test.
import MmStatsCore
import Synchronization

/// The fields `Record` keeps, with its commit copied verbatim but for the layout test.
struct LatchReplica {
    let shadow: UnsafeMutablePointer<UInt64>
    let target: UnsafeMutablePointer<Atomic<UInt64>>?
    let words: Int
    let layout: UInt16

    @inline(__always)
    func commit(doubleBuffer: Bool) {
        guard let target else { return }
        if doubleBuffer {
            let sequence = target.pointee.load(ordering: .relaxed)
            target.pointee.store(sequence &+ 1, ordering: .releasing)
            atomicMemoryFence(ordering: .releasing)
            let copy0 = target + 1
            for i in 0..<words { copy0[i].store(shadow[i], ordering: .relaxed) }
            target.pointee.store(sequence &+ 2, ordering: .releasing)
            atomicMemoryFence(ordering: .releasing)
            let copy1 = target + 1 + words
            for i in 0..<words { copy1[i].store(shadow[i], ordering: .relaxed) }
        } else {
            for i in 0..<words { target[i].store(shadow[i], ordering: .relaxed) }
        }
    }

    @inline(__always)
    func change(_ v: UInt64) {
        shadow[0] &+= 1
        shadow[1] &+= v
        shadow[2] = v
        shadow[3] = v ^ 0xFF
    }
}

/// The layout test as the library writes it: `layout == LayoutID.doubleBuffer.rawValue`.
@inline(never)
func latchWithAddressor(_ record: LatchReplica, times n: Int) -> UInt64 {
    for i in 0..<n {
        record.change(UInt64(truncatingIfNeeded: i))
        record.commit(doubleBuffer: record.layout == LayoutID.doubleBuffer.rawValue)
    }
    return record.shadow[0]
}

/// The layout test against the constant 2 (the format's number for the double buffer).
@inline(never)
func latchWithConstant(_ record: LatchReplica, times n: Int) -> UInt64 {
    for i in 0..<n {
        record.change(UInt64(truncatingIfNeeded: i))
        record.commit(doubleBuffer: record.layout == 2)
    }
    return record.shadow[0]
}

/// A handle kept the way applications keep them: as a property of a long-lived object.
final class RecordInVar {
    var record: Record
    init(_ record: Record) { self.record = record }
}

final class RecordInLet {
    let record: Record
    init(_ record: Record) { self.record = record }
}

@inline(never)
func updateThroughVar(_ holder: RecordInVar, times n: Int) -> UInt64 {
    for i in 0..<n {
        let v = UInt64(truncatingIfNeeded: i)
        holder.record.update { w in
            w[0] &+= 1
            w[1] &+= v
            w[2] = v
            w[3] = v ^ 0xFF
        }
    }
    return holder.record.currentWords[0]
}

@inline(never)
func updateThroughLet(_ holder: RecordInLet, times n: Int) -> UInt64 {
    for i in 0..<n {
        let v = UInt64(truncatingIfNeeded: i)
        holder.record.update { w in
            w[0] &+= 1
            w[1] &+= v
            w[2] = v
            w[3] = v ^ 0xFF
        }
    }
    return holder.record.currentWords[0]
}

func diagnosticRows(_ plan: Plan, root: String) -> [Row] {
    let writer = makeWriter(root: root, model: "diagnostics")
    let record = must("registering the diagnostic record") { () throws(MmStatsError) in
        try writer.record("bench.held", kind: QuadKind(), layout: .doubleBuffer)
    }
    defer { writer.close() }
    let inVar = RecordInVar(record)
    let inLet = RecordInLet(record)
    let (throughVar, throughLet) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { updateThroughVar(inVar, times: $0) },
        baseline: { updateThroughLet(inLet, times: $0) })

    let shadow = makePlainBuffer(words: 8)
    let file = makePlainBuffer(words: 16)
    defer {
        shadow.deallocate()
        file.deallocate()
    }
    let replica = LatchReplica(
        shadow: shadow, target: UnsafeMutableRawPointer(file).assumingMemoryBound(to: Atomic<UInt64>.self), words: 4,
        layout: LayoutID.doubleBuffer.rawValue)
    let (addressor, constant) = compare(
        plan, iterations: plan.nanoIterations,
        mmstats: { latchWithAddressor(replica, times: $0) },
        baseline: { latchWithConstant(replica, times: $0) })
    return [
        Row(
            operation: "`Record.update`, 4 × UInt64, double buffer, handle in a `var` property of a class",
            mmstats: throughVar, baseline: throughLet,
            baselineName: "the same update through a `let` property of a class (no copy of the `Record`)", target: nil),
        Row(
            operation:
                "replica of `Record.update` (4 words, double buffer) on private memory, layout tested against `LayoutID.doubleBuffer.rawValue`",
            mmstats: addressor, baseline: constant,
            baselineName:
                "the same replica with the layout tested against the constant 2 (no cross-module addressor call)",
            target: nil),
    ]
}
